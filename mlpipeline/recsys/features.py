"""Candidates and ranking features for one daily run: pure functions on an events frame.

Time protocol (nothing from a later day reaches an earlier day's features):

    run for day D (the newest landed partition)
      training    features from events in [D-1-H, D-1), labels from day D-1
      evaluation  features from events in [D-H, D),     labels from day D (held out)

H is ``features.history_days``. The candidate model learns "yesterday's history -> today's
interactions" one day back, and is judged, against production, on the newest day, which no
model has seen: production was trained in an earlier run on days before D, the candidate on
labels of D-1. Early stopping uses a validation slice of the training day: a fixed hash of the
user id (``features.validation_percent``) puts each user in the slice or not, every day the
same way, so no user appears in both the training and the validation groups.

Who is ranked: users active on the label day who have history in the window (cold users are
served by popularity whatever the model; comparing models on them measures nothing).

Candidates per user (the union, de-duplicated): the user's own recent items, the items that
co-occur most with them (users who touched A also touched B, within the window), and the most
popular items. Features per (user, item): the user's profile (activity by event type, distinct
items, days active, hours since last event), the item's popularity and recency (weighted
interactions in the window and in its last day, distinct users, hours since first and last
seen, purchase rate), and user-item affinity (the user's own weight on the item, hours since,
co-occurrence score, which sources proposed it).

Labels are graded by the strongest event of the day for the pair: 0 none, 1 view, 2 click,
3 purchase. ``n_relevant`` is the user's count of distinct items that day, candidates or not:
recall's denominator, so candidate generation counts against both models alike.

A "day" is the day an event landed (its partition), not its timestamp: a late event that
happened on D-1 but arrived with D's partition was not known at the start of D, so it belongs
to D. Recency features use the timestamps.

Events frame: ``user_id``, ``item_id`` (integers), ``ts`` (timestamps), ``event`` or
``event_type`` (view, click, purchase), optional ``day`` (the partition's date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mlpipeline.errors import DataError

GRADES = {"view": 1, "click": 2, "purchase": 3}
FEATURES = [
    "u_events",
    "u_clicks",
    "u_purchases",
    "u_items",
    "u_days_active",
    "u_hours_since",
    "i_weight",
    "i_weight_last_day",
    "i_users",
    "i_hours_since_first",
    "i_hours_since_last",
    "i_purchase_rate",
    "ui_weight",
    "ui_hours_since",
    "cooc_score",
    "src_own",
    "src_cooc",
    "src_popular",
]
NEVER = 1e6  # "hours since" for a pair that never happened: far beyond any window


@dataclass(frozen=True)
class CandidateSizes:
    own: int = 10  # most recent distinct items of the user
    cooc: int = 20  # co-occurrence neighbours of those items
    popular: int = 20
    neighbours_per_item: int = 20


def _day_start(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day))


def _window(events: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Events that landed on days [start, end): what the system knew at the start of `end`."""
    landed = events["day"]
    return events[(landed >= _day_start(start)) & (landed < _day_start(end))]


def normalise(events: pd.DataFrame) -> pd.DataFrame:
    """The columns the features use: ids, naive-UTC timestamps, the grade of each event, and
    the ``day`` it landed (the partition's date if given, else the timestamp's)."""
    events = events.rename(columns={"event_type": "event"})
    missing = {"user_id", "item_id", "ts", "event"} - set(events.columns)
    if missing:
        raise DataError(f"events lack column(s) {sorted(missing)}", where="build_features")
    out = events[["user_id", "item_id", "ts", "event"]].copy()
    ts = pd.to_datetime(out["ts"])
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    out["ts"] = ts.astype("datetime64[us]")
    landed = events["day"] if "day" in events.columns else out["ts"]
    out["day"] = pd.to_datetime(landed).dt.normalize().astype("datetime64[us]")
    out["grade"] = out["event"].astype(str).map(GRADES)
    unknown = out["grade"].isna()
    if unknown.any():
        kinds = sorted(out.loc[unknown, "event"].astype(str).unique())[:5]
        raise DataError(
            f"unknown event type(s) {kinds}; known: {list(GRADES)}", where="build_features"
        )
    out["grade"] = out["grade"].astype(np.int64)
    return out


