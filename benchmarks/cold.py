"""One cold start, in a fresh interpreter: ``python -m benchmarks.cold ENGINE VARIANT``.

Prints the phases as JSON: importing the engine, its set-up (database, server), the first run
of a one-task chain, and a second run for comparison.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

from mlpipeline.engines import MEASURED


def main(engine: str, variant: str) -> None:
    spec = MEASURED[engine]
    # An engine that reads its home once, on import: point it at the fresh directory first.
    if spec.home_variable and os.environ.get("BENCH_COLD_HOME"):
        os.environ[spec.home_variable] = os.environ["BENCH_COLD_HOME"]
    t0 = time.perf_counter()
    importlib.import_module(spec.imports)
    from benchmarks import adapters

    adapter = adapters.load(engine, variant)
    t1 = time.perf_counter()
    adapter.start()
    t2 = time.perf_counter()
    assert adapter.chain(1).value == 1
    t3 = time.perf_counter()
    assert adapter.chain(1).value == 1
    t4 = time.perf_counter()
    adapter.stop()
    print(
        json.dumps(
            {"import": t1 - t0, "setup": t2 - t1, "first_run": t3 - t2, "second_run": t4 - t3}
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
