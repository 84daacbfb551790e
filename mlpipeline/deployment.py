"""Deployment stages as pure functions: staging -> integration test -> production.

The seed's architecture ends with "register -> deploy to staging -> integration tests -> deploy to
production". Here that path is three calls on any registry backend (file or MLflow):

1. `deploy_to_staging(registry, model_bytes, record)`: the model gets the `staging` alias.
2. `integration_test(registry, "staging", holdout, offline_metrics, cfg)` loads the staged model
   through the registry's checksum check and runs named checks (`CHECKS`), each with its reason:

   * `load`: the registry hands out the bytes it recorded (sha256 verified) and XGBoost reads them;
   * `output_schema`: scoring a smoke batch (the first `deployment.smoke_rows` holdout rows) gives
     one finite probability in [0, 1] per row;
   * `latency`: the p99 of `deployment.latency_samples` single-row predictions, each timed with
     `time.perf_counter`, is within `deployment.latency_budget_ms` (the booster is loaded once,
     as a serving process would; only the prediction is timed);
   * `offline_agreement`: accuracy re-scored on the holdout equals the evaluate step's to
     `deployment.accuracy_tolerance` (same bytes, same data: a difference means the model or
     the data seen at serving time is not what was evaluated).

   A check that cannot run because an earlier one failed is reported as failed with "not run".
3. `promote_if_passed(registry, report, expected=...)` moves `production` (compare-and-swap with
   the production model the decision was based on) only if every check passed; otherwise it
   moves nothing and raises `IntegrationTestFailed` naming the failed checks, so the engine's
   step fails and its one alert goes out.

No orchestrator is imported; the engines run these as steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpipeline import training
from mlpipeline.errors import DataError, PipelineError, RegistryError
from mlpipeline.registry import _ANY, ALIASES, PRODUCTION, STAGING, AliasChanged, Entry

if TYPE_CHECKING:
    import pandas as pd

    from mlpipeline.config import PipelineConfig

CHECKS = ("load", "output_schema", "latency", "offline_agreement")


class IntegrationTestFailed(PipelineError):
    """The staged model failed its integration test: production was not moved."""

    def __init__(self, failed: list[str], report: Report):
        self.failed, self.report = failed, report
        details = "\n".join(f"  - {c.name}: {c.detail}" for c in report.checks if c.name in failed)
        super().__init__(
            f"integration test of v{report.version:04d} failed "
            f"({', '.join(failed)}); production untouched:\n{details}",
            where="integration_test",
        )


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Report:
    version: int | None
    sha256: str | None
    checks: list[Check] = field(default_factory=list)
    p99_ms: float | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "failed": self.failed}


def deploy_to_staging(registry: Any, model_bytes: bytes, record: dict[str, Any]) -> Entry:
    """Register (or reuse, by sha256) the model and point `staging` at it."""
    return registry.register(model_bytes, record, alias=STAGING)


def _resolve(registry: Any, version_or_alias: int | str) -> Entry:
    if isinstance(version_or_alias, str):
        if version_or_alias not in ALIASES:
            raise ValueError(f"unknown alias {version_or_alias!r}; aliases: {', '.join(ALIASES)}")
        entry = registry.alias(version_or_alias)
        if entry is None:
            raise RegistryError(f"no model has the {version_or_alias} alias")
        return entry
    return registry.entry(version_or_alias)


def integration_test(
    registry: Any,
    version_or_alias: int | str,
    smoke_frame: pd.DataFrame,
    offline_metrics: dict[str, Any],
    cfg: PipelineConfig,
) -> Report:
    """Run every check of `CHECKS` on the model a version or alias names; never raises for a
    failing check (the report says which and why)."""
    d, threshold = cfg.deployment, cfg.training.decision_threshold
    checks: list[Check] = []
    entry: Entry | None = None
    try:
        entry = _resolve(registry, version_or_alias)
        model_bytes = registry.load_model(entry.version)  # the registry verifies the sha256
        booster = training.load_booster(model_bytes)
    except Exception as e:  # a refused checksum, a missing alias, bytes XGBoost cannot read
        checks.append(Check("load", False, f"{type(e).__name__}: {e}"))
        checks += [Check(name, False, "not run: the model did not load") for name in CHECKS[1:]]
        return Report(entry and entry.version, entry and entry.sha256, checks)
    checks.append(
        Check("load", True, f"v{entry.version:04d} loaded, sha256 {entry.sha256[:12]} verified")
    )
    checks.append(_output_schema(model_bytes, smoke_frame.head(d.smoke_rows)))
    latency, p99 = _latency(booster, smoke_frame, d.latency_samples, d.latency_budget_ms)
    checks.append(latency)
    checks.append(_agreement(model_bytes, smoke_frame, offline_metrics, threshold, d))
    return Report(entry.version, entry.sha256, checks, p99)


def _output_schema(model_bytes: bytes, batch: pd.DataFrame) -> Check:
    try:
        proba = np.asarray(training.predict_proba(model_bytes, batch))
    except DataError as e:
        return Check("output_schema", False, f"scoring the smoke batch failed: {e}")
    problems = []
    if proba.ndim != 1 or len(proba) != len(batch):
        problems.append(f"shape {proba.shape}, expected ({len(batch)},)")
    if not np.issubdtype(proba.dtype, np.floating):
        problems.append(f"dtype {proba.dtype}, expected floating point")
    elif not np.isfinite(proba).all():
        problems.append(f"{int((~np.isfinite(proba)).sum())} NaN or infinite value(s)")
    elif ((proba < 0) | (proba > 1)).any():
        problems.append(f"values outside [0, 1]: min {proba.min():.4g}, max {proba.max():.4g}")
    if problems:
        return Check("output_schema", False, "; ".join(problems))
    return Check(
        "output_schema", True, f"{len(batch)} rows -> {len(batch)} probabilities in [0, 1]"
    )


def _latency(booster: Any, frame: pd.DataFrame, samples: int, budget_ms: float) -> tuple:
    X, _ = training.xy(frame)
    rows = [X.iloc[[i % len(X)]] for i in range(samples)]
    booster.inplace_predict(rows[0])  # warm-up: the first call allocates
    times = []
    for row in rows:
        start = time.perf_counter()
        booster.inplace_predict(row)
        times.append((time.perf_counter() - start) * 1000)
    p99 = float(np.percentile(times, 99))
    ok = p99 <= budget_ms
    return (
        Check(
            "latency",
            ok,
            f"p99 {p99:.3f} ms over {samples} single-row predictions "
            f"{'<=' if ok else '>'} deployment.latency_budget_ms {budget_ms:g}",
        ),
        p99,
    )


def _agreement(
    model_bytes: bytes, holdout: pd.DataFrame, offline: dict[str, Any], threshold: float, d: Any
) -> Check:
    if offline.get("holdout_rows") not in (None, len(holdout)):
        return Check(
            "offline_agreement",
            False,
            f"the frame has {len(holdout)} rows, the evaluated holdout {offline['holdout_rows']}",
        )
    try:
        accuracy = training.accuracy_on(model_bytes, holdout, threshold)
    except DataError as e:
        return Check("offline_agreement", False, f"re-scoring failed: {e}")
    expected = offline["accuracy"]
    ok = math.isclose(accuracy, expected, rel_tol=0, abs_tol=d.accuracy_tolerance)
    return Check(
        "offline_agreement",
        ok,
        f"re-scored accuracy {accuracy:.6f} {'==' if ok else '!='} evaluated {expected:.6f} "
        f"(deployment.accuracy_tolerance {d.accuracy_tolerance:g})",
    )


def promote_if_passed(
    registry: Any, report: Report, *, expected: str | None | object = _ANY
) -> dict[str, Any]:
    """Point `production` at the tested version if every check passed (compare-and-swap with
    `expected`, the production sha256 the decision was based on, or None for "no model yet").

    Raises IntegrationTestFailed (production untouched) if a check failed; returns
    ``{"promoted": False, ...}`` if another run moved production meanwhile.
    """
    if not report.passed:
        raise IntegrationTestFailed(report.failed, report)
    try:
        entry = registry.set_alias(PRODUCTION, report.version, expected=expected)
    except AliasChanged as e:
        return {"promoted": False, "version": report.version, "reason": f"not promoted: {e}"}
    return {
        "promoted": True,
        "version": entry.version,
        "reason": f"v{entry.version:04d} passed {', '.join(CHECKS)} and is now production",
    }
