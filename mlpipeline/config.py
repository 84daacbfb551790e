"""One typed, frozen configuration, loaded from TOML and validated once.

Every section is a frozen (pydantic) dataclass. Unknown keys, wrong types and impossible values
are refused with a message naming the key. Relative paths are resolved against the directory of
the TOML file, so a config works from any working directory.

Every number has a finite, sane range: no infinity or NaN anywhere (TOML allows both), and an
upper bound on every count, delay and timeout, so that no engine is handed a value it cannot
honour (a timeout of 1e300 s overflows Airflow's timedelta and Python's thread waits).
tests/steps/test_config_fuzz.py holds the loader to it: any config loads or names its bad key.

Airflow receives it flattened as `params` (`to_params`: ``{"features_lags": [0, 1], ...}``) and
rebuilds it with `from_params`; Prefect takes it whole as one typed flow parameter.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
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

_STRICT = ConfigDict(extra="forbid")

# Upper bounds: generous for any real use, small enough for every engine to honour.
MAX_COUNT = 10_000_000  # rows, lags, windows
DAY = 86_400.0

Number = StrictInt | Annotated[StrictFloat, AllowInfNan(False)]  # finite
Seconds = Annotated[Number, Field(ge=0, le=DAY)]
Name = Annotated[StrictStr, Field(min_length=1)]


def iso_date(v: str, parse: Callable[[str], Any], example: str) -> str:
    """A validator's body: `v` empty or an ISO date that `parse` accepts."""
    if v:
        try:
            parse(v)
        except ValueError:
            raise ValueError(f"must be an ISO date like {example}, got {v!r}") from None
    return v


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
    # Missing values (empty cells, NaN) follow this policy. Infinite values (inf, -inf) are always
    # refused, whatever the policy: they are not gaps but broken readings, and dropping or
    # forward-filling them would hide that (data.validate reports them per column with lines).
    missing: Literal["fail", "drop", "ffill"] = "fail"
    min_rows: Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)] = 50
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
        return iso_date(v, datetime.fromisoformat, "2015-06-01")


@dataclass(frozen=True, config=_STRICT)
class TargetConfig:
    """Binary target, on the value or on its change over the horizon:

    * ``compare = "value"`` (default): ``column[t + horizon] <operator> threshold``
      ("rain tomorrow": precipitation > 0);
    * ``compare = "change"``: ``column[t + horizon] - column[t] <operator> threshold``
      ("the value rises": ``operator = ">"``, ``threshold = 0``; "rises by more than 2": 2).

    One threshold key serves both, rather than a separate `min_change`: in "change" mode the
    threshold *is* the change, so no config can set a key the mode ignores.
    """

    column: Name
    horizon: Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)] = 1
    operator: Literal[">", ">=", "<", "<="] = ">"
    threshold: Number = 0.0
    compare: Literal["value", "change"] = "value"

    def describe(self) -> str:
        value = f"{self.column}[t + {self.horizon}]"
        if self.compare == "change":
            value += f" - {self.column}[t]"
        return f"{value} {self.operator} {self.threshold}"


@dataclass(frozen=True, config=_STRICT)
class FeaturesConfig:
    # 0 is the value at t itself. Lags and windows too long for the data are refused when the
    # features are built (features.build), naming these keys.
    lags: tuple[Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)], ...] = (0, 1, 2, 7)
    windows: tuple[Annotated[StrictInt, Field(ge=2, le=MAX_COUNT)], ...] = (3, 7)
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
    # The CLI refuses a grid needing more fits than this (candidates x folds + 1) unless run
    # with --yes: a typo in a grid should not start hours of work.
    max_fits: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 500

    def candidates(self) -> list[dict[str, Any]]:
        """The grid expanded in a fixed order (keys sorted): candidate i is the same everywhere.
        Here, not in `training`, so a DAG file can size its fan-out without importing XGBoost."""
        keys = sorted(self.grid)
        return [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*(self.grid[k] for k in keys))
        ]

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
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 42  # XGBoost's seed is an int32
    # Fixed thread count: part of what makes model bytes reproducible.
    n_jobs: Annotated[StrictInt, Field(ge=1, le=1024)] = 1
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
    # 0: entries never expire. At most ten years.
    expiration_seconds: Annotated[StrictInt, Field(ge=0, le=3650 * 86_400)] = 0


@dataclass(frozen=True, config=_STRICT)
class OrchestrationConfig:
    """Retry and timeout policy, mapped onto each engine's own knobs."""

    retries: Annotated[StrictInt, Field(ge=0, le=20)] = 2
    retry_delay_seconds: Seconds = 1.0
    retry_backoff: Annotated[Number, Field(ge=1, le=10)] = 2.0
    retry_max_delay_seconds: Seconds = 30.0
    retry_jitter: Annotated[Number, Field(ge=0, le=1)] = 0.1
    # At most a day: a step that needs longer belongs in a batch system, and every engine can
    # honour a day (Airflow's execution_timeout, Prefect's timeout_seconds, thread waits).
    task_timeout_seconds: Annotated[Number, Field(gt=0, le=DAY)] = 600.0
    # Tasks at once: the mock engine's pool, Prefect's thread pool (one thread per XGBoost fit,
    # training.n_jobs threads each). Airflow's dag.test() runs one task at a time.
    max_workers: Annotated[StrictInt, Field(ge=1, le=64)] = 2


