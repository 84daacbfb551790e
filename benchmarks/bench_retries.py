"""The cost of a retry: a task that fails k times, with zero delay and with idiomatic backoff."""

from __future__ import annotations

import itertools

import pytest

from benchmarks import settings
from benchmarks.bench_overhead import checked
from benchmarks.conftest import record

_rounds = itertools.count()


def _flaky_round(benchmark, adapter, failures, delay, backoff, tmp_path_factory):
    def setup():  # a fresh attempt counter every round
        return (failures, delay, backoff, tmp_path_factory.mktemp(f"flaky{next(_rounds)}")), {}

    def check(outcome):
        assert outcome.value == "ok" and outcome.attempts["flaky"] == failures + 1, outcome
        benchmark.extra_info["attempts"] = outcome.attempts["flaky"]

    return setup, checked(adapter.flaky, check)


@pytest.mark.parametrize("failures", settings.RETRY_FAILURES)
def test_retry_zero_delay(benchmark, adapter, failures, tmp_path_factory):
    record(benchmark, adapter, "retry", failures=failures, delay=0.0)
    setup, run = _flaky_round(benchmark, adapter, failures, 0.0, 1.0, tmp_path_factory)
    benchmark.pedantic(run, setup=setup, rounds=settings.ROUNDS, warmup_rounds=settings.WARMUP)


def test_retry_backoff(benchmark, adapter, tmp_path_factory):
    """Two failures with 0.1 s then 0.2 s waits: the run must take at least 0.3 s."""
    failures, delay, factor = 2, settings.BACKOFF_DELAY, settings.BACKOFF_FACTOR
    configured = sum(delay * factor**i for i in range(failures))
    record(
        benchmark,
        adapter,
        "retry-backoff",
        failures=failures,
        delay=delay,
        backoff=factor,
        configured_wait=configured,
    )
    setup, run = _flaky_round(benchmark, adapter, failures, delay, factor, tmp_path_factory)
    benchmark.pedantic(run, setup=setup, rounds=settings.SLOW_ROUNDS, warmup_rounds=0)
    assert benchmark.stats.stats.min >= configured, "the configured retry delays were not honoured"
