"""Deployment stages as pure functions: staging -> integration test -> production.

The seed's architecture ends with "register -> deploy to staging -> integration tests -> deploy to
production". Here that path is three calls on any registry backend (file or MLflow), and three
steps at the end of every pipeline (`register_model`, `integration_test`, `promote_model`):

1. `deploy_to_staging(registry, model_bytes, record)`: the model gets the `staging` alias.
2. `integration_test(registry, version_or_alias, probe, cfg.deployment)` loads the model through
   the registry's checksum check and runs named checks (`CHECKS`), each with its reason. What is
   scored is the pipeline's `Probe` (the weather pipeline's in `mlpipeline.steps`, the
   recommender's in `mlpipeline.recsys.steps`):

   * `load`: the registry hands out the bytes it recorded (sha256 verified) and XGBoost reads them;
   * `output_schema`: scoring a smoke batch (`deployment.smoke_rows` rows the model will serve)
     gives one finite score per row, within the probe's bounds ([0, 1] for probabilities);
   * `latency`: the p99 of `deployment.latency_samples` single requests (one row; one user's
     candidate rows) is within `deployment.latency_budget_ms` (the booster is loaded once, as a
     serving process would; only the prediction is timed). Each is timed in the thread's CPU
     time (`time.thread_time`, one XGBoost thread): the model's own cost per request, which is
     what differs between models. Wall time also counts the host's queue: the check runs where
     the pipeline runs, not where the model will serve, and on the tests' busy 2-core machine
     a 0.3 ms prediction's wall-time p99 reached 299 ms (1 December 2026);
   * `offline_agreement`: the offline metric re-computed from the staged bytes equals the one the
     evaluation step recorded to `deployment.metric_tolerance` (same bytes, same data: a
     difference means the model or the data seen at serving time is not what was evaluated).

   A check that cannot run because an earlier one failed is reported as failed with "not run".
3. `promote_if_passed(registry, report, expected=...)` moves `production` (compare-and-swap with
   the production model the decision was based on) only if every check passed; otherwise it
   moves nothing and raises `IntegrationTestFailed` naming the failed checks, so the engine's
   step fails and its one alert goes out. A failed check is a verdict, not a transient error:
   it is never retried (re-running a latency test until it passes would only hide a slow model).

No orchestrator is imported; the engines run these as steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpipeline import training
from mlpipeline.errors import DataError, PipelineError, RegistryError, storage_error
from mlpipeline.registry import (
    _ANY,
    ALIASES,
    PRODUCTION,
    REGISTRY_SECTIONS,
    STAGING,
    AliasChanged,
    Entry,
    location,
    open_registry,
    registry_files,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlpipeline.config import DeploymentConfig
    from mlpipeline.pipeline import Pipeline, StepOutput

CHECKS = ("load", "output_schema", "latency", "offline_agreement")


@dataclass(frozen=True)
class Probe:
    """What one pipeline's integration test scores, and how (see the module docstring)."""

    smoke: pd.DataFrame  # output_schema: rows the model will serve
    score: Callable[[bytes, pd.DataFrame], Any]  # model bytes, rows -> one score per row
    bounds: tuple[float, float] | None  # the range a score must lie in; None: any finite value
    requests: list[Any]  # latency: single requests, as a serving process gets them (arrays)
    metric: str  # offline_agreement: the metric's name,
    rescore: Callable[[bytes], float]  # re-computed from the staged bytes,
    expected: float  # and its value as the evaluation step recorded it


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """A report as `to_dict` wrote it (the integration_test step's `integration.json`)."""
        checks = [Check(**c) for c in d["checks"]]
        return cls(d["version"], d["sha256"], checks, d.get("p99_ms"))


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
    registry: Any, version_or_alias: int | str, probe: Probe, d: DeploymentConfig
) -> Report:
    """Run every check of `CHECKS` on the model a version or alias names; never raises for a
    failing check (the report says which and why)."""
    checks: list[Check] = []
    entry: Entry | None = None
    try:
        entry = _resolve(registry, version_or_alias)
        model_bytes = registry.load_model(entry.version)  # the registry verifies the sha256
        booster = training.load_booster(model_bytes)
        # One thread, as a process serving single requests runs it: XGBoost's default (all
        # cores) makes a one-row prediction 100x slower on a busy machine (OpenMP start-up).
        booster.set_param({"nthread": 1})
    except Exception as e:  # a refused checksum, a missing alias, bytes XGBoost cannot read
        checks.append(Check("load", False, f"{type(e).__name__}: {e}"))
        checks += [Check(name, False, "not run: the model did not load") for name in CHECKS[1:]]
        return Report(entry and entry.version, entry and entry.sha256, checks)
    checks.append(
        Check("load", True, f"v{entry.version:04d} loaded, sha256 {entry.sha256[:12]} verified")
    )
    checks.append(_output_schema(model_bytes, probe))
    latency, p99 = _latency(booster, probe.requests, d.latency_budget_ms)
    checks.append(latency)
    checks.append(_agreement(model_bytes, probe, d.metric_tolerance))
    return Report(entry.version, entry.sha256, checks, p99)


