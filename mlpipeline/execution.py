"""Running one declared step, the same way under every engine.

`run_step` is what each engine's task calls: it makes the step's output directory, turns the
upstream directories into `StepOutput` handles, and around the step body records its timing,
announces progress and injects the faults a lesson or test asked for. `reuse_or_run` adds the
artifact reuse that stands in for an input cache where an engine has none (Airflow).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mlpipeline import artifacts, faults, progress
from mlpipeline.pipeline import Pipeline
from mlpipeline.runs import REUSED, RUN_LOG, TIMINGS

log = logging.getLogger("mlpipeline")


def output_dir(run_dir: str | Path, step: str, index: int | None = None) -> Path:
    out = Path(run_dir) / step
    return out if index is None else out / f"{index:03d}"


def handles(pipeline: Pipeline, step: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Upstream directories (a list for a mapped upstream) as handles on their declared files."""
    s = pipeline.steps[step]
    wrapped: dict[str, Any] = {}
    for arg, upstream in s.inputs.items():
        value, producer = inputs[arg], pipeline.steps[upstream]
        wrapped[arg] = (
            [producer.output(v) for v in value] if producer.mapped else producer.output(value)
        )
    return wrapped


def run_step(
    pipeline: Pipeline,
    step: str,
    cfg: Any,
    run_dir: str | Path,
    index: int | None = None,
    **inputs: Any,
) -> str:
    """Run one step (or one instance of a mapped step); return its output directory."""
    s = pipeline.steps[step]
    if s.mapped != (index is not None):
        raise TypeError(f"{step}: a mapped step needs an instance index, others none")
    progress.emit(step, "running")
    started = time.time()
    try:
        faults.inject(step, cfg.faults.get(step), run_dir, index)
        out = output_dir(run_dir, step, index)
        out.mkdir(parents=True, exist_ok=True)
        extra = {s.map_arg: index} if s.mapped else {}
        s.fn(cfg, s.output(out), **handles(pipeline, step, inputs), **extra)
    except BaseException:
        progress.emit(step, "failed")
        raise
    finally:
        # Time inside the step, whatever the engine: benchmarks subtract it from wall time.
        artifacts.append_jsonl(
            Path(run_dir) / TIMINGS,
            {"step": step, "index": index, "start": started, "seconds": time.time() - started},
            durable=False,  # a measurement, not an artifact: no fsync per step (~20 ms)
        )
    log.info("%s wrote %s", step, out)
    progress.emit(step, "done")
    return str(out)


def reuse_or_run(
    pipeline: Pipeline,
    step: str,
    cfg: Any,
    run_dir: str | Path,
    store: str,
    index: int | None = None,
    **inputs: Any,
) -> str:
    """Return the stored output whose key (code, config, inputs, files) matches, else run the
    step and store its output under that key. `store` names the engine's cache folder."""
    from mlpipeline.caching import ResultCache, step_cache_key
    from mlpipeline.logs import logging_to

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    reuse = cfg.cache.enabled and pipeline.steps[step].cacheable
    cache = ResultCache(Path(cfg.paths.cache) / store, cfg.cache.expiration_seconds)
    key = step_cache_key(pipeline.steps[step], cfg, inputs, index) if reuse else ""
    if reuse and (stored := cache.get(step, key)):
        artifacts.append_jsonl(run_dir / REUSED, {"step": step, "index": index, "key": key})
        progress.emit(step, "cached")
        return stored["value"]
    with logging_to(run_dir / RUN_LOG):
        path = run_step(pipeline, step, cfg, run_dir, index, **inputs)
    if reuse:
        cache.put(step, key, path)
    return path
