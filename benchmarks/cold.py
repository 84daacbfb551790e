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

ENGINE_IMPORTS = {
    "direct": "benchmarks.adapters",
    "mock": "mock_impl.engine",
    "airflow": "airflow.sdk",
    "prefect": "prefect",
}

# Engines that read their home once, on import: point it at the fresh directory before that.
HOME_VARIABLES = {"airflow": "AIRFLOW_HOME"}


def main(engine: str, variant: str) -> None:
    if engine in HOME_VARIABLES and os.environ.get("BENCH_COLD_HOME"):
        os.environ[HOME_VARIABLES[engine]] = os.environ["BENCH_COLD_HOME"]
    t0 = time.perf_counter()
    importlib.import_module(ENGINE_IMPORTS[engine])
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
