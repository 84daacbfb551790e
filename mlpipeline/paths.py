"""Where the repository keeps its configs and data: the one definition of each default path.

Absolute, from this file's location, so the CLI and the console script work from any directory
(the project is used as an editable install: configs and data are not package data).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
WEATHER_CONFIG = CONFIGS / "seattle_weather.toml"
# Applied over any pipeline's config by tests, lessons and quick benchmarks: small but real.
SMALL_OVERLAY = CONFIGS / "overlays" / "small.toml"
WEATHER_DATA = ROOT / "data" / "seattle-weather.csv"
