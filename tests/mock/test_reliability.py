"""Races, timeouts, interrupts and storage errors on the mock engine (issue 9, items 1-3, 5, 11).

Faults are injected at the seams a real failure would hit: a delay between the gate and the
promotion (a wrapped step), a crash between the entry and the alias (a subprocess that dies
with os._exit), a full or read-only disk (the registry's file writes raise the OSError the kernel
would), a real SIGINT to a process running a large grid.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mlpipeline import artifacts, cancellation, steps
from mlpipeline.alerts import read_alerts
from mlpipeline.paths import ROOT
from mlpipeline.registry import Registry
from mlpipeline.runs import FAILED, SUCCESS
from mock_impl.engine import DAG
from mock_impl.runner import run_pipeline
from mock_impl.weather import build_dag
from tests.conftest import config_in, tree_digest

BETTER = {"max_depth": [2], "n_estimators": [40]}  # holdout accuracy 0.745
WORSE = {"max_depth": [1], "n_estimators": [5]}  # holdout accuracy 0.721


def registered_versions(registry: Path) -> list[int]:
    return Registry(registry).versions()


# -- 1. the gate/promote race -----------------------------------------------------------------
PROMOTED = {
    "promoted": True,
    "version": 1,
    "reason": "v0001 passed its integration test and is now production",
}


def test_concurrent_runs_never_let_the_worse_model_replace_the_better(tmp_path, monkeypatch):
    """Two runs gate against the same (empty) production and both stage and pass their
    integration tests; the better one promotes first, then the worse one. The worse one must
    see that production moved since its gate and refuse."""
    registry = tmp_path / "registry"
    better = config_in(tmp_path / "better", tuning__grid=BETTER, paths__registry=str(registry))
    worse = config_in(tmp_path / "worse", tuning__grid=WORSE, paths__registry=str(registry))
    both_tested = threading.Barrier(2, timeout=300)
    better_promoted = threading.Event()
    step = steps.WEATHER.steps["promote_model"]
    promote = step.fn

    def delayed_promote(cfg, run_dir, **inputs):
        both_tested.wait()  # both gates decided against the same production: the race window
        if cfg is worse:
            assert better_promoted.wait(300)
        try:
            return promote(cfg, run_dir, **inputs)
        finally:
            if cfg is better:
                better_promoted.set()

    monkeypatch.setitem(
        steps.WEATHER.steps, "promote_model", dataclasses.replace(step, fn=delayed_promote)
    )
    results = {}
    threads = [
        threading.Thread(target=lambda c=c, n=n: results.update({n: run_pipeline(c, run_id=n)}))
        for n, c in (("better", better), ("worse", worse))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    good, bad = results["better"], results["worse"]
    assert good.ok and bad.ok, (good.error, bad.error)
    assert good.metrics["accuracy"] > bad.metrics["accuracy"]
    good_version = good.report("staging")["version"]  # the runs stage in either order
    assert good.registration == {
        **PROMOTED,
        "version": good_version,
        "reason": PROMOTED["reason"].replace("v0001", f"v{good_version:04d}"),
    }
    assert bad.registration["promoted"] is False
    reason = bad.registration["reason"]
    assert reason.startswith(f"not promoted: {registry / 'production.json'}: ")
    assert (
        f"production changed since the decision: it was no model, it is now v{good_version:04d}"
        in reason
    )
    production = Registry(registry).production()
    assert (production.version, production.sha256) == (good_version, good.model_sha256)
    # Both were staged and tested; only the stale decision's promotion was refused.
    assert registered_versions(registry) == [1, 2]


# -- 2. a timed-out attempt must not commit; abandoned work stops ------------------------------
def test_promote_timing_out_once_moves_production_once(tmp_path, monkeypatch):
    """Attempt 1 is abandoned at its deadline but wakes up and reaches the registry while the
    retry is still on its way: the abandoned one must commit nothing, the retry everything."""
    cfg = config_in(tmp_path, orchestration__retries=2)
    run_dir = tmp_path / "runs" / "timeout"
    run_dir.mkdir(parents=True)
    dag = build_dag(cfg, run_dir)
    task = dag.tasks["promote_model"]
    promote, attempts, alias_writes, first_ended = task.fn, [], [], threading.Event()

    def slow_then_promote(**inputs):
        attempts.append(None)
        if len(attempts) > 1:  # the retry waits until the abandoned attempt reached the registry
            assert first_ended.wait(5)
            return promote(**inputs)
        try:
            time.sleep(2.3)  # past its deadline: the engine gave up on it and started the retry
            return promote(**inputs)
        except BaseException as exc:
            attempts[0] = exc
            raise
        finally:
            first_ended.set()

    task.fn, task.timeout = slow_then_promote, 2.0
    write_json = artifacts.write_json

    def counting_write_json(path, obj):
        if Path(path).name == "production.json":
            alias_writes.append(obj["version"])
        return write_json(path, obj)

    monkeypatch.setattr(artifacts, "write_json", counting_write_json)
    run = dag.run("timeout")
    record = run.tasks["promote_model"]
    assert run.state == SUCCESS and record.attempts == 2
    assert registered_versions(tmp_path / "registry") == [1]
    assert alias_writes == [1]  # production moved once
    # Attempt 1 woke while production was still unset, passed the alias check, and the
    # registry's checkpoint stopped it before it wrote anything.
    assert isinstance(attempts[0], cancellation.AttemptAbandoned), attempts[0]
    promotion = artifacts.read_json(Path(run.results["promote_model"]) / "promotion.json")
    assert promotion == PROMOTED
    assert read_alerts(cfg.alerts.log) == []


def test_an_abandoned_tuning_attempt_stops_within_a_second_of_its_timeout(tmp_path):
    cfg = config_in(
        tmp_path,
        tuning__grid={"max_depth": [4, 5, 6], "n_estimators": [3000]},
        orchestration__retries=0,
        cache__enabled=False,
    )
    run_dir = tmp_path / "runs" / "slow"
    run_dir.mkdir(parents=True)
    dag = build_dag(cfg, run_dir)
    dag.tasks["tune_model"].timeout = 1.0
    run = dag.run("slow")
    assert run.tasks["tune_model"].state == FAILED
    assert "tune_model exceeded its timeout of 1 s" in run.tasks["tune_model"].error
    gave_up = time.monotonic()
    while any(t.name == "tune_model-attempt" for t in threading.enumerate()):
        assert time.monotonic() - gave_up < 2.0, "the abandoned tuning thread is still running"
        time.sleep(0.02)


# -- 3. an interrupted promotion is completed by the next run, without a duplicate ------------
def test_crash_between_entry_and_alias_then_rerun_adds_no_duplicate(tmp_path):
    crash = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from mlpipeline import artifacts
        from mock_impl.runner import run_pipeline
        from tests.conftest import config_in

        write_json = artifacts.write_json

        def killed_before_the_alias(path, obj):
            if Path(path).name == "production.json":
                os._exit(137)  # the entry is complete, the alias not yet moved
            return write_json(path, obj)

        artifacts.write_json = killed_before_the_alias
        run_pipeline(config_in(Path({str(tmp_path)!r})), run_id="crashed")
        """
    )
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, timeout=600)
    assert done.returncode == 137, done.stderr.decode()[-2000:]
    registry = tmp_path / "registry"
    assert registered_versions(registry) == [1] and Registry(registry).production() is None

    rerun = run_pipeline(config_in(tmp_path), run_id="rerun")
    assert rerun.ok, rerun.error
    assert rerun.report("staging")["reason"] == "reused the existing entry v0001"
    assert rerun.registration == PROMOTED
    assert registered_versions(registry) == [1]
    assert Registry(registry).production().sha256 == rerun.model_sha256


