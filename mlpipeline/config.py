"""One typed, frozen configuration, loaded from TOML and validated once.

Every section is a frozen (pydantic) dataclass. Unknown keys, wrong types and impossible values
are refused with a message naming the key. Relative paths are resolved against the directory of
the TOML file, so a config works from any working directory.

Airflow receives it flattened as `params` (`to_params`: ``{"features_lags": [0, 1], ...}``) and
rebuilds it with `from_params`; Prefect takes it whole as one typed flow parameter.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import tomllib
from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from mlpipeline.errors import ConfigError
from mlpipeline.graph import STEPS

_STRICT = ConfigDict(extra="forbid")

NonNegInt = Annotated[StrictInt, Field(ge=0)]
PosInt = Annotated[StrictInt, Field(ge=1)]
Number = StrictInt | StrictFloat
NonNegFloat = Annotated[Number, Field(ge=0)]
Name = Annotated[StrictStr, Field(min_length=1)]

# Hyperparameters a grid may name, and the range each accepts.
GRID_KEYS: dict[str, tuple[type, float, float]] = {
    "max_depth": (int, 1, 32),
    "n_estimators": (int, 1, 10_000),
    "learning_rate": (float, 1e-6, 1.0),
    "min_child_weight": (float, 0, 1e6),
    "subsample": (float, 1e-6, 1.0),
    "colsample_bytree": (float, 1e-6, 1.0),
    "reg_lambda": (float, 0, 1e6),
    "reg_alpha": (float, 0, 1e6),
    "gamma": (float, 0, 1e6),
}


@dataclass(frozen=True, config=_STRICT)
class DataConfig:
    path: Name
    time_column: Name
    time_format: Name
    feature_columns: Annotated[tuple[Name, ...], Field(min_length=1)]
    missing: Literal["fail", "drop", "ffill"] = "fail"
    min_rows: PosInt = 50
    # Exclusive end of the data window (ISO date); "" means all rows. Airflow sets it from the
    # run's data interval so a backfill sees only what was known then.
    as_of: StrictStr = ""

    @field_validator("feature_columns")
    @classmethod
    def _unique_columns(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("names a column twice")
        return v

    @field_validator("as_of")
    @classmethod
    def _iso_date(cls, v: str) -> str:
        if v:
            try:
                datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(f"must be an ISO date like 2015-06-01, got {v!r}") from None
        return v


@dataclass(frozen=True, config=_STRICT)
class TargetConfig:
    """Binary target: ``column[t + horizon] <operator> threshold``."""

    column: Name
    horizon: PosInt = 1
    operator: Literal[">", ">=", "<", "<="] = ">"
    threshold: Number = 0.0


@dataclass(frozen=True, config=_STRICT)
class FeaturesConfig:
    lags: tuple[NonNegInt, ...] = (0, 1, 2, 7)  # 0 is the value at t itself
    windows: tuple[Annotated[StrictInt, Field(ge=2)], ...] = (3, 7)
    stats: Annotated[tuple[Literal["mean", "std", "min", "max"], ...], Field(min_length=1)] = (
        "mean",
        "std",
        "min",
        "max",
    )

    @field_validator("lags", "windows", "stats")
    @classmethod
    def _no_repeats(cls, v: tuple) -> tuple:
        if len(set(v)) != len(v):
            raise ValueError("lists a value twice")
        return v


@dataclass(frozen=True, config=_STRICT)
class SplitConfig:
    holdout_fraction: Annotated[Number, Field(gt=0, le=0.5)] = 0.2


@dataclass(frozen=True, config=_STRICT)
class TuningConfig:
    grid: dict[str, Annotated[list[Number], Field(min_length=1)]]
    cv_folds: Annotated[StrictInt, Field(ge=2, le=50)] = 4
    metric: Literal["roc_auc", "accuracy", "balanced_accuracy", "f1"] = "roc_auc"

    @field_validator("grid")
    @classmethod
    def _known_hyperparameters(cls, grid: dict[str, list]) -> dict[str, list]:
        if not grid:
            raise ValueError("needs at least one hyperparameter")
        for key, values in grid.items():
            if key not in GRID_KEYS:
                raise ValueError(f"unknown hyperparameter {key!r}; known: {', '.join(GRID_KEYS)}")
            kind, low, high = GRID_KEYS[key]
            for v in values:
                if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
                    raise ValueError(f"{key}: {v!r} is not an integer")
                if not (low <= v <= high) or not math.isfinite(v):
                    raise ValueError(f"{key}: {v!r} is outside [{low}, {high}]")
            if len(set(values)) != len(values):
                raise ValueError(f"{key}: lists a value twice")
        return grid


@dataclass(frozen=True, config=_STRICT)
class TrainingConfig:
    seed: NonNegInt = 42
    n_jobs: PosInt = 1  # fixed thread count: part of what makes model bytes reproducible
    decision_threshold: Annotated[Number, Field(gt=0, lt=1)] = 0.5


@dataclass(frozen=True, config=_STRICT)
class GateConfig:
    min_accuracy: Annotated[Number, Field(ge=0, le=1)] = 0.6
    min_improvement_over_baseline: Annotated[Number, Field(ge=-1, le=1)] = 0.01
    # Refuse a candidate that scores below the production model on the same holdout.
    compare_with_production: StrictBool = True


@dataclass(frozen=True, config=_STRICT)
class PathsConfig:
    registry: Name = "var/registry"
    artifacts: Name = "var/runs"
    cache: Name = "var/cache"


@dataclass(frozen=True, config=_STRICT)
class CacheConfig:
    enabled: StrictBool = True
    expiration_seconds: NonNegInt = 0  # 0: entries never expire


@dataclass(frozen=True, config=_STRICT)
class OrchestrationConfig:
    """Retry and timeout policy, mapped onto each engine's own knobs."""

    retries: Annotated[StrictInt, Field(ge=0, le=20)] = 2
    retry_delay_seconds: NonNegFloat = 1.0
    retry_backoff: Annotated[Number, Field(ge=1)] = 2.0
    retry_max_delay_seconds: NonNegFloat = 30.0
    retry_jitter: Annotated[Number, Field(ge=0, le=1)] = 0.1
    task_timeout_seconds: Annotated[Number, Field(gt=0)] = 600.0