@dataclass(frozen=True, config=_STRICT)
class AlertsConfig:
    log: Name = "var/alerts.jsonl"
    email_to: tuple[Name, ...] = ()
    smtp_host: StrictStr = ""  # "" disables e-mail
    smtp_port: Annotated[StrictInt, Field(ge=1, le=65535)] = 25


class FlatParams:
    """What every pipeline's config can do: flatten to engine parameters and back, and give a
    canonical JSON of some sections (part of each step's cache key)."""

    # Keys holding paths, with their defaults: resolved against the config file's directory.
    PATH_KEYS: dict[tuple[str, str], str | None] = {}

    @classmethod
    def sections(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def to_params(self) -> dict[str, Any]:
        """Flatten to ``{"section_key": json_value}`` (Airflow params, CLI overrides)."""
        flat: dict[str, Any] = {}
        for section in self.sections():
            value = getattr(self, section)
            if isinstance(value, dict):  # faults
                flat[section] = dict(value)
                continue
            for key, v in dataclasses.asdict(value).items():
                flat[f"{section}_{key}"] = _jsonable(v)
        return flat

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Any:
        nested: dict[str, Any] = {}
        sections = cls.sections()
        for flat_key, value in params.items():
            section = next(
                (s for s in sections if flat_key == s or flat_key.startswith(s + "_")), None
            )
            if section is None:
                raise ConfigError(f"unknown parameter {flat_key!r}")
            if flat_key == section:
                nested[section] = value
            else:
                nested.setdefault(section, {})[flat_key[len(section) + 1 :]] = value
        return validate(nested, config_type=cls)

    def section_json(self, *sections: str) -> str:
        return json.dumps(
            {s: _jsonable(dataclasses.asdict(getattr(self, s))) for s in sections}, sort_keys=True
        )


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

    latency_budget_ms: Annotated[Number, Field(gt=0)] = 50.0  # p99 of one request's prediction
    latency_samples: Annotated[StrictInt, Field(ge=10, le=100_000)] = 200
    smoke_rows: Annotated[StrictInt, Field(ge=1)] = 64
    metric_tolerance: Annotated[Number, Field(ge=0, le=1)] = 1e-9  # offline metric, re-scored


@dataclass(frozen=True, config=_STRICT)
class PipelineConfig(FlatParams):
    """The weather pipeline's configuration (`configs/seattle_weather.toml`)."""

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
    faults: dict[str, Annotated[StrictInt, Field(ge=-1, le=100)]] = Field(default_factory=dict)

    @field_validator("faults")
    @classmethod
    def _known_steps(cls, v: dict[str, int]) -> dict[str, int]:
        for name in v:
            from mlpipeline.steps import WEATHER  # the steps import this module

            if name not in WEATHER.steps:
                raise ValueError(f"unknown step {name!r}; steps: {', '.join(WEATHER.steps)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        if self.data.time_column in self.data.feature_columns:
            raise ValueError("data.feature_columns: must not include data.time_column")
        return self


SECTIONS = PipelineConfig.sections()
# Keys holding paths in every pipeline's config, with their defaults.
SHARED_PATH_KEYS: dict[tuple[str, str], str | None] = {
    ("paths", "registry"): PathsConfig.registry,
    ("paths", "artifacts"): PathsConfig.artifacts,
    ("paths", "cache"): PathsConfig.cache,
    ("alerts", "log"): AlertsConfig.log,
}
PipelineConfig.PATH_KEYS = {
    ("data", "path"): None,
    ("tracking", "store"): TrackingConfig.store,
    **SHARED_PATH_KEYS,
}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def validate(
    raw: dict[str, Any], source: str = "config", config_type: type = PipelineConfig
) -> Any:
    try:
        return TypeAdapter(config_type).validate_python(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e, source)) from None


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} problem(s)"]
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        head, sep, rest = msg.partition(": ")
        if sep and isinstance(err.get("input"), dict) and head in err["input"]:
            key, msg = f"{key}.{head}", rest  # a table's own key: tuning.grid.max_depth
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            msg = "unknown key"
        elif err["type"] == "missing_argument" or err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and not isinstance(err["input"], dict):
            msg += f" (got {err['input']!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_config(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    config_type: type = PipelineConfig,
) -> Any:
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
    for (section, key), default in config_type.PATH_KEYS.items():
        sect = raw.setdefault(section, {})
        if not isinstance(sect, dict):
            continue  # validation names the problem
        value = sect.get(key, default)
        if isinstance(value, str) and value:
            sect[key] = str((base / value).resolve())
    return validate(raw, source=str(path), config_type=config_type)