# -- 5. Ctrl-C -------------------------------------------------------------------------------
def test_ctrl_c_cancels_parallel_attempts_without_retrying_or_alerting():
    """KeyboardInterrupt in the driver while two attempts run in the pool: no retry, no
    failure callback, and both attempts stop at their next checkpoint."""
    calls, stopped, alerts = [], [], []

    def busy(name):
        calls.append(name)
        give_up = time.monotonic() + 30  # a broken engine must not leave it spinning forever
        try:
            while time.monotonic() < give_up:
                cancellation.check(name)
                time.sleep(0.01)
        finally:
            stopped.append((name, time.monotonic()))

    dag = DAG("ctrl_c", on_failure_callback=alerts.append)
    for name in ("a", "b"):
        dag.add_task(name, lambda n=name: busy(n), retries=3, timeout=60)
    dag.add_task("c", lambda: calls.append("c"), after=("a", "b"))
    # Python's own Ctrl-C handler, whatever this process inherited: a session started in the
    # background of a non-interactive shell starts with SIGINT ignored (SIG_IGN), and the
    # signal would then never reach the run.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident  # a real SIGINT, to the thread Python delivers it to
    threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT)).start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            dag.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + 2.0
    while len(stopped) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(calls) == ["a", "b"]  # one attempt each, no retry, c never started
    assert sorted(n for n, _ in stopped) == ["a", "b"]
    assert alerts == []


