"""Task options that come from a run's config: retries, waits, timeout and the cache store."""

from __future__ import annotations

from typing import Any, ParamSpec, TypeVar

from prefect.tasks import Task

from mlpipeline import pipelines
from mlpipeline.config import OrchestrationConfig
from prefect_impl.cache import cache_options

P = ParamSpec("P")
R = TypeVar("R")


def retry_delays(o: OrchestrationConfig) -> list[float]:
    """Seconds before each retry: delay * backoff**i, capped.

    With the default factor 2 this is `prefect.tasks.exponential_backoff(delay)`, which doubles
    every wait and has no cap; the config may choose another factor and a cap, and
    `retry_delay_seconds` takes the list as well. Prefect adds `retry_jitter_factor` on top.
    """
    return [
        min(o.retry_max_delay_seconds, o.retry_delay_seconds * o.retry_backoff**i)
        for i in range(o.retries)
    ]


def configured(task: Task[P, R], cfg: Any) -> Task[P, R]:
    """`task` with this run's retries and (for a cacheable step) cache settings. No
    `timeout_seconds`: `attempts.run_step` enforces the deadline (attempts.py says why)."""
    o = cfg.orchestration
    cacheable = pipelines.for_config(cfg).steps[task.name].cacheable
    return task.with_options(
        retries=o.retries,
        retry_delay_seconds=retry_delays(o),
        retry_jitter_factor=o.retry_jitter,
        **(cache_options(cfg) if cacheable else {}),
    )
