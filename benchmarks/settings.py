"""What a benchmark run measures: engines, sizes, rounds. Set by `python -m benchmarks run`."""

from __future__ import annotations

import os

ENGINES = [e for e in os.environ.get("BENCH_ENGINES", "direct,mock").split(",") if e]
QUICK = os.environ.get("BENCH_QUICK") == "1"

CHAIN_SIZES = (1, 10) if QUICK else (1, 10, 50, 100)
FANOUT = 5 if QUICK else 20
RETRY_FAILURES = (0, 1) if QUICK else (0, 1, 3)
BACKOFF_DELAY, BACKOFF_FACTOR = 0.1, 2.0  # the idiomatic series: waits 0.1, 0.2, 0.4 s
ROUNDS = 1 if QUICK else 5  # quick: one round checks the path
SLOW_ROUNDS = 1 if QUICK else 5  # full pipeline runs and cold starts
WARMUP = 0 if QUICK else 1  # quick: checks the path; its figures are never quoted
# bench_wiring: medians of a noisy, shared machine; quick mode runs it last, engines warm.
WIRING_ROUNDS = 1 if QUICK else 7
WIRING_WARMUP = 0 if QUICK else 1
