"""Orchestration overhead: chains of no-op tasks and a fan-out, against direct calls."""

from __future__ import annotations

import pytest

from benchmarks import settings
from benchmarks.conftest import record


def checked(fn, check):
    """Run `fn` and check its outcome on every round, not only the last."""

    def run(*args):
        outcome = fn(*args)
        check(outcome)
        return outcome

    return run


def _measure(benchmark, adapter, run, size: int) -> None:
    # Direct calls take nanoseconds: time many per round so the clock's resolution does not
    # dominate; engines take long enough for one.
    benchmark.pedantic(
        run,
        args=(size,),
        rounds=settings.ROUNDS,
        warmup_rounds=settings.WARMUP,
        iterations=1000 if adapter.engine == "direct" else 1,
    )


@pytest.mark.parametrize("n", settings.CHAIN_SIZES)
def test_chain(benchmark, adapter, n):
    record(benchmark, adapter, "chain", n=n, tasks=n)

    def check(outcome):
        assert outcome.value == n and outcome.tasks == n, outcome
        benchmark.extra_info["result"] = outcome.value  # the work's checksum

    _measure(benchmark, adapter, checked(adapter.chain, check), n)


def test_fanout(benchmark, adapter):
    k = settings.FANOUT
    record(benchmark, adapter, "fanout", n=k, tasks=k + 1)

    def check(outcome):
        assert outcome.value == k * (k - 1) // 2 and outcome.tasks == k + 1, outcome
        benchmark.extra_info["result"] = outcome.value

    _measure(benchmark, adapter, checked(adapter.fanout, check), k)
