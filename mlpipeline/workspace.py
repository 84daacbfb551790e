"""A pipeline's default config with every output in one work directory, optionally small.

The tests, the lessons and the quick benchmarks all start here: the default config, its paths
pointed into `workdir` (the repository stays clean), the pipeline's small overlay
(`configs/small/<pipeline>.toml`) when asked, then the caller's overrides (dotted keys, as in
``python -m mlpipeline run --set KEY=VALUE``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from mlpipeline import pipelines
from mlpipeline.config import load_config
from mlpipeline.paths import CONFIGS


def small_overlay(pipeline: str) -> dict[str, Any]:
    """The overlay as dotted keys, two levels deep: a table value (the grid) replaces whole."""
    raw = tomllib.loads((CONFIGS / "small" / f"{pipeline}.toml").read_text(encoding="utf-8"))
    return {f"{section}.{key}": v for section, keys in raw.items() for key, v in keys.items()}


def config_in(
    workdir: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    pipeline: str = pipelines.DEFAULT,
    small: bool = True,
) -> Any:
    workdir = Path(workdir)
    p = pipelines.get(pipeline)
    values: dict[str, Any] = {
        "paths.registry": str(workdir / "registry"),
        "paths.artifacts": str(workdir / "runs"),
        "paths.cache": str(workdir / "cache"),
        "alerts.log": str(workdir / "alerts.jsonl"),
        # The pipeline's other paths (a landing zone, a state database) too, by their default's
        # file name: nothing a test or lesson runs writes into the repository.
        **{
            f"{section}.{key}": str(workdir / Path(default).name)
            for (section, key), default in p.config_type.PATH_KEYS.items()
            if default and section not in ("paths", "alerts")
        },
        **(small_overlay(pipeline) if small else {}),
        **(overrides or {}),
    }
    return load_config(p.default_config, values, config_type=p.config_type)
