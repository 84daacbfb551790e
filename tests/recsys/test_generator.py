"""The generator: deterministic, and shaped like real traffic (tails, mix, defects)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlpipeline.recsys.generator import (
    World,
    land_days,
    partition_path,
    schema,
    write_day,
)
from tests.recsys.conftest import DAY, SMALL


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    a = write_day(tmp_path / "a", DAY, SMALL)
    b = write_day(tmp_path / "b", DAY, SMALL)
    c = write_day(tmp_path / "c", DAY, dataclasses.replace(SMALL, seed=8))
    assert pq.read_table(a).equals(pq.read_table(b))
    assert not pq.read_table(a).equals(pq.read_table(c))


def test_a_day_does_not_depend_on_the_days_generated_before_it(tmp_path):
    land_days(tmp_path / "seq", SMALL, "2026-03-01", days=2)
    alone = write_day(tmp_path / "alone", DAY, SMALL)
    assert pq.read_table(partition_path(tmp_path / "seq", DAY)).equals(pq.read_table(alone))


def test_partition_layout_and_schema(tmp_path):
    path = write_day(tmp_path, DAY, SMALL)
    assert path == tmp_path / f"date={DAY}" / "part-0.parquet"
    table = pq.read_table(path)
    assert table.schema.equals(schema())
    assert not list(path.parent.glob(".*"))  # the atomic write left no temporary file


def test_event_mix_duplicates_and_late_events(small_world):
    ev = small_world.events(DAY)
    n = len(ev["event_id"])
    mix = np.bincount(ev["event_type"], minlength=3) / n
    assert mix == pytest.approx([0.85, 0.12, 0.03], abs=0.02)
    unique = len(np.unique(ev["event_id"]))
    assert unique == SMALL.events_per_day
    assert 0.002 < (n - unique) / unique < 0.01  # ~0.5% delivered twice
    day_start = np.datetime64(DAY, "us").astype(np.int64)
    late = (ev["ts"] < day_start).mean()
    assert 0.005 < late < 0.02  # ~1% from the day before
    assert (ev["ts"] < day_start + 86_400_000_000).all()


def test_popularity_and_activity_are_heavy_tailed(small_world):
    ev = small_world.events(DAY)
    items = np.sort(np.bincount(ev["item_id"]))[::-1]
    ranks = np.arange(1, len(items) + 1)
    sel = (ranks >= 3) & (ranks <= 200)
    slope = np.polyfit(np.log(ranks[sel]), np.log(items[sel]), 1)[0]
    assert -1.2 < slope < -0.5  # Zipf-like, exponent near the configured 0.8
    users = np.sort(np.bincount(ev["user_id"]))[::-1]
    top = users[: len(users) // 100].sum() / users.sum()
    assert top > 0.08  # the busiest 1% of users make far more than 1% of events


def test_choices_and_purchases_follow_the_true_affinity(small_world):
    ev = small_world.events(DAY)
    chosen = small_world.true_affinity(ev["user_id"], ev["item_id"], DAY)
    rng = np.random.default_rng(0)
    random_items = rng.integers(0, SMALL.n_items, len(chosen))
    random = small_world.true_affinity(ev["user_id"], random_items, DAY)
    assert chosen.mean() > random.mean() + 0.5
    assert chosen[ev["event_type"] == 2].mean() > chosen[ev["event_type"] == 0].mean()


def test_tastes_drift_slowly(small_world):
    t0 = small_world.user_tastes(60)
    corr = [np.corrcoef(t0.ravel(), small_world.user_tastes(60 + s).ravel())[0, 1] for s in (1, 30)]
    assert corr[0] > 0.99 and 0.5 < corr[1] < 0.99


def test_sessions_and_daily_rhythm(small_world):
    ev = small_world.events(DAY)
    hours = (ev["ts"] // 3_600_000_000) % 24
    counts = np.bincount(hours, minlength=24)
    assert counts[19:22].sum() > 4 * counts[2:5].sum()  # evening peak, night trough
    order = np.lexsort((ev["ts"], ev["user_id"]))
    same_user = ev["user_id"][order][1:] == ev["user_id"][order][:-1]
    gaps = np.diff(ev["ts"][order])[same_user] / 1e6
    assert (gaps < 1800).mean() > 0.5  # most next events of a user are in the same session


def test_new_items_arrive_every_day(small_world):
    day = date.fromisoformat(DAY)
    later = (day + timedelta(days=5)).isoformat()
    ev = small_world.events(later)
    assert ev["item_id"].max() >= SMALL.n_items  # items that joined after the epoch are seen
    arrival = small_world.item_arrival(np.array([0, SMALL.n_items, SMALL.n_items + 10]))
    assert arrival.tolist() == [-1, 0, 1]


def test_world_is_reusable_across_days(small_world):
    w = World(SMALL)
    assert np.array_equal(w.events(DAY)["item_id"], small_world.events(DAY)["item_id"])