@dataclass(frozen=True, config=_STRICT)
class AlertsConfig:
    log: Name = "var/alerts.jsonl"
    email_to: tuple[Name, ...] = ()
    smtp_host: StrictStr = ""  # "" disables e-mail
    smtp_port: Annotated[StrictInt, Field(ge=1, le=65535)] = 25


@dataclass(frozen=True, config=_STRICT)
class TrackingConfig:
    """MLflow tracking (see `mlpipeline.tracking`) and the registry backend."""

    enabled: StrictBool = True
    # Where the embedded store lives: SQLite file and artifact root, no server needed.
    store: Name = "var/mlflow"
    # "" uses the embedded store; else a tracking URI such as http://127.0.0.1:19500.
    uri: StrictStr = ""
    experiment: Name = "seattle-weather"  # one experiment per pipeline
    registry_backend: Literal["file", "mlflow"] = "file"
    registered_model: Name = "seattle-weather"  # the MLflow Model Registry name


@dataclass(frozen=True, config=_STRICT)
class DeploymentConfig:
    """The integration test between `staging` and `production` (`mlpipeline.deployment`)."""

    latency_budget_ms: Annotated[Number, Field(gt=0)] = 50.0  # p99 of one single-row prediction
    latency_samples: Annotated[StrictInt, Field(ge=10, le=100_000)] = 200
    smoke_rows: Annotated[StrictInt, Field(ge=1)] = 64
    accuracy_tolerance: Annotated[Number, Field(ge=0, le=1)] = 1e-9


@dataclass(frozen=True, config=_STRICT)
class PipelineConfig:
    data: DataConfig
    target: TargetConfig
    tuning: TuningConfig
    features: FeaturesConfig = FeaturesConfig()
    split: SplitConfig = SplitConfig()
    training: TrainingConfig = TrainingConfig()
    gate: GateConfig = GateConfig()
    paths: PathsConfig = PathsConfig()
    cache: CacheConfig = CacheConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
    alerts: AlertsConfig = AlertsConfig()
    tracking: TrackingConfig = TrackingConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    # For teaching and tests: step name -> how many times it fails before succeeding (-1: always).
    faults: dict[str, Annotated[StrictInt, Field(ge=-1)]] = Field(default_factory=dict)

    @field_validator("faults")
    @classmethod
    def _known_steps(cls, v: dict[str, int]) -> dict[str, int]:
        for name in v:
            if name not in STEPS:
                raise ValueError(f"unknown step {name!r}; steps: {', '.join(STEPS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        if self.data.time_column in self.data.feature_columns:
            raise ValueError("data.feature_columns: must not include data.time_column")
        return self

    # -- flat mapping onto engine parameters -------------------------------------------------
    def to_params(self) -> dict[str, Any]:
        """Flatten to ``{"section_key": json_value}`` (Airflow params, CLI overrides)."""
        flat: dict[str, Any] = {}
        for section in SECTIONS:
            value = getattr(self, section)
            if section == "faults":
                flat["faults"] = dict(value)
                continue
            for key, v in dataclasses.asdict(value).items():
                flat[f"{section}_{key}"] = _jsonable(v)
        return flat

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PipelineConfig:
        nested: dict[str, Any] = {}
        for flat_key, value in params.items():
            section = next(
                (s for s in SECTIONS if flat_key == s or flat_key.startswith(s + "_")), None
            )
            if section is None:
                raise ConfigError(f"unknown parameter {flat_key!r}")
            if section == "faults":
                nested["faults"] = value
            else:
                nested.setdefault(section, {})[flat_key[len(section) + 1 :]] = value
        return validate(nested)

    def section_json(self, *sections: str) -> str:
        """Canonical JSON of some sections: part of each step's cache key."""
        return json.dumps(
            {s: _jsonable(dataclasses.asdict(getattr(self, s))) for s in sections}, sort_keys=True
        )


SECTIONS = tuple(f.name for f in dataclasses.fields(PipelineConfig))
# Keys holding paths, with their defaults: all are resolved against the config file's directory.
_PATH_KEYS = {
    ("data", "path"): None,
    ("paths", "registry"): PathsConfig.registry,
    ("paths", "artifacts"): PathsConfig.artifacts,
    ("paths", "cache"): PathsConfig.cache,
    ("alerts", "log"): AlertsConfig.log,
    ("tracking", "store"): TrackingConfig.store,
}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def validate(raw: dict[str, Any], source: str = "config") -> PipelineConfig:
    try:
        return TypeAdapter(PipelineConfig).validate_python(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e, source)) from None


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} problem(s)"]
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            msg = "unknown key"
        elif err["type"] == "missing_argument" or err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and not isinstance(err["input"], dict):
            msg += f" (got {err['input']!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read a TOML file; `overrides` are dotted keys (``{"paths.registry": "/tmp/r"}``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: config file not found" if not path.exists() else f"{path}: is not a file"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
        node[leaf] = value
    base = path.resolve().parent
    for (section, key), default in _PATH_KEYS.items():
        sect = raw.setdefault(section, {})
        if not isinstance(sect, dict):
            continue  # validation names the problem
        value = sect.get(key, default)
        if isinstance(value, str) and value:
            sect[key] = str((base / value).resolve())
    return validate(raw, source=str(path))
