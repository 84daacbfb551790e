"""The model half's config sections: ``[features]``, ``[training]``, ``[evaluation]``, ``[gate]``.

Frozen, strict (pydantic) dataclasses in the style of `mlpipeline.config`; the recsys config
(`mlpipeline.recsys.config`) holds one of each. They live in their own module so the data and
model halves of the pipeline can evolve their sections without touching each other's.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StrictFloat, StrictInt
from pydantic.dataclasses import dataclass

_STRICT = ConfigDict(extra="forbid")
Number = StrictInt | StrictFloat
PosInt = Annotated[StrictInt, Field(ge=1)]


@dataclass(frozen=True, config=_STRICT)
class RecsysFeaturesConfig:
    """Candidate generation and the time protocol (see `mlpipeline.recsys.features`)."""

    history_days: Annotated[StrictInt, Field(ge=1, le=365)] = 7
    validation_percent: Annotated[StrictInt, Field(ge=1, le=50)] = 20  # users, by a fixed hash
    own_items: Annotated[StrictInt, Field(ge=0, le=1000)] = 10
    cooc_items: Annotated[StrictInt, Field(ge=0, le=1000)] = 20
    popular_items: Annotated[StrictInt, Field(ge=1, le=1000)] = 20
    neighbours_per_item: Annotated[StrictInt, Field(ge=1, le=1000)] = 20


@dataclass(frozen=True, config=_STRICT)
class RecsysTrainingConfig:
    """XGBRanker (``rank:ndcg``, ``hist``) with early stopping on the validation users."""

    max_rounds: Annotated[StrictInt, Field(ge=1, le=10_000)] = 300
    early_stopping_rounds: Annotated[StrictInt, Field(ge=1, le=1000)] = 20
    learning_rate: Annotated[Number, Field(gt=0, le=1)] = 0.1
    max_depth: Annotated[StrictInt, Field(ge=1, le=16)] = 6
    min_child_weight: Annotated[Number, Field(ge=0)] = 1.0
    seed: Annotated[StrictInt, Field(ge=0)] = 42
    # Threads for training and scoring. `hist` gave the same model bytes with 1 and 2 threads
    # (measured: docs/recsys/scale.md); a fixed count keeps that a checked fact, not a hope.
    n_jobs: PosInt = 2


@dataclass(frozen=True, config=_STRICT)
class RecsysEvaluationConfig:
    """The offline A/B test (see `mlpipeline.recsys.abtest`)."""

    k: Annotated[StrictInt, Field(ge=1, le=1000)] = 10
    n_bootstrap: Annotated[StrictInt, Field(ge=100, le=100_000)] = 2000
    n_permutations: Annotated[StrictInt, Field(ge=100, le=100_000)] = 2000
    alpha: Annotated[Number, Field(gt=0, lt=0.5)] = 0.05  # one-sided
    seed: Annotated[StrictInt, Field(ge=0)] = 20260101
    # Teaching and tests only: hand the candidate a known extra signal (share of the generator's
    # true affinity) so the right decision is known; 0 plants an exact null. Unset: off.
    plant_effect: Annotated[Number, Field(ge=0, le=100)] | None = None
    plant_noise: Annotated[Number, Field(ge=0, le=100)] = 1.0


@dataclass(frozen=True, config=_STRICT)
class RecsysGateConfig:
    """Deploy only if better beyond doubt and no guardrail drops (see `mlpipeline.recsys.gate`).

    ``min_effect`` is the margin the one-sided lower bound of the NDCG@k improvement must
    exceed; ``target_effect`` is the improvement the daily test is sized to detect with at least
    80% power (proven in benchmarks/bench_recsys_stats.py; each run reports its own detectable
    effect beside it). They differ on purpose: a bound that must exceed X promotes a true
    improvement of exactly X only about alpha of the time.
    """

    min_effect: Annotated[Number, Field(ge=0, le=1)] = 0.0
    target_effect: Annotated[Number, Field(gt=0, le=1)] = 0.01
    min_users: Annotated[StrictInt, Field(ge=2)] = 100
    max_coverage_drop: Annotated[Number, Field(ge=0, le=1)] = 0.1  # relative
    max_recall_drop: Annotated[Number, Field(ge=0, le=1)] = 0.01  # absolute, mean recall@k
