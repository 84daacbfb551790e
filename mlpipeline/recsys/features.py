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

Events frame: ``user_id``, ``item_id`` (integers), ``ts`` (timestamps), the event type as
``event`` or ``event_type`` (view, click, purchase) or already as ``grade`` (1, 2, 3), optional
``day`` (the partition's date).

How it is computed (a 1M-event day means a nine-day window of 9M events): the events become
parallel numpy arrays once (`Events`: user and item ids as dense int32 codes in id order, times
as int64 microseconds, grades as int8, rows grouped by day so that a window is a slice, never a
copy), and every aggregate is a sort or a ``bincount`` on one int64 key (``user * n_items +
item``) instead of a multi-column pandas groupby or merge. Codes keep the ids' order, so every
tie is broken by id exactly as before; the frames are the same to the bit as the pandas
version's (pinned by the day-8 model digest in ``tests/recsys/test_model_pipeline.py``), except
that feature columns are float32, the precision XGBoost reads them in (the same model bytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
# Users (by code: a contiguous range of ids) per shard of the candidate frames. At 1M events a
# day (200k users) one shard: the single pass; at 10M (2M users) eight of about 6M rows each,
# so `build_features` holds one shard's candidates at a time, not a day's 49M rows.
SHARD_USERS = 250_000
NEIGHBOUR_ROWS = 1 << 22  # co-occurrence pairs ranked at a time (whole items: `neighbours`)


@dataclass(frozen=True)
class CandidateSizes:
    own: int = 10  # most recent distinct items of the user
    cooc: int = 20  # co-occurrence neighbours of those items
    popular: int = 20
    neighbours_per_item: int = 20


@dataclass(frozen=True)
class Events:
    """Events as parallel arrays, sorted by the day they landed (a window is a slice)."""

    user: np.ndarray  # int32 code: index into `user_ids` (sorted, so codes keep the ids' order)
    item: np.ndarray  # int32 code: index into `item_ids`
    ts: np.ndarray  # int64 microseconds since 1970 (naive UTC)
    grade: np.ndarray  # int8: 1 view, 2 click, 3 purchase
    day: np.ndarray  # int32 days since 1970 (landing day), non-decreasing
    user_ids: np.ndarray  # int64
    item_ids: np.ndarray  # int64

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def days(self, start: date, end: date) -> slice:
        """Rows of the events that landed on days [start, end)."""
        lo, hi = np.searchsorted(self.day, [_day_number(start), _day_number(end)])
        return slice(int(lo), int(hi))


def _day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _day_start(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day))


def normalise(events: pd.DataFrame | list[pd.DataFrame]) -> Events:
    """The arrays the features use: id codes, naive-UTC microseconds, the grade of each event
    and the day it landed (the partition's date if given, else the timestamp's).

    A list of frames (one per landed day, say) is emptied as it is read: each frame is freed
    once its columns are taken, and each day's int64 ids once they are coded, so a 10M-event
    day's nine-day window (90M events) never exists twice (it held the frames, their
    concatenation and its copies at once: about 9 GB)."""
    parts = events if isinstance(events, list) else [events]
    lean = []
    while parts:
        lean.append(_columns(parts.pop(0)))
    # Codes in id order, as ``pd.factorize(sort=True)`` numbers them: a sorted id's position.
    # Hashing (`pd.unique`, `get_indexer`) measured several times cheaper than `np.unique`.
    user_ids, item_ids = (_sorted_ids([p[c] for p in lean]) for c in (0, 1))
    n = sum(len(p[0]) for p in lean)
    user, item = np.empty(n, np.int32), np.empty(n, np.int32)
    ts, grade, day = np.empty(n, np.int64), np.empty(n, np.int8), np.empty(n, np.int32)
    at = 0
    while lean:
        u, i, t, g, d = lean.pop(0)
        rows = slice(at, at + len(u))
        user[rows], item[rows] = user_ids.get_indexer(u), item_ids.get_indexer(i)
        ts[rows], grade[rows], day[rows] = t, g, d
        at += len(u)
        del u, i, t, g, d
    if not (np.diff(day) >= 0).all():
        order = np.argsort(day, kind="stable")
        user, item, ts, grade, day = (a[order] for a in (user, item, ts, grade, day))
    ids = user_ids.to_numpy(np.int64), item_ids.to_numpy(np.int64)
    return Events(user, item, ts, grade, day, *ids)


def _sorted_ids(parts: list[np.ndarray]) -> pd.Index:
    return pd.Index(np.sort(pd.unique(np.concatenate([pd.unique(p) for p in parts]))))


def _columns(events: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """One frame's user ids, item ids, microseconds, grades and landing days, checked."""
    events = events.rename(columns={"event_type": "event"})
    kind = "grade" if "grade" in events.columns else "event"
    missing = {"user_id", "item_id", "ts", kind} - set(events.columns)
    if missing:
        raise DataError(f"events lack column(s) {sorted(missing)}", where="build_features")
    ts = pd.to_datetime(events["ts"])
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    ts_us = ts.to_numpy().astype("datetime64[us]").view(np.int64)
    if "day" in events.columns:
        landed = pd.to_datetime(events["day"]).to_numpy().astype("datetime64[D]")
    else:
        landed = ts_us.view("datetime64[us]").astype("datetime64[D]")
    day = landed.view(np.int64).astype(np.int32)
    if kind == "grade":
        grade = events["grade"].to_numpy()
        unknown = ~np.isin(grade, list(GRADES.values()))
    else:
        grade = events["event"].astype(str).map(GRADES).to_numpy()
        unknown = pd.isna(grade)
    if unknown.any():
        kinds = sorted(events.loc[unknown, kind].astype(str).unique())[:5]
        raise DataError(
            f"unknown event type(s) {kinds}; known: {list(GRADES)}", where="build_features"
        )
    return (
        events["user_id"].to_numpy(np.int64),
        events["item_id"].to_numpy(np.int64),
        ts_us,
        grade.astype(np.int8),
        day,
    )


def _hours(cutoff_us: int, ts: np.ndarray) -> np.ndarray:
    """Hours from `ts` to the cutoff, as pandas' ``Series.dt.total_seconds() / 3600`` computes
    them (whole seconds plus the remainder: the same floats to the last bit)."""
    seconds, rest = np.divmod(cutoff_us - ts, 1_000_000)
    return (seconds + rest / 1e6) / 3600.0


def _groups(sorted_keys: np.ndarray) -> np.ndarray:
    """Start of each run of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))


def rank_in_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal values of `group` (already grouped)."""
    starts = _groups(group)
    first = np.zeros(len(group), np.int64)
    first[starts] = starts
    return np.arange(len(group)) - np.maximum.accumulate(first)


def _by_group_desc(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Row order by `group` ascending, then `value` descending, ties in row order.

    One stable sort on a packed int64 key when it fits (8x faster than ``np.lexsort`` on 10M
    rows, measured), else lexsort.
    """
    if len(value) == 0:
        return np.zeros(0, np.int64)
    lo, hi = int(value.min()), int(value.max())
    span = hi - lo + 1
    if (int(group.max()) + 1) * span < 2**62:
        key = group.astype(np.int64) * span + (hi - value.astype(np.int64))
        return np.argsort(key, kind="stable")
    return np.lexsort((-value, group))


def _sort_pairs(key: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`key` sorted, `value` along (non-negative ints): one sort of ``key * span + value`` when
    that fits in int64, else an argsort and two gathers."""
    span = int(value.max()) + 1 if len(value) else 1
    if len(key) and (int(key.max()) + 1) * span < 2**62:
        packed = key * span + value
        packed.sort()  # in place: one array of the pairs' length less at the peak
        return np.divmod(packed, span)
    order = np.argsort(key)
    return key[order], value[order]


def _lookup(keys: np.ndarray, table_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `keys` in the sorted `table_keys`, and whether each was found."""
    pos = np.searchsorted(table_keys, keys)
    pos = np.minimum(pos, max(len(table_keys) - 1, 0))
    found = table_keys[pos] == keys if len(table_keys) else np.zeros(len(keys), bool)
    return pos, found


@dataclass(frozen=True)
class _Pairs:
    """Per (user, item) pair of a window, sorted by key = user * n_items + item."""

    key: np.ndarray
    user: np.ndarray  # int32 codes, as in `Events` (half the memory of int64 at 50M pairs)
    item: np.ndarray
    weight: np.ndarray  # sum of grades
    last: np.ndarray  # latest ts


def _codes(key: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    user, item = np.divmod(key, n_items)
    return user.astype(np.int32), item.astype(np.int32)


def _pairs(ev: Events, rows: slice) -> _Pairs:
    key = ev.user[rows].astype(np.int64) * ev.n_items + ev.item[rows]
    order = np.argsort(key)
    key = key[order]
    starts = _groups(key)
    weight = np.add.reduceat(ev.grade[rows][order].astype(np.int64), starts) if len(key) else key
    last = np.maximum.reduceat(ev.ts[rows][order], starts) if len(key) else key
    key = key[starts]
    return _Pairs(key, *_codes(key, ev.n_items), weight, last)


@dataclass(frozen=True)
class _Neighbours:
    """What candidate generation needs of the whole window, computed once for every shard."""

    own_user: np.ndarray  # each target user's most recent distinct items, sorted by user
    own_item: np.ndarray
    first: np.ndarray  # per item: where its neighbour list starts in `item`/`count`
    length: np.ndarray  # per item: its neighbour list's length
    item: np.ndarray  # the neighbours, by item, count descending, then item
    count: np.ndarray  # users who touched both
    popular: np.ndarray  # the most popular items, most popular first


def neighbours(
    ev: Events, pairs: _Pairs, weight: np.ndarray, users: np.ndarray, sizes: CandidateSizes
) -> _Neighbours:
    """Own items of the target `users` and the co-occurrence neighbour lists of the window."""
    n_items = ev.n_items
    # Each user's most recent distinct items (latest first, ties by item): their own
    # candidates, and the seeds of the co-occurrence join (at most `own` items per user, which
    # bounds the pairs to own * (own - 1) per user). The pairs are sorted by (user, item), so a
    # stable sort on (user, -last) breaks ties by item.
    order = _by_group_desc(pairs.user, pairs.last)
    keep = order[rank_in_group(pairs.user[order]) < sizes.own]
    r_user, r_item = pairs.user[keep], pairs.item[keep]
    del order, keep
    is_target = np.zeros(ev.n_users, bool)
    is_target[users] = True
    own = is_target[r_user]
    own_user, own_item = r_user[own], r_item[own]

    # Co-occurrence within the window: ordered pairs of distinct items a user touched, counted
    # once per user; only those from a seed item (the target users' own) are ever looked up.
    # A user's items are adjacent rows, at most `own` of them: shifts 1 .. own-1 pair them all.
    is_seed = np.zeros(n_items, bool)
    is_seed[own_item] = True
    found = []
    for shift in range(1, sizes.own):
        same = r_user[:-shift] == r_user[shift:]
        x, y = r_item[:-shift][same], r_item[shift:][same]
        for a, b in ((x, y), (y, x)):
            seed = is_seed[a]
            found.append(a[seed].astype(np.int64) * n_items + b[seed])
    # `np.unique(..., return_counts=True)` in place: it held two more copies of the pairs.
    ab = np.concatenate(found)
    del found
    ab.sort()
    starts = _groups(ab)
    count = np.diff(np.append(starts, len(ab)))
    ab = ab[starts]
    del starts
    # Each item's best neighbours (count descending, then neighbour), over slices of whole
    # items: sorting every distinct pair of a 10M-event day (about 100M) at once was the
    # step's peak of memory; the slices give the same rows.
    tops = []
    cuts = np.unique(np.searchsorted(ab, ab[::NEIGHBOUR_ROWS] // n_items * n_items))
    for lo, hi in pairwise(np.append(cuts, len(ab))):
        co_a = ab[lo:hi] // n_items
        order = _by_group_desc(co_a, count[lo:hi])  # by item, count descending, neighbour
        tops.append(lo + order[rank_in_group(co_a[order]) < sizes.neighbours_per_item])
    top = np.concatenate(tops) if tops else np.zeros(0, np.int64)
    nb_a = ab[top] // n_items
    length = np.bincount(nb_a, minlength=n_items)  # nb_a is sorted: a slice per item
    in_history = np.flatnonzero(weight > 0)  # every event weighs at least 1
    return _Neighbours(
        own_user=own_user,
        own_item=own_item,
        first=np.cumsum(length) - length,
        length=length,
        item=ab[top] % n_items,
        count=count[top],
        popular=in_history[np.argsort(-weight[in_history], kind="stable")][: sizes.popular],
    )


def candidates(
    n_items: int, nb: _Neighbours, users: np.ndarray, sizes: CandidateSizes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate keys (sorted), their sources (bits: 1 own, 2 co-occurrence, 4 popular) and
    co-occurrence scores, for the user codes `users` (sorted); every user's candidates depend
    on the user and `nb` only, so any split of the users gives the same rows."""
    lo, hi = np.searchsorted(nb.own_user, [users[0], users[-1] + 1]) if len(users) else (0, 0)
    own_user, own_item = nb.own_user[lo:hi], nb.own_item[lo:hi]
    # Items co-occurring with the user's own: scores summed over the seeds. Neighbour lists
    # are at most `neighbours_per_item` long: one pass per position in the list.
    n_nb, first = nb.length[own_item], nb.first[own_item]
    base = own_user.astype(np.int64) * n_items
    keys, scores = [], []
    for rank in range(sizes.neighbours_per_item):
        has = n_nb > rank
        at = first[has] + rank
        keys.append(base[has] + nb.item[at])
        scores.append(nb.count[at])
    near_key, near_score = np.concatenate(keys), np.concatenate(scores)
    del keys, scores
    near_key, near_score = _sort_pairs(near_key, near_score)
    g = _groups(near_key)
    near_score = np.add.reduceat(near_score, g) if len(g) else near_score
    near_key = near_key[g]
    near_user = near_key // n_items
    order = _by_group_desc(near_user, near_score)  # by user, score descending, then item
    near_top = near_key[order[rank_in_group(near_user[order]) < sizes.cooc]]

    popular = (users.astype(np.int64) * n_items)[:, None] + nb.popular[None, :]
    keys = np.concatenate(
        [own_user.astype(np.int64) * n_items + own_item, near_top, popular.ravel()]
    )
    bits = np.concatenate(
        [
            np.full(len(own_user), 1, np.int8),
            np.full(len(near_top), 2, np.int8),
            np.full(popular.size, 4, np.int8),
        ]
    )
    order = np.argsort(keys, kind="stable")
    keys, bits = keys[order], bits[order]
    g = _groups(keys)
    src = np.bitwise_or.reduceat(bits, g) if len(g) else bits
    keys = keys[g]
    pos, found = _lookup(keys, near_key)
    score = np.where(found, near_score[pos] if len(near_score) else 0, 0)
    return keys, src, score


def ranking_frames(
    ev: Events,
    label_day: date,
    history_days: int,
    sizes: CandidateSizes,
    shard_users: int = SHARD_USERS,
) -> tuple[int, Iterator[pd.DataFrame]]:
    """Candidates with features and labels of `label_day`, from the `history_days` before it.

    Returns the catalogue size (items seen in the window: coverage's denominator) and the
    frame's rows in user shards: users by code in ranges of `shard_users`, each shard's rows
    sorted by (user, item) like the whole, so the shards one after the other are the frame
    of a single pass, row for row. The window's figures and the neighbour lists are computed
    once; each shard holds only its users' candidates (at 10M events a day, 49M rows a frame).
    """
    cutoff = int(_day_start(label_day).value // 1000)  # microseconds
    start = label_day - timedelta(days=history_days)
    hist = ev.days(start, label_day)
    today = ev.days(label_day, label_day + timedelta(days=1))
    if hist.start == hist.stop:
        raise DataError(
            f"no events in the {history_days} day(s) before {label_day}: no history to build "
            "features from (a run on day D needs days D-1-H .. D; see features.history_days)",
            where="build_features",
        )
    if today.start == today.stop:
        raise DataError(f"no events on {label_day}: nothing to label", where="build_features")
    nu, ni = ev.n_users, ev.n_items
    in_hist = np.zeros(nu, bool)
    in_hist[ev.user[hist]] = True
    in_today = np.zeros(nu, bool)
    in_today[ev.user[today]] = True
    users = np.flatnonzero(in_today & in_hist)
    if len(users) == 0:
        raise DataError(
            f"no user active on {label_day} has history before it", where="build_features"
        )

    u, i, g, ts = ev.user[hist], ev.item[hist], ev.grade[hist], ev.ts[hist]
    pairs = _pairs(ev, hist)
    # Per user (indexed by code): activity, distinct items, days active, last event.
    u_events = np.bincount(u, minlength=nu)
    u_clicks = np.bincount(u[g == 2], minlength=nu)
    u_purchases = np.bincount(u[g == 3], minlength=nu)
    u_items = np.bincount(pairs.user, minlength=nu)
    u_days = np.zeros(nu, np.int64)
    for d in range(history_days):
        rows = ev.days(start + timedelta(days=d), start + timedelta(days=d + 1))
        seen = np.zeros(nu, bool)
        seen[ev.user[rows]] = True
        u_days += seen
    u_last = np.zeros(nu, np.int64)
    ug = _groups(pairs.user)
    u_last[pairs.user[ug]] = np.maximum.reduceat(pairs.last, ug)
    # Per item: popularity (all window, last day), distinct users, first/last seen, purchase rate.
    i_weight = np.bincount(i, weights=g, minlength=ni)
    last_day = ev.days(label_day - timedelta(days=1), label_day)
    i_weight_last_day = np.bincount(ev.item[last_day], weights=ev.grade[last_day], minlength=ni)
    i_users = np.bincount(pairs.item, minlength=ni)
    i_first = np.full(ni, np.iinfo(np.int64).max)
    np.minimum.at(i_first, i, ts)
    i_last = np.full(ni, np.iinfo(np.int64).min)
    np.maximum.at(i_last, i, ts)
    i_views = np.bincount(i[g == 1], minlength=ni)
    i_purchases = np.bincount(i[g == 3], minlength=ni)
    del u, i, g, ts

    nb = neighbours(ev, pairs, i_weight, users, sizes)
    today_pairs = _today(ev, today)
    n_relevant = np.bincount(today_pairs.user, minlength=nu)

    # Features as float32: XGBoost casts every input to float32 (same rounding), so the model
    # and its scores are the same to the bit as from float64, in half the memory. Per-user and
    # per-item figures are computed in float64 and cast once, then gathered per shard, so no
    # float64 or int64 copy of a column ever exists at the candidates' length.
    def f32(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32)

    per_user = {
        "u_events": f32(u_events),
        "u_clicks": f32(u_clicks),
        "u_purchases": f32(u_purchases),
        "u_items": f32(u_items),
        "u_days_active": f32(u_days),
        "u_hours_since": f32(_hours(cutoff, u_last)),
    }
    per_item = {
        "i_weight": f32(i_weight),
        "i_weight_last_day": f32(i_weight_last_day),
        "i_users": f32(i_users),
        "i_hours_since_first": f32(_hours(cutoff, i_first)),
        "i_hours_since_last": f32(_hours(cutoff, i_last)),
        "i_purchase_rate": f32(i_purchases / np.maximum(i_views, 1)),
    }

    def shard(targets: np.ndarray) -> pd.DataFrame:
        keys, src, cooc = candidates(ni, nb, targets, sizes)
        cu, ci = keys // ni, keys % ni
        pos, had = _lookup(keys, pairs.key)
        lpos, labelled = _lookup(keys, today_pairs.key)
        columns = {
            "user_id": ev.user_ids[cu],
            "item_id": ev.item_ids[ci],
            **{name: a[cu] for name, a in per_user.items()},
            **{name: a[ci] for name, a in per_item.items()},
            "ui_weight": f32(np.where(had, pairs.weight[pos], 0)),
            "ui_hours_since": f32(np.where(had, _hours(cutoff, pairs.last[pos]), NEVER)),
            "cooc_score": f32(cooc),
            "src_own": f32(src & 1),
            "src_cooc": f32((src >> 1) & 1),
            "src_popular": f32((src >> 2) & 1),
        }
        # copy=False: one block per column, no second copy of the frame while it is assembled.
        frame = pd.DataFrame(columns, copy=False)
        del columns
        frame["label"] = np.where(labelled, today_pairs.weight[lpos], 0).astype(np.int64)
        frame["n_relevant"] = n_relevant[cu].astype(np.int64)
        return frame

    bounds = np.searchsorted(users, np.arange(0, nu + shard_users, shard_users))
    shards = (shard(users[lo:hi]) for lo, hi in pairwise(bounds) if hi > lo)
    return int(np.count_nonzero(i_users)), shards


def _today(ev: Events, rows: slice) -> _Pairs:
    """The label day's pairs; `weight` holds the strongest grade of the pair (its label)."""
    key = ev.user[rows].astype(np.int64) * ev.n_items + ev.item[rows]
    order = np.argsort(key)
    key = key[order]
    starts = _groups(key)
    grade = np.maximum.reduceat(ev.grade[rows][order], starts)
    key = key[starts]
    return _Pairs(key, *_codes(key, ev.n_items), grade, grade)


def read_shards(path: str | Path, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """A frame of `build_features` (rows sorted by user) in pieces of whole users: a piece per
    Parquet row group (`build_features` writes one per user shard), the rows of a user that a
    row group boundary splits carried to the next piece. Per-user work on the pieces one
    after the other is the work on the whole frame; only one piece is held at a time."""
    file = pq.ParquetFile(path)
    tail = None
    for g in range(file.num_row_groups):
        table = file.read_row_group(g, columns=columns)
        if tail is not None:
            table = pa.concat_tables([tail, table])
        user = table.column("user_id").to_numpy()
        if len(user) and (np.diff(user) < 0).any():
            raise DataError(f"{path} is not sorted by user_id", where="read_shards")
        last = g == file.num_row_groups - 1
        cut = len(user) if last or not len(user) else int(np.searchsorted(user, user[-1]))
        if cut:
            yield table.slice(0, cut).to_pandas()
        tail = table.slice(cut)


def validation_users(user_ids: pd.Series, percent: int, seed: int) -> pd.Series:
    """True for the users in the validation slice: a fixed hash, the same every day."""
    salted = pd.util.hash_array(user_ids.to_numpy(dtype=np.int64) ^ np.int64(seed))
    return pd.Series((salted % 100) < percent, index=user_ids.index)


def build(
    events: pd.DataFrame | Events,
    day: date,
    *,
    history_days: int,
    validation_percent: int,
    seed: int,
    sizes: CandidateSizes,
    shard_users: int = SHARD_USERS,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The training frame (with a ``valid`` column) and the evaluation frame for a run on `day`.

    See the module docstring for the time protocol.
    """
    info: dict[str, Any] = {}
    shards: dict[str, list[pd.DataFrame]] = {"train": [], "evaluation": []}
    for name, frame in build_frames(
        events,
        day,
        info,
        history_days=history_days,
        validation_percent=validation_percent,
        seed=seed,
        sizes=sizes,
        shard_users=shard_users,
    ):
        shards[name].append(frame)
    train, evaluation = (pd.concat(shards[n], ignore_index=True) for n in ("train", "evaluation"))
    return train, evaluation, info


def build_frames(
    events: pd.DataFrame | Events,
    day: date,
    info: dict[str, Any],
    *,
    history_days: int,
    validation_percent: int,
    seed: int,
    sizes: CandidateSizes,
    shard_users: int = SHARD_USERS,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """`build`, one user shard at a time: yields ("train", shard) for every shard of the
    training frame, then ("evaluation", shard) likewise, and fills `info` once each frame is
    complete; a caller appends each shard to its file and drops it (`ranking_frames`)."""
    ev = events if isinstance(events, Events) else normalise(events)
    train_day = day - timedelta(days=1)
    # One frame at a time (measured at 1M events: a frame's candidate generation peaks at 2 GB
    # above the events; building the evaluation frame in a second thread meanwhile took the
    # step from 2.6 to 5.2 GB peak RSS and its wall time down by a tenth only).
    info["run_day"] = day.isoformat()
    count = _Count()
    _, shards = ranking_frames(ev, train_day, history_days, sizes, shard_users)
    for train in shards:
        train["valid"] = validation_users(train["user_id"], validation_percent, seed)
        count.add(train, valid_users=int(train.loc[train["valid"], "user_id"].nunique()))
        yield "train", train
    del train, shards
    info["train"] = {
        "label_day": train_day.isoformat(),
        "history": [
            (train_day - timedelta(days=history_days)).isoformat(),
            train_day.isoformat(),
        ],
        **count.summary(),
    }
    count = _Count()
    n_items, shards = ranking_frames(ev, day, history_days, sizes, shard_users)
    for evaluation in shards:
        count.add(evaluation)
        yield "evaluation", evaluation
    del evaluation, shards
    summary = count.summary()
    del summary["valid_users"]
    info["evaluation"] = {
        "label_day": day.isoformat(),
        "history": [(day - timedelta(days=history_days)).isoformat(), day.isoformat()],
        **summary,
        "catalogue_items": n_items,
    }
    info["features"] = FEATURES


class _Count:
    """A frame's rows, users and positives, summed over its shards (no user is in two)."""

    def __init__(self) -> None:
        self.rows = self.users = self.valid_users = self.positives = 0

    def add(self, frame: pd.DataFrame, valid_users: int = 0) -> None:
        self.rows += len(frame)
        self.users += int(frame["user_id"].nunique())
        self.valid_users += valid_users
        self.positives += int(np.count_nonzero(frame["label"].to_numpy() > 0))

    def summary(self) -> dict[str, Any]:
        # count / rows: the same float as the mean of the booleans (exact integer sums).
        return {
            "rows": self.rows,
            "users": self.users,
            "valid_users": self.valid_users,
            "positive_rate": self.positives / self.rows,
        }