def test_sigint_stops_a_large_grid_within_seconds(tmp_path):
    """A real SIGINT to a process tuning a large grid: KeyboardInterrupt reaches the caller at
    once, no thread is left burning CPU a second later (idle attempt workers only wait: they
    are reused by the next attempt), nothing is retried, no alert is sent.
    (The process's own exit, unloading pandas and XGBoost, takes seconds on a loaded machine:
    it is bounded, not timed.)"""
    script = textwrap.dedent(
        f"""
        import signal, sys, threading, time
        sys.path.insert(0, {str(ROOT)!r})
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from pathlib import Path
        from mlpipeline.cancellation import IDLE_NAME
        from mock_impl.runner import run_pipeline
        from tests.conftest import config_in

        def busy():  # threads other than this one; idle attempt workers only wait
            return [t.name for t in threading.enumerate()[1:] if t.name != IDLE_NAME]

        grid = {{"max_depth": list(range(2, 12)), "n_estimators": [400], "gamma": [0, 1]}}
        cfg = config_in(Path({str(tmp_path)!r}), tuning__grid=grid, orchestration__retries=2)
        try:
            run_pipeline(cfg, run_id="big")
        except KeyboardInterrupt:
            print("cancelled at", time.time(), flush=True)
            give_up = time.monotonic() + 1.0
            while busy() and time.monotonic() < give_up:
                time.sleep(0.02)
            print("threads left:", busy(), flush=True)
            sys.exit(130)
        print("finished", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        tuning = tmp_path / "runs" / "big" / "tune_model"
        deadline = time.monotonic() + 300
        while not tuning.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "tuning never started"
            time.sleep(0.1)
        time.sleep(1.0)  # well inside the 20 x 4 folds of 400 rounds
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (out, err[-2000:])
    cancelled, threads = out.splitlines()
    assert float(cancelled.removeprefix("cancelled at ")) - sent < 2.0
    assert threads == "threads left: []"
    assert read_alerts(tmp_path / "alerts.jsonl") == []
    assert registered_versions(tmp_path / "registry") == []


# -- 11. errors a retry cannot fix fail at once, naming the file -------------------------------
def test_corrupt_production_alias_fails_at_once_naming_the_file(tmp_path, registry_copy):
    alias = registry_copy / "production.json"
    alias.write_text('{"version": 1, "sha2')
    cfg = config_in(tmp_path, paths__registry=str(registry_copy), orchestration__retries=2)
    result = run_pipeline(cfg, run_id="corrupt")
    assert result.failed_step == "gate_model"
    assert result.tasks["gate_model"].attempts == 1
    assert str(alias) in result.error and "production alias is unreadable" in result.error
    assert [a["step"] for a in read_alerts(cfg.alerts.log)] == ["gate_model"]


@pytest.mark.parametrize(
    ("code", "names_file"),
    [(errno.ENOSPC, False), (errno.EROFS, True), (errno.EACCES, True), (errno.EPERM, True)],
    ids=["disk-full", "read-only", "access-denied", "not-permitted"],
)
def test_storage_errors_in_the_registry_fail_at_once_naming_it(
    tmp_path, monkeypatch, code, names_file
):
    """The OSError the kernel raises while the registry writes an entry. A full disk reports
    no path (the write, not the open, fails): the message then names the registry."""
    registry = tmp_path / "registry"
    cfg = config_in(tmp_path, orchestration__retries=2)
    write_bytes = artifacts.write_bytes

    def failing(path, data):
        if Path(path).is_relative_to(registry):
            raise OSError(code, os.strerror(code), *([str(path)] if names_file else []))
        return write_bytes(path, data)

    monkeypatch.setattr(artifacts, "write_bytes", failing)
    result = run_pipeline(cfg, run_id="storage")
    assert result.failed_step == "register_model"
    assert result.tasks["register_model"].attempts == 1  # another try cannot fix it
    assert f"StorageError: {registry}" in result.error
    assert os.strerror(code) in result.error and f"errno {code}" in result.error
    assert [a["step"] for a in read_alerts(cfg.alerts.log)] == ["register_model"]
    assert tree_digest(registry) == tree_digest(tmp_path / "nothing")  # no file, no half entry


@pytest.mark.parametrize("error", [ModuleNotFoundError, ImportError])
def test_a_missing_module_fails_at_once_with_one_alert(tmp_path, monkeypatch, error):
    """An import that failed fails the same way on the next try: a broken environment, which
    someone has to fix, not a transient fault."""
    from mlpipeline import faults

    def broken(step, *args):
        if step == "load_data":
            raise error("No module named 'pyarrow'", name="pyarrow")

    monkeypatch.setattr(faults, "inject", broken)
    cfg = config_in(tmp_path, orchestration__retries=2)
    result = run_pipeline(cfg, run_id="no-module")
    assert result.failed_step == "load_data"
    assert result.tasks["load_data"].attempts == 1
    assert f"{error.__name__}: No module named 'pyarrow'" in result.error
    assert [a["step"] for a in read_alerts(cfg.alerts.log)] == ["load_data"]