def _output_schema(model_bytes: bytes, probe: Probe) -> Check:
    batch = probe.smoke
    try:
        scores = np.asarray(probe.score(model_bytes, batch))
    except DataError as e:
        return Check("output_schema", False, f"scoring the smoke batch failed: {e}")
    problems = []
    if scores.ndim != 1 or len(scores) != len(batch):
        problems.append(f"shape {scores.shape}, expected ({len(batch)},)")
    if not np.issubdtype(scores.dtype, np.floating):
        problems.append(f"dtype {scores.dtype}, expected floating point")
    elif not np.isfinite(scores).all():
        problems.append(f"{int((~np.isfinite(scores)).sum())} NaN or infinite value(s)")
    elif probe.bounds and ((scores < probe.bounds[0]) | (scores > probe.bounds[1])).any():
        low, high = probe.bounds
        problems.append(
            f"values outside [{low:g}, {high:g}]: min {scores.min():.4g}, max {scores.max():.4g}"
        )
    if problems:
        return Check("output_schema", False, "; ".join(problems))
    where = f" in [{probe.bounds[0]:g}, {probe.bounds[1]:g}]" if probe.bounds else ", all finite"
    return Check("output_schema", True, f"{len(batch)} rows -> {len(batch)} scores{where}")


def _latency(booster: Any, requests: list[Any], budget_ms: float) -> tuple[Check, float]:
    booster.inplace_predict(requests[0])  # warm-up: the first call allocates
    times = []
    for request in requests:
        start = time.thread_time()
        booster.inplace_predict(request)
        times.append((time.thread_time() - start) * 1000)
    p99 = float(np.percentile(times, 99))
    ok = p99 <= budget_ms
    return (
        Check(
            "latency",
            ok,
            f"p99 {p99:.3f} ms (CPU) over {len(requests)} single requests "
            f"{'<=' if ok else '>'} deployment.latency_budget_ms {budget_ms:g}",
        ),
        p99,
    )


def _agreement(model_bytes: bytes, probe: Probe, tolerance: float) -> Check:
    try:
        value = probe.rescore(model_bytes)
    except DataError as e:
        return Check("offline_agreement", False, f"re-scoring failed: {e}")
    ok = math.isclose(value, probe.expected, rel_tol=0, abs_tol=tolerance)
    return Check(
        "offline_agreement",
        ok,
        f"re-scored {probe.metric} {value:.6f} {'==' if ok else '!='} evaluated "
        f"{probe.expected:.6f} (deployment.metric_tolerance {tolerance:g})",
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
        "reason": f"v{entry.version:04d} passed its integration test and is now production",
    }


# -- the three steps' bodies, shared by every pipeline ----------------------------------------
# Each pipeline's `register_model`, `integration_test` and `promote_model` (declared in its
# steps module) call these with what only it knows: its gate's decision, its model's record,
# its `Probe`. A gate that refused, or a candidate identical to production, stages nothing; the
# two later steps then do nothing and say why (a decision, not a failure).


