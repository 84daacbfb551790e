"""The weather pipeline's graph, derived from its step declarations (`mlpipeline.steps`).

Kept as module constants because lessons and tests read them by these names; nothing here is
typed by hand. Other pipelines: `mlpipeline.pipelines.get(name).graph` and friends.
"""

from __future__ import annotations

from types import MappingProxyType

from mlpipeline.steps import WEATHER

GRAPH = MappingProxyType(WEATHER.graph)  # node -> the nodes it depends on
STEPS: tuple[str, ...] = WEATHER.order
EDGES: frozenset[tuple[str, str]] = WEATHER.edges
CACHEABLE: frozenset[str] = WEATHER.cacheable
CONFIG_SECTIONS: dict[str, tuple[str, ...]] = {n: s.reads for n, s in WEATHER.steps.items()}
