"""Small worlds for the recsys data tests: about 10k events a day, seconds for the folder."""

from __future__ import annotations

import pytest

from mlpipeline.recsys.generator import GeneratorConfig, World

SMALL = GeneratorConfig(events_per_day=10_000, n_users=2_000, n_items=1_000, new_items_per_day=10)
DAY = "2026-03-02"


@pytest.fixture(scope="session")
def small_world() -> World:
    return World(SMALL)