def stage(
    cfg: Any,
    *,
    promote: bool,
    refused: str,
    production: dict[str, Any] | None,
    candidate_sha256: str,
    model_bytes: Callable[[], bytes],
    record: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """`register_model`: register the candidate and point `staging` at it, if the gate said so.
    Returns ``{"staged", "version", "reason"}``."""
    if not promote:
        return {"staged": False, "version": None, "reason": refused}
    if production and production["sha256"] == candidate_sha256:
        return {
            "staged": False,
            "version": production["version"],
            "reason": f"identical to production v{production['version']:04d}: nothing to do",
        }
    try:
        entry = deploy_to_staging(open_registry(cfg), model_bytes(), record())
    except OSError as e:  # a full disk or a read-only registry: fail naming the registry
        raise storage_error(e, location(cfg)) from None
    how = "registered as" if entry.created else "reused the existing entry"
    return {"staged": True, "version": entry.version, "reason": f"{how} v{entry.version:04d}"}


def check_staged(
    cfg: Any, out: StepOutput, staged: dict[str, Any], probe: Callable[[], Probe]
) -> None:
    """`integration_test`: run the checks on the version this run staged, write the report
    (``out``'s "report": ``{"tested", "reason", ...Report.to_dict()}``), then raise
    IntegrationTestFailed if a check failed.

    By version, not by the `staging` alias: a concurrent run may move the alias between two
    steps, and each run must test the model it staged (the alias is for people and serving
    environments; the registry's checksum check is the same either way)."""
    if not staged["staged"]:
        skipped = {"tested": False, "version": staged["version"], "staging": staged["reason"]}
        out.write_json("report", {**skipped, "reason": "not run: nothing was staged"})
        return
    registry = open_registry(cfg)
    report = integration_test(registry, staged["version"], probe(), cfg.deployment)
    if report.passed:
        verdict = f"v{report.version:04d} passed {', '.join(CHECKS)} (p99 {report.p99_ms:.2f} ms)"
    else:
        verdict = f"v{report.version:04d} failed {', '.join(report.failed)}; production untouched"
    out.write_json("report", {"tested": True, "reason": verdict, **report.to_dict()})
    if not report.passed:
        raise IntegrationTestFailed(report.failed, report)


def promote(cfg: Any, production: dict[str, Any] | None, tested: dict[str, Any]) -> dict[str, Any]:
    """`promote_model`: move `production` to the tested version, compare-and-swap with the
    production model the gate compared against. Returns ``{"promoted", "version", "reason"}``:
    the run's registry outcome."""
    if not tested["tested"]:  # nothing staged: the reason is staging's
        return {"promoted": False, "version": tested["version"], "reason": tested["staging"]}
    try:
        return promote_if_passed(
            open_registry(cfg),
            Report.from_dict(tested),
            expected=production["sha256"] if production else None,
        )
    except OSError as e:
        raise storage_error(e, location(cfg)) from None


# -- the tail's steps, declared alike in every pipeline --------------------------------------
# Every pipeline that trains, gates and registers a model ends with the same three steps, with
# the same input names, so each engine declares the tail once (`airflow_impl.deployment_tasks`,
# `prefect_impl.deployment_tasks`, `mock_impl.runner.add_deployment`) for every pipeline. What
# differs per pipeline is named by its `reports`: "metrics", the offline metrics its evaluation
# step recorded, and "holdout", the rows its probe serves and re-scores.


def register_model_declaration(pipeline: Pipeline, reads: Iterable[str] = ()) -> dict[str, Any]:
    """`register_model`'s declaration: its body is the pipeline's own (what the registry entry
    records), calling `stage`; `reads`: the sections that record reads besides `paths`."""
    return {
        "inputs": {
            "model": "train_model",
            "metrics": pipeline.reports["metrics"][0],
            "gate": "gate_model",
        },
        "writes": {"registration": "registration.json"},
        "reads": tuple(sorted({*REGISTRY_SECTIONS, *reads})),
        "files": registry_files,
        "cacheable": False,  # writes the registry
    }


def declare_integration_test(
    pipeline: Pipeline,
    probe: Callable[[Any, Any, dict[str, Any]], Probe],
    reads: str,
    read_holdout: Callable[[StepOutput, str], Any] | None = None,
) -> Callable[..., None]:
    """Declare `integration_test` in `pipeline`: `probe(cfg, holdout, offline metrics)` is
    what it scores; `reads` the config section the probe reads besides `deployment`;
    `read_holdout(step output, name)` what the probe gets as the holdout: its rows by default
    (`StepOutput.frame`), or, say, its file's path (`StepOutput.file`) for a probe that reads
    it piece by piece."""
    read = read_holdout or (lambda output, name: output.frame(name))
    (metrics_step, metrics_name), (holdout_step, holdout_name) = (
        pipeline.reports["metrics"],
        pipeline.reports["holdout"],
    )

    @pipeline.step(
        inputs={"registration": "register_model", "metrics": metrics_step, "holdout": holdout_step},
        writes={"report": "integration.json"},
        reads=tuple(sorted({"deployment", *REGISTRY_SECTIONS, reads})),
        files=registry_files,
        cacheable=False,  # reads the registry
    )
    def integration_test(
        cfg: Any,
        out: StepOutput,
        registration: StepOutput,
        metrics: StepOutput,
        holdout: StepOutput,
    ) -> None:
        """Test the staged model as it will be served; fail naming every failed check.

        Writes: report (each check with its reason, the p99 latency)."""
        check_staged(
            cfg,
            out,
            registration.json("registration"),
            lambda: probe(cfg, read(holdout, holdout_name), metrics.json(metrics_name)),
        )

    return integration_test


def declare_promote_model(pipeline: Pipeline) -> Callable[..., None]:
    """Declare `promote_model` in `pipeline`: the same step in every pipeline."""

    @pipeline.step(
        inputs={"gate": "gate_model", "report": "integration_test"},
        writes={"promotion": "promotion.json"},
        reads=REGISTRY_SECTIONS,
        files=registry_files,
        cacheable=False,  # writes the registry
    )
    def promote_model(cfg: Any, out: StepOutput, gate: StepOutput, report: StepOutput) -> None:
        """Move production to the tested model, if production is still the model the gate
        compared against.

        Writes: promotion (promoted, version, reason: the run's registry outcome)."""
        production = gate.json("gate")["production"]
        out.write_json("promotion", promote(cfg, production, report.json("report")))

    return promote_model
