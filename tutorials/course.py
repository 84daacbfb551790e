"""Small helpers the lessons share: where the project is, a fast config, engine checks.

Kept tiny on purpose: everything else a lesson uses is the project's own API (`mlpipeline`,
`mock_impl`, `airflow_impl`, `prefect_impl`), imported in the lesson where you can read it.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from mlpipeline import engines, workspace
from mlpipeline.config import PipelineConfig
from mlpipeline.paths import ROOT, WEATHER_CONFIG, WEATHER_DATA

__all__ = [
    "CONFIG",
    "DATA",
    "ROOT",
    "SMALL",
    "draw_dag",
    "engine_ready",
    "show",
    "small_config",
    "workdir",
]
CONFIG, DATA = WEATHER_CONFIG, WEATHER_DATA  # the names the lessons use

# Prefect's first flow in a process starts a local API server; on a loaded 2-core machine that
# took longer than Prefect's default wait (20 s) once. Lessons and exercises wait up to 120 s.
# Set here, before any lesson imports Prefect, and only if the learner has not chosen a value.
STARTUP_TIMEOUT = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
os.environ.setdefault(STARTUP_TIMEOUT, "120")

# The default config tunes six candidates with four folds; lessons use the small overlay of the
# tests (configs/small/weather.toml): two candidates, three folds, retries without waiting.
SMALL: dict[str, Any] = workspace.small_overlay("weather")


def workdir(lesson: str) -> Path:
    """A fresh temporary directory for a lesson's outputs: the repository stays clean."""
    return Path(tempfile.mkdtemp(prefix=f"{lesson}-"))


def small_config(work: Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The default config with every output under `work`, the small grid and `overrides`
    (dotted keys, as in ``python -m mlpipeline run --set KEY=VALUE``)."""
    return workspace.config_in(work, overrides)


def engine_ready(name: str) -> bool:
    """True if `name` can run here; otherwise print one line saying where it can."""
    if engines.is_available(name):
        return True
    env = engines.ENGINES[name].tox_env
    print(
        f"{engines.ENGINES[name].title} is not installed in this environment: "
        f"run `tox -e {env}-tutorials` to execute this section"
    )
    return False


def show(fig: Any, name: str) -> None:
    """Display a matplotlib `Figure` in a notebook, or save it under `var/tutorials/` when the
    lesson runs as a script. PNG at 120 dpi: readable at full width."""
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    try:
        from IPython.display import Image, display

        get_ipython  # type: ignore[name-defined]  # noqa: B018 - defined only inside IPython
        display(Image(png.getvalue()))
    except NameError:
        path = ROOT / "var" / "tutorials" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png.getvalue())
        print(f"plot saved: {path.relative_to(ROOT)}")


def draw_dag(graph: dict[str, Any], title: str, name: str) -> None:
    """Draw a graph in `graphlib`'s format (task -> the tasks it depends on), full width."""
    from matplotlib.figure import Figure

    from mlpipeline import plotting

    rows = max(len(layer) for layer in plotting.dag_layers(graph))
    fig = Figure(figsize=(12, 2.4 + 0.8 * rows))
    plotting.plot_dag(fig.subplots(), graph, title=title)
    show(fig, name)
