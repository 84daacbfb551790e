"""The engines can only produce the same bits if they compute with the same libraries: every
environment's lock must pin the same versions of them."""

from __future__ import annotations

import re

from mlpipeline.caching import _LIBRARIES
from mlpipeline.paths import ROOT

LOCKS = ("mock", "airflow", "prefect")
COMPUTE = (*_LIBRARIES, "scipy", "pandera")


def pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.M))


def test_every_lock_pins_the_same_compute_libraries():
    locks = {name: pins(name) for name in LOCKS}
    for lib in COMPUTE:
        # xgboost ships as xgboost-cpu on Linux (6 MB instead of 130+ MB of NVIDIA libraries)
        versions = {name: lock.get(lib) or lock.get(f"{lib}-cpu") for name, lock in locks.items()}
        assert None not in versions.values(), f"{lib} is not pinned in every lock: {versions}"
        assert len(set(versions.values())) == 1, f"{lib} differs between locks: {versions}"


def test_engines_are_pinned_to_their_tested_series():
    assert pins("airflow")["apache-airflow"].startswith("3.3.")
    assert pins("prefect")["prefect"].startswith("3.8.")
    fastapi = tuple(int(x) for x in pins("prefect")["fastapi"].split(".")[:2])
    assert fastapi < (0, 151), "fastapi 0.155+ breaks Prefect 3.8's server"