def _hours(cutoff: pd.Timestamp, ts: pd.Series) -> pd.Series:
    return (cutoff - ts).dt.total_seconds() / 3600.0


def candidates(history: pd.DataFrame, users: np.ndarray, sizes: CandidateSizes) -> pd.DataFrame:
    """(user_id, item_id, cooc_score, src_own, src_cooc, src_popular) for `users`."""
    # Each user's most recent distinct items: their own candidates, and the seeds of the
    # co-occurrence join (at most `own` items per user, which bounds the self-join).
    recent = (
        history.groupby(["user_id", "item_id"], as_index=False)["ts"]
        .max()
        .sort_values(["user_id", "ts", "item_id"], ascending=[True, False, True])
    )
    recent = recent[recent.groupby("user_id").cumcount() < sizes.own][["user_id", "item_id"]]
    own = recent[recent["user_id"].isin(users)]

    # Co-occurrence within the window: pairs of distinct items a user touched, counted once
    # per user.
    pairs = recent.merge(recent, on="user_id", suffixes=("", "_b"))
    pairs = pairs[pairs["item_id"] != pairs["item_id_b"]]
    cooc = pairs.groupby(["item_id", "item_id_b"], as_index=False).size()
    cooc = cooc.sort_values(["item_id", "size", "item_id_b"], ascending=[True, False, True])
    cooc = cooc[cooc.groupby("item_id").cumcount() < sizes.neighbours_per_item]
    near = own.merge(cooc, on="item_id")
    near = near.groupby(["user_id", "item_id_b"], as_index=False)["size"].sum()
    near = near.rename(columns={"item_id_b": "item_id", "size": "cooc_score"})
    near = near.sort_values(["user_id", "cooc_score", "item_id"], ascending=[True, False, True])
    near_top = near[near.groupby("user_id").cumcount() < sizes.cooc]

    weight = history.groupby("item_id")["grade"].sum()
    top_items = weight.sort_values(ascending=False, kind="stable").head(sizes.popular).index
    popular = pd.DataFrame(
        {
            "user_id": np.repeat(users, len(top_items)),
            "item_id": np.tile(top_items.to_numpy(), len(users)),
        }
    )
    frames = [
        own.assign(src_own=1),
        near_top[["user_id", "item_id"]].assign(src_cooc=1),
        popular.assign(src_popular=1),
    ]
    cand = pd.concat(frames, ignore_index=True)
    cand = cand.groupby(["user_id", "item_id"], as_index=False)[
        ["src_own", "src_cooc", "src_popular"]
    ].max()
    cand[["src_own", "src_cooc", "src_popular"]] = (
        cand[["src_own", "src_cooc", "src_popular"]].fillna(0).astype(np.int8)
    )
    # Every candidate's co-occurrence score, whichever source proposed it.
    cand = cand.merge(near, on=["user_id", "item_id"], how="left")
    cand["cooc_score"] = cand["cooc_score"].fillna(0).astype(np.float64)
    return cand


