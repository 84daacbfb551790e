"""The full ML pipeline: cache cold versus warm, and end to end with the time inside the steps
separated from the time around them."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

from benchmarks import settings
from benchmarks.bench_overhead import checked
from benchmarks.conftest import record
from benchmarks.workload import pipeline_config
from mlpipeline import artifacts
from mlpipeline.graph import CACHEABLE, STEPS
from mlpipeline.runs import TIMINGS

_ids = itertools.count()


def engines_only(fn):
    fn.engines_only = True  # no cache to measure without an engine
    return fn


def _hits(result) -> int:
    return sum(t.cache_hit for t in result.tasks.values())


@engines_only
def test_cache_cold(benchmark, adapter, tmp_path_factory):
    record(benchmark, adapter, "cache-cold")

    def setup():  # an empty cache every round
        return (pipeline_config(tmp_path_factory.mktemp("cold")), f"cold-{next(_ids)}"), {}

    def check(result):
        assert result.ok and _hits(result) == 0, result.error
        benchmark.extra_info["model_sha256"] = result.model_sha256

    benchmark.pedantic(
        checked(adapter.pipeline, check), setup=setup, rounds=settings.SLOW_ROUNDS, warmup_rounds=0
    )


@engines_only
def test_cache_warm(benchmark, adapter, tmp_path_factory):
    cfg = pipeline_config(tmp_path_factory.mktemp("warm"))
    assert adapter.pipeline(cfg, "prime").ok  # fills the cache (not timed)
    record(benchmark, adapter, "cache-warm", cached_tasks=len(CACHEABLE))

    def check(result):
        assert result.ok and _hits(result) == len(CACHEABLE), (_hits(result), result.error)
        assert result.registration["promoted"] is False  # same model: nothing to promote
        benchmark.extra_info["model_sha256"] = result.model_sha256

    benchmark.pedantic(
        checked(adapter.pipeline, check),
        args=(cfg, f"warm-{next(_ids)}"),
        setup=None,
        rounds=settings.SLOW_ROUNDS,
        warmup_rounds=settings.WARMUP,
    )


def busy_seconds(timings: list[dict]) -> float:
    """Seconds during which at least one step ran: overlapping (mapped) runs count once."""
    total, covered = 0.0, float("-inf")
    for start, end in sorted((t["start"], t["start"] + t["seconds"]) for t in timings):
        total += max(0.0, end - max(start, covered))
        covered = max(covered, end)
    return total


def test_end_to_end(benchmark, adapter, tmp_path_factory):
    """Cache off, fresh outputs every round; the steps time themselves (timings.jsonl)."""
    inside: list[float] = []
    record(benchmark, adapter, "end-to-end", inside_steps=inside)

    def setup():
        cfg = pipeline_config(tmp_path_factory.mktemp("e2e"), cache__enabled=False)
        return (cfg, f"e2e-{next(_ids)}"), {}

    def check(result):
        assert result.ok, result.error
        assert result.model_sha256 and result.registration["version"] == 1
        timings = artifacts.read_jsonl(Path(result.run_dir) / TIMINGS)
        # One line per step run: a mapped step (Prefect's tune_model) has one per candidate.
        assert {t["step"] for t in timings} == set(STEPS)
        inside.append(busy_seconds(timings))
        benchmark.extra_info["model_sha256"] = result.model_sha256

    benchmark.pedantic(
        checked(adapter.pipeline, check),
        setup=setup,
        rounds=settings.SLOW_ROUNDS,
        warmup_rounds=settings.WARMUP,
    )
    del inside[: settings.WARMUP]  # the warm-up round is not reported
    benchmark.extra_info["inside_steps_median"] = statistics.median(inside)
