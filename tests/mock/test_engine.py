"""The mock engine on its own: graph checks, scheduling, retries, timeouts, cache, callbacks."""

import subprocess
import sys
import threading
import time

import pytest

from mlpipeline.caching import ResultCache
from mlpipeline.runs import FAILED, SUCCESS, UPSTREAM_FAILED
from mock_impl.engine import DAG, DAGError, Task


def test_seed_etl_example_output():
    out = subprocess.run(
        [sys.executable, "-m", "mock_impl.etl_example"], capture_output=True, text=True, check=True
    ).stdout
    assert out == (
        "DAG: ml_pipeline\nExtract status: success\n"
        "Transform result: [2, 4, 6, 8, 10]\nLoad records: 5\n"
    )


def test_cycle_is_refused_before_any_work():
    ran = []
    dag = DAG("d")
    dag.add_task("a", lambda: ran.append("a"), after=("c",))
    dag.add_task("b", lambda: ran.append("b"), after=("a",))
    dag.add_task("c", lambda: ran.append("c"), after=("b",))
    dag.add_task("free", lambda: ran.append("free"))
    with pytest.raises(DAGError, match=r"has a cycle: (a|b|c) -> (a|b|c) -> (a|b|c) -> (a|b|c)"):
        dag.run()
    assert ran == []


def test_unknown_dependency_is_named():
    dag = DAG("d")
    dag.add_task("a", lambda x: x, inputs={"x": "missing"})
    with pytest.raises(DAGError, match="unknown dependencies: a -> missing"):
        dag.validate()


def test_duplicate_task_is_refused():
    dag = DAG("d")
    dag.add_task("a", lambda: 1)
    with pytest.raises(DAGError, match="defined twice"):
        dag.add_task("a", lambda: 2)


def test_runs_in_topological_order_and_passes_results():
    order = []
    dag = DAG("d")
    dag.add_task("a", lambda: order.append("a") or 2)
    dag.add_task("b", lambda x: order.append("b") or x * 10, inputs={"x": "a"})
    dag.add_task("c", lambda x, y: order.append("c") or x + y, inputs={"x": "a", "y": "b"})
    run = dag.run()
    assert order == ["a", "b", "c"]
    assert run.results["c"] == 22 and run.state == SUCCESS


def test_independent_tasks_run_in_parallel():
    barrier = threading.Barrier(2, timeout=5)  # both must be inside at once to pass
    dag = DAG("d", max_workers=2)
    dag.add_task("a", barrier.wait)
    dag.add_task("b", barrier.wait)
    assert dag.run().state == SUCCESS


def test_retries_with_backoff_then_success():
    calls, delays = [], []
    dag = DAG("d", sleep=delays.append)

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("transient")
        return "ok"

    dag.add_task("f", flaky, retries=3, retry_delay=1.0, backoff=2.0, max_delay=10.0)
    run = dag.run()
    assert run.tasks["f"].attempts == 3 and run.tasks["f"].state == SUCCESS
    assert delays == [1.0, 2.0]


def test_jitter_is_bounded_and_delay_capped():
    import random

    task = Task("t", lambda: None, retry_delay=1.0, backoff=3.0, max_delay=5.0, jitter=0.2)
    rng = random.Random(0)
    for retry in range(1, 6):
        base = min(5.0, 3.0 ** (retry - 1))
        for _ in range(50):
            d = task.delay(retry, rng)
            assert base * 0.8 <= d <= min(5.0, base * 1.2)


def test_non_retryable_error_fails_at_once_and_callbacks_fire_once():
    task_calls, dag_calls = [], []
    dag = DAG("d", on_failure_callback=dag_calls.append)
    dag.add_task(
        "bad",
        lambda: 1 / 0,
        retries=5,
        retry_if=lambda e: not isinstance(e, ZeroDivisionError),
        on_failure=lambda name, exc: task_calls.append(name),
    )
    dag.add_task("after", lambda x: x, inputs={"x": "bad"})
    dag.add_task("free", lambda: "ran")
    run = dag.run()
    assert run.tasks["bad"].attempts == 1 and run.tasks["bad"].state == FAILED
    assert run.tasks["after"].state == UPSTREAM_FAILED and run.tasks["free"].state == SUCCESS
    assert task_calls == ["bad"] and len(dag_calls) == 1 and dag_calls[0].state == FAILED


def test_exhausted_retries_fire_callbacks_once():
    task_calls, dag_calls = [], []
    dag = DAG("d", on_failure_callback=dag_calls.append, sleep=lambda s: None)
    dag.add_task("bad", lambda: 1 / 0, retries=2, on_failure=lambda n, e: task_calls.append(n))
    run = dag.run()
    assert run.tasks["bad"].attempts == 3
    assert task_calls == ["bad"] and len(dag_calls) == 1


def test_timeout_fails_the_attempt():
    dag = DAG("d", sleep=lambda s: None)
    dag.add_task("slow", lambda: time.sleep(2), timeout=0.1, retries=1)
    run = dag.run()
    assert run.tasks["slow"].state == FAILED and run.tasks["slow"].attempts == 2
    assert "exceeded its timeout of 0.1 s" in run.tasks["slow"].error


def test_cache_hit_skips_the_task_and_expires(tmp_path):
    calls = []
    out = tmp_path / "out.txt"

    def produce():
        calls.append(1)
        out.write_text("result")
        return str(out)

    def build(expiration=0.0):
        dag = DAG("d", cache=ResultCache(tmp_path / "cache", expiration))
        dag.add_task("p", produce, cache_key=lambda kwargs: "fixed-key")
        return dag

    assert not build().run().tasks["p"].cache_hit
    second = build().run()
    assert second.tasks["p"].cache_hit and second.results["p"] == str(out) and len(calls) == 1
    out.write_text("tampered")  # the cached output changed: recompute
    assert not build().run().tasks["p"].cache_hit and len(calls) == 2
    time.sleep(0.05)
    assert not build(expiration=0.01).run().tasks["p"].cache_hit and len(calls) == 3


def test_uncacheable_result_is_logged_and_the_task_still_succeeds(tmp_path, caplog):
    dag = DAG("d", cache=ResultCache(tmp_path / "cache"))
    dag.add_task("s", lambda: {1, 2}, cache_key=lambda kwargs: "k")  # a set is not JSON
    run = dag.run()
    assert run.tasks["s"].state == SUCCESS and run.results["s"] == {1, 2}
    assert "s: result not cached" in caplog.text


@pytest.mark.parametrize("workers", [1, 2])
def test_engine_errors_are_raised_not_swallowed(tmp_path, workers):
    def broken_key(kwargs):
        raise RuntimeError("cannot compute the key")

    dag = DAG("d", cache=ResultCache(tmp_path / "cache"), max_workers=workers)
    dag.add_task("a", lambda: 1, cache_key=broken_key)
    dag.add_task("b", lambda: 2, cache_key=broken_key)  # two ready tasks: the pool path
    with pytest.raises(RuntimeError, match="cannot compute the key"):
        dag.run()