def ranking_frame(
    events: pd.DataFrame, label_day: date, history_days: int, sizes: CandidateSizes
) -> tuple[pd.DataFrame, int]:
    """Candidates with features and labels of `label_day`, from the `history_days` before it.

    Returns the frame and the catalogue size (items seen in the window: coverage's denominator).
    """
    cutoff = _day_start(label_day)
    history = _window(events, label_day - timedelta(days=history_days), label_day)
    today = _window(events, label_day, label_day + timedelta(days=1))
    if history.empty:
        raise DataError(
            f"no events in the {history_days} day(s) before {label_day}: no history to build "
            "features from (a run on day D needs days D-1-H .. D; see features.history_days)",
            where="build_features",
        )
    if today.empty:
        raise DataError(f"no events on {label_day}: nothing to label", where="build_features")
    users = np.intersect1d(today["user_id"].unique(), history["user_id"].unique())
    if len(users) == 0:
        raise DataError(
            f"no user active on {label_day} has history before it", where="build_features"
        )
    cand = candidates(history, users, sizes)

    h = history.assign(
        is_view=history["grade"] == 1,
        is_click=history["grade"] == 2,
        is_purchase=history["grade"] == 3,
    )
    user = h.groupby("user_id").agg(
        u_events=("grade", "size"),
        u_clicks=("is_click", "sum"),
        u_purchases=("is_purchase", "sum"),
        u_items=("item_id", "nunique"),
        u_days_active=("day", "nunique"),
        u_last=("ts", "max"),
    )
    user["u_hours_since"] = _hours(cutoff, user.pop("u_last"))
    last_day = h[h["day"] >= cutoff - pd.Timedelta(days=1)]
    item = h.groupby("item_id").agg(
        i_weight=("grade", "sum"),
        i_users=("user_id", "nunique"),
        i_first=("ts", "min"),
        i_last=("ts", "max"),
        i_views=("is_view", "sum"),
        i_purchases=("is_purchase", "sum"),
    )
    item["i_weight_last_day"] = last_day.groupby("item_id")["grade"].sum()
    item["i_hours_since_first"] = _hours(cutoff, item.pop("i_first"))
    item["i_hours_since_last"] = _hours(cutoff, item.pop("i_last"))
    item["i_purchase_rate"] = item.pop("i_purchases") / item.pop("i_views").clip(lower=1)
    pair = h.groupby(["user_id", "item_id"]).agg(ui_weight=("grade", "sum"), ui_last=("ts", "max"))
    pair["ui_hours_since"] = _hours(cutoff, pair.pop("ui_last"))

    frame = cand.join(user, on="user_id").join(item, on="item_id")
    frame = frame.join(pair, on=["user_id", "item_id"])
    labels = today.groupby(["user_id", "item_id"])["grade"].max().rename("label")
    frame = frame.join(labels, on=["user_id", "item_id"])
    frame["n_relevant"] = frame["user_id"].map(today.groupby("user_id")["item_id"].nunique())
    fill = {"i_weight_last_day": 0, "ui_weight": 0, "ui_hours_since": NEVER, "label": 0}
    frame = frame.fillna(fill)
    frame[FEATURES] = frame[FEATURES].astype(np.float64)
    frame[["label", "n_relevant"]] = frame[["label", "n_relevant"]].astype(np.int64)
    frame = frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    return frame[["user_id", "item_id", *FEATURES, "label", "n_relevant"]], int(
        h["item_id"].nunique()
    )


def validation_users(user_ids: pd.Series, percent: int, seed: int) -> pd.Series:
    """True for the users in the validation slice: a fixed hash, the same every day."""
    salted = pd.util.hash_array(user_ids.to_numpy(dtype=np.int64) ^ np.int64(seed))
    return pd.Series((salted % 100) < percent, index=user_ids.index)


def build(
    events: pd.DataFrame,
    day: date,
    *,
    history_days: int,
    validation_percent: int,
    seed: int,
    sizes: CandidateSizes,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The training frame (with a ``valid`` column) and the evaluation frame for a run on `day`.

    See the module docstring for the time protocol.
    """
    events = normalise(events)
    train_day = day - timedelta(days=1)
    train, _ = ranking_frame(events, train_day, history_days, sizes)
    train["valid"] = validation_users(train["user_id"], validation_percent, seed)
    evaluation, n_items = ranking_frame(events, day, history_days, sizes)
    info = {
        "run_day": day.isoformat(),
        "train": {
            "label_day": train_day.isoformat(),
            "history": [
                (train_day - timedelta(days=history_days)).isoformat(),
                train_day.isoformat(),
            ],
            "rows": int(len(train)),
            "users": int(train["user_id"].nunique()),
            "valid_users": int(train.loc[train["valid"], "user_id"].nunique()),
            "positive_rate": float((train["label"] > 0).mean()),
        },
        "evaluation": {
            "label_day": day.isoformat(),
            "history": [(day - timedelta(days=history_days)).isoformat(), day.isoformat()],
            "rows": int(len(evaluation)),
            "users": int(evaluation["user_id"].nunique()),
            "positive_rate": float((evaluation["label"] > 0).mean()),
            "catalogue_items": n_items,
        },
        "features": FEATURES,
    }
    return train, evaluation, info
