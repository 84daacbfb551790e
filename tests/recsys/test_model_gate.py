"""The gate's decisions and the words it gives for them."""

from __future__ import annotations

from typing import Any

from mlpipeline.recsys import gate
from mlpipeline.recsys.model_config import RecsysGateConfig

GATE = RecsysGateConfig(min_effect=0.0, min_users=100, max_coverage_drop=0.1, max_recall_drop=0.01)


def ab(
    mean: float = 0.02,
    lower: float = 0.01,
    p: float = 0.001,
    users: int = 1000,
    coverage: tuple[float, float] = (0.30, 0.30),
    recall: tuple[float, float] = (0.50, 0.50),
    against: str = "production v0001",
) -> dict[str, Any]:
    diff = {"n": users, "mean": mean, "lower": lower, "ci": [lower, mean * 2], "p_value": p}
    return {
        "k": 10,
        "against": against,
        "users_evaluated": users,
        "users_without_positives": 7,
        "ndcg": {"candidate": 0.5 + mean, "production": 0.5, "difference": diff},
        "recall": {"candidate": recall[0], "production": recall[1], "difference": diff},
        "coverage": {"candidate": coverage[0], "production": coverage[1]},
    }


def failed(reasons: list[str]) -> list[str]:
    return [r for r in reasons if r.startswith("FAIL")]


def test_a_clear_improvement_is_promoted_with_every_check_passed():
    promote, reasons = gate.decide(ab(), GATE, alpha=0.05)
    assert promote and not failed(reasons) and len(reasons) == 5
    assert "lower bound +0.0100 > gate.min_effect" in reasons[1]
    assert gate.verdict(promote, "production v0001", reasons).startswith("deploy")


def test_a_lower_bound_below_the_minimum_effect_keeps_production_and_says_why():
    promote, reasons = gate.decide(ab(lower=-0.002, p=0.08), GATE, alpha=0.05)
    assert not promote
    assert len(failed(reasons)) == 2
    assert "one-sided 95% lower bound -0.0020 <= gate.min_effect 0.0000" in failed(reasons)[0]
    assert "p = 0.0800 >= alpha 0.05" in failed(reasons)[1]
    verdict = gate.verdict(promote, "production v0001", reasons)
    assert verdict.startswith("keep production: NDCG@10")


def test_the_minimum_effect_is_a_margin_on_the_bound():
    strict = RecsysGateConfig(min_effect=0.015)
    promote, reasons = gate.decide(ab(mean=0.02, lower=0.01), strict, alpha=0.05)
    assert not promote and "<= gate.min_effect 0.0150" in failed(reasons)[0]


def test_a_coverage_drop_beyond_tolerance_refuses_even_a_better_model():
    promote, reasons = gate.decide(ab(coverage=(0.20, 0.30)), GATE, alpha=0.05)
    assert not promote
    assert failed(reasons) == [
        "FAIL guardrail coverage@10 20.0% vs production v0001 30.0% "
        "(drops beyond gate.max_coverage_drop 10%)"
    ]
    promote, _ = gate.decide(ab(coverage=(0.28, 0.30)), GATE, alpha=0.05)  # -6.7%: tolerated
    assert promote


def test_a_recall_drop_beyond_tolerance_refuses():
    promote, reasons = gate.decide(ab(recall=(0.48, 0.50)), GATE, alpha=0.05)
    assert not promote and "recall@10 0.4800" in failed(reasons)[0]


def test_too_few_users_refuses():
    promote, reasons = gate.decide(ab(users=50), GATE, alpha=0.05)
    assert not promote and "50 users" in failed(reasons)[0] and "gate.min_users 100" in reasons[0]


def test_first_run_verdict_names_the_baseline_and_deploys_nothing_on_refusal():
    base = "the popularity baseline"
    promote, reasons = gate.decide(ab(lower=-0.01, p=0.3, against=base), GATE, alpha=0.05)
    assert not promote and "vs the popularity baseline" in failed(reasons)[0]
    assert gate.verdict(promote, base, reasons).startswith("deploy nothing:")
