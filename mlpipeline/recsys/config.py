"""The recommender pipeline's typed, frozen configuration (`configs/recsys.toml`).

Same rules as the weather pipeline's `mlpipeline.config`: pydantic frozen dataclasses, unknown
keys refused, a range on every number, relative paths resolved against the TOML file's folder,
one `ConfigError` naming every bad key. The shared sections (paths, cache, orchestration,
alerts) are the weather pipeline's own classes.

Sections: ``data`` (where a day comes from), ``generator`` (the simulated traffic, see
`mlpipeline.recsys.generator.GeneratorConfig`), ``profiles`` (the state database), then the
model half's sections (features, training, evaluation, gate) where marked below.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from mlpipeline import config as shared
from mlpipeline.config import (
    SHARED_PATH_KEYS,
    AlertsConfig,
    CacheConfig,
    DeploymentConfig,
    FlatParams,
    OrchestrationConfig,
    PathsConfig,
    TrackingConfig,
)
from mlpipeline.recsys.generator import GeneratorConfig
from mlpipeline.recsys.model_config import (
    RecsysEvaluationConfig,
    RecsysFeaturesConfig,
    RecsysGateConfig,
    RecsysTrainingConfig,
)

_STRICT = ConfigDict(extra="forbid")
Name = Annotated[StrictStr, Field(min_length=1)]
Weight = Annotated[StrictInt | StrictFloat, Field(ge=0, le=1e6)]
RECSYS_STEPS = (
    "extract",
    "merge_profiles",
    "build_features",
    "train_model",
    "evaluate_ab",
    "gate_model",
    "register_model",
    "integration_test",
    "promote_model",
)


@dataclass(frozen=True, config=_STRICT)
class ColumnsConfig:
    """Column names in a user's own interaction file (``data.source = "file"``).

    ``event_type``, ``weight`` and ``event_id`` are optional ("" = absent): without an event
    type every row is a "view"; without a weight a row weighs its type's weight; without an
    event id a row's id is a hash of its values, so only exact repeats count as duplicates.
    """

    user: Name = "user_id"
    item: Name = "item_id"
    timestamp: Name = "ts"
    event_type: StrictStr = ""
    weight: StrictStr = ""
    event_id: StrictStr = ""
    # "" reads ISO 8601 text (or a Parquet timestamp); "unix_s"/"unix_ms" read numbers;
    # anything else is a strftime format. Times without a zone are taken as UTC.
    time_format: StrictStr = ""

    @model_validator(mode="after")
    def _distinct(self) -> ColumnsConfig:
        used = [c for c in (self.user, self.item, self.timestamp) if c]
        used += [c for c in (self.event_type, self.weight, self.event_id) if c]
        if len(set(used)) != len(used):
            raise ValueError("names one column for two roles")
        return self


@dataclass(frozen=True, config=_STRICT)
class EventWeightsConfig:
    """How much one event of each type says about a taste (implicit-feedback weights)."""

    view: Weight = 1.0
    click: Weight = 3.0
    purchase: Weight = 10.0


@dataclass(frozen=True, config=_STRICT)
class RecsysDataConfig:
    # "landing": the day's partition landing/date=YYYY-MM-DD/part-0.parquet (the generator's
    # output or any producer's). "file": a user's CSV or Parquet file at `path`.
    source: Literal["landing", "file"] = "landing"
    landing: Name = "var/recsys/landing"
    path: StrictStr = ""
    # The run's day (ISO). "" with source="file" takes the whole file as one delivery.
    date: StrictStr = ""
    columns: ColumnsConfig = ColumnsConfig()
    event_weights: EventWeightsConfig = EventWeightsConfig()
    # Late events are kept and attributed to the day they landed, if at most this many days
    # old; older ones, and events stamped after the day's end, are dropped and counted.
    max_lateness_days: Annotated[StrictInt, Field(ge=0, le=365)] = 3
    # Fewer distinct events than this after cleaning fails the run (an empty day is a DataError).
    min_events: Annotated[StrictInt, Field(ge=1, le=1_000_000_000)] = 1

    @field_validator("date")
    @classmethod
    def _iso_date(cls, v: str) -> str:
        return shared.iso_date(v, date.fromisoformat, "2026-03-01")

    @model_validator(mode="after")
    def _source_needs(self) -> RecsysDataConfig:
        if self.source == "file" and not self.path:
            raise ValueError("source = 'file' needs data.path")
        if self.source == "landing" and not self.date:
            raise ValueError("source = 'landing' needs data.date (the partition to extract)")
        return self


@dataclass(frozen=True, config=_STRICT)
class ProfilesConfig:
    # Embedded DuckDB file holding the profile state; one writer at a time (a file lock).
    db: Name = "var/recsys/profiles.duckdb"
    lock_timeout_seconds: Annotated[StrictInt | StrictFloat, Field(gt=0, le=86_400)] = 600.0
    # DuckDB's own limits: threads (0: all cores) and memory ("2GB"; "": DuckDB's 80% of RAM).
    threads: Annotated[StrictInt, Field(ge=0, le=256)] = 0
    memory_limit: StrictStr = ""

    @field_validator("lock_timeout_seconds")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be finite")
        return v


@dataclass(frozen=True, config=_STRICT)
class RecsysConfig(FlatParams):
    data: RecsysDataConfig
    generator: GeneratorConfig = GeneratorConfig()
    profiles: ProfilesConfig = ProfilesConfig()
    # -- the model half's sections (mlpipeline.recsys.model_config) ---------------------------
    features: RecsysFeaturesConfig = RecsysFeaturesConfig()
    training: RecsysTrainingConfig = RecsysTrainingConfig()
    evaluation: RecsysEvaluationConfig = RecsysEvaluationConfig()
    gate: RecsysGateConfig = RecsysGateConfig()
    paths: PathsConfig = PathsConfig()
    cache: CacheConfig = CacheConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
    alerts: AlertsConfig = AlertsConfig()
    # MLflow: its own experiment, in the same store as the weather pipeline (one dashboard).
    tracking: TrackingConfig = TrackingConfig(experiment="recsys", registered_model="recsys")
    deployment: DeploymentConfig = DeploymentConfig()
    # For teaching and tests: step name -> how many times it fails before succeeding (-1: always).
    faults: dict[str, Annotated[StrictInt, Field(ge=-1)]] = Field(default_factory=dict)

    @field_validator("faults")
    @classmethod
    def _known_steps(cls, v: dict[str, int]) -> dict[str, int]:
        for name in v:
            if name not in RECSYS_STEPS:
                raise ValueError(f"unknown step {name!r}; steps: {', '.join(RECSYS_STEPS)}")
        return v


# Keys holding paths, with their defaults: resolved against the config file's directory.
RecsysConfig.PATH_KEYS = {
    ("data", "landing"): RecsysDataConfig.landing,
    ("data", "path"): None,
    ("profiles", "db"): ProfilesConfig.db,
    ("tracking", "store"): TrackingConfig.store,
    **SHARED_PATH_KEYS,
}


def validate(raw: dict[str, Any], source: str = "config") -> RecsysConfig:
    return shared.validate(raw, source, config_type=RecsysConfig)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RecsysConfig:
    """Read a recsys TOML file; `overrides` are dotted keys (``{"data.date": "2026-03-01"}``)."""
    return shared.load_config(path, overrides, config_type=RecsysConfig)
