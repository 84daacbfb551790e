"""The promotion gate: a pure decision with every reason spelled out."""

from __future__ import annotations

from typing import Any

from mlpipeline.config import GateConfig


def decide(
    metrics: dict[str, Any], production: dict[str, Any] | None, gate: GateConfig
) -> tuple[bool, list[str]]:
    """Promote only if accuracy reaches the threshold, beats the majority-class baseline by the
    margin, and (when configured) is not worse than production on the same holdout."""
    acc, base = metrics["accuracy"], metrics["baseline_accuracy"]
    checks = [
        (
            acc >= gate.min_accuracy,
            f"accuracy {acc:.4f} {'>=' if acc >= gate.min_accuracy else '<'} "
            f"gate.min_accuracy {gate.min_accuracy:.4f}",
        )
    ]
    margin = acc - base
    ok = margin >= gate.min_improvement_over_baseline
    checks.append(
        (
            ok,
            f"beats the baseline {base:.4f} by {margin:+.4f} "
            f"({'>=' if ok else '<'} gate.min_improvement_over_baseline "
            f"{gate.min_improvement_over_baseline:+.4f})",
        )
    )
    if gate.compare_with_production and production is not None:
        prod_acc = production.get("accuracy")
        if prod_acc is None:
            checks.append(
                (
                    True,
                    f"production v{production['version']:04d} uses other features: "
                    "not comparable on this holdout, not a reason to refuse",
                )
            )
        else:
            ok = acc >= prod_acc
            checks.append(
                (
                    ok,
                    f"accuracy {acc:.4f} {'>=' if ok else '<'} production "
                    f"v{production['version']:04d} {prod_acc:.4f} on the same holdout",
                )
            )
    elif production is None:
        checks.append((True, "no production model yet"))
    return all(ok for ok, _ in checks), [("PASS " if ok else "FAIL ") + why for ok, why in checks]
