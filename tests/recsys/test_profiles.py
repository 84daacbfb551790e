"""merge_profiles: once per delivery, order-free, crash-safe, one writer at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest

from mlpipeline.errors import DataError, is_retryable
from mlpipeline.recsys import profiles
from mlpipeline.recsys.extract import content_sha256
from mlpipeline.recsys.generator import World, write_day
from tests.recsys.conftest import DAY, ROOT, SMALL, recsys_config, run_step

NEXT = (date.fromisoformat(DAY) + timedelta(days=1)).isoformat()


@pytest.fixture
def two_days(tmp_path, small_world: World):
    """The config and both days' clean events (extract's outputs)."""
    cfg = recsys_config(tmp_path)
    outs = {}
    for day in (DAY, NEXT):
        write_day(cfg.data.landing, day, SMALL, small_world)
        outs[day] = run_step("extract", recsys_config(tmp_path, data__date=day), tmp_path / day)
    return cfg, {day: out.file("events") for day, out in outs.items()}, outs


def _merge(cfg, events_path, day):
    table = pq.read_table(events_path)
    return profiles.merge(cfg.profiles, table, day, content_sha256(table))


def _other_db(cfg, tmp_path, name):
    return recsys_config(tmp_path, profiles__db=str(tmp_path / name / "p.duckdb"))


def test_rerunning_a_day_changes_nothing(two_days, tmp_path):
    cfg, _, extracted = two_days
    out = run_step("merge_profiles", cfg, tmp_path / "m1", events=extracted[DAY])
    first = out.json("merge")
    second = run_step("merge_profiles", cfg, tmp_path / "m2", events=extracted[DAY]).json("merge")
    assert (first["status"], second["status"]) == ("merged", "already merged")
    assert first["state_sha256"] == second["state_sha256"] == profiles.state_checksum(cfg.profiles)
    assert first["events_total"] == SMALL.events_per_day
    users = pq.read_table(out.file("user_profiles")).to_pandas()
    assert users[["views", "clicks", "purchases"]].to_numpy().sum() == SMALL.events_per_day
    assert profiles.table_checksum(pq.read_table(out.file("user_items"))) == (
        profiles.table_checksum(profiles.read_tables(cfg.profiles)["user_items"])
    )


def test_a_day_delivered_again_with_other_content_is_refused(two_days):
    cfg, paths, _ = two_days
    _merge(cfg, paths[DAY], DAY)
    before = profiles.state_checksum(cfg.profiles)
    other = pq.read_table(paths[DAY]).slice(10)
    with pytest.raises(DataError, match=f"{DAY} was already merged with other content") as err:
        profiles.merge(cfg.profiles, other, DAY, content_sha256(other))
    assert not is_retryable(err.value)
    assert profiles.state_checksum(cfg.profiles) == before


def test_days_merged_in_any_order_give_the_same_state(two_days, tmp_path):
    cfg, paths, _ = two_days
    other = _other_db(cfg, tmp_path, "reverse")
    for c, order in ((cfg, (DAY, NEXT)), (other, (NEXT, DAY))):
        for day in order:
            _merge(c, paths[day], day)
    forward = profiles.read_tables(cfg.profiles)
    assert profiles.checksum(forward) == profiles.state_checksum(other.profiles)
    items = forward["item_stats"].to_pandas()
    assert items["active_days"].max() == 2 and (items["user_days"] >= 1).all()


def _worker(cfg, events_path, day, *pause):
    table = pq.read_table(events_path)
    args = [cfg.profiles.db, str(events_path), day, content_sha256(table), *map(str, pause)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.recsys.merge_worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the worker never reached its pause"
        time.sleep(0.02)


def test_kill_9_during_the_merge_then_a_rerun_equals_an_undisturbed_run(two_days, tmp_path):
    cfg, paths, _ = two_days
    calm = _other_db(cfg, tmp_path, "calm")
    for c in (cfg, calm):
        _merge(c, paths[DAY], DAY)  # existing rows, so the killed day has updates to undo
    _merge(calm, paths[NEXT], NEXT)

    flag = tmp_path / "inside-transaction"
    proc = _worker(cfg, paths[NEXT], NEXT, flag)
    try:
        _wait_for(flag, proc)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    tables = profiles.read_tables(cfg.profiles)
    assert tables["merged_deliveries"].column("delivery").to_pylist() == [DAY]  # rolled back
    assert _merge(cfg, paths[NEXT], NEXT)["status"] == "merged"
    assert profiles.state_checksum(cfg.profiles) == profiles.state_checksum(calm.profiles)


def test_two_merges_of_the_same_day_at_once(two_days, tmp_path):
    cfg, paths, _ = two_days
    calm = _other_db(cfg, tmp_path, "calm")
    _merge(calm, paths[DAY], DAY)
    flags = [tmp_path / "a", tmp_path / "b"]
    procs = [_worker(cfg, paths[DAY], DAY, flag, 1.0) for flag in flags]
    try:
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], results
    assert sorted(out.strip() for out, _ in results) == ["already merged", "merged"]
    assert sum(f.exists() for f in flags) == 1  # only one of them got into the transaction
    assert profiles.state_checksum(cfg.profiles) == profiles.state_checksum(calm.profiles)


def test_a_held_lock_times_out_as_a_retryable_error(two_days, tmp_path):
    cfg, paths, _ = two_days
    short = recsys_config(tmp_path, profiles__lock_timeout_seconds=0.2)
    with (
        profiles.writer_lock(cfg.profiles.db, 1.0),
        pytest.raises(TimeoutError, match="profiles.lock_timeout_seconds") as err,
    ):
        _merge(short, paths[DAY], DAY)
    assert is_retryable(err.value)
