"""The deployment gate: a pure decision on the A/B result, every reason in words.

Deploy only if all hold:

1. enough users were evaluated (``gate.min_users``): a handful of users proves nothing;
2. the one-sided (1 - alpha) bootstrap lower bound of the mean per-user NDCG@k improvement
   exceeds ``gate.min_effect``;
3. the sign-flip permutation test rejects "no difference" (p < alpha): a second, assumption-
   light test of the same claim, so a lucky bootstrap alone cannot deploy;
4. no guardrail drops beyond its tolerance: catalogue coverage (relative, ``max_coverage_drop``)
   and mean recall@k (absolute, ``max_recall_drop``), on the point estimates.

First run (no production model): the candidate must pass the same checks against a popularity
baseline (the window's most interacted-with items, for everyone). A model that cannot beat
"show the bestsellers" is not worth deploying; until one does, production stays empty and
serving falls back to popularity. The same baseline is used when the production model cannot
score today's features (it was trained on another feature list), and the reasons say so.
"""

from __future__ import annotations

from typing import Any

from mlpipeline.recsys.model_config import RecsysGateConfig


def _signed(x: float) -> str:
    return f"{x:+.4f}"


def decide(ab: dict[str, Any], gate: RecsysGateConfig, alpha: float) -> tuple[bool, list[str]]:
    """(promote, reasons). `ab` is `abtest.compare`'s result plus ``against`` (what was compared:
    "production vNNNN" or "the popularity baseline")."""
    against = ab.get("against", "production")
    k = ab["k"]
    checks: list[tuple[bool, str]] = []
    n = ab["users_evaluated"]
    ok = n >= gate.min_users
    checks.append(
        (
            ok,
            f"{n} users with a positive evaluated ({ab['users_without_positives']} without one "
            f"excluded) {'>=' if ok else '<'} gate.min_users {gate.min_users}",
        )
    )
    diff = ab["ndcg"]["difference"]
    if diff["n"] == 0:
        checks.append((False, "no user to compare NDCG on"))
    else:
        ok = diff["lower"] > gate.min_effect
        checks.append(
            (
                ok,
                f"NDCG@{k} {ab['ndcg']['candidate']:.4f} vs {against} "
                f"{ab['ndcg']['production']:.4f}: improvement {_signed(diff['mean'])}, one-sided "
                f"{1 - alpha:.0%} lower bound {_signed(diff['lower'])} "
                f"{'>' if ok else '<='} gate.min_effect {gate.min_effect:.4f}",
            )
        )
        ok = diff["p_value"] < alpha
        checks.append(
            (
                ok,
                f"sign-flip permutation test p = {diff['p_value']:.4f} "
                f"{'<' if ok else '>='} alpha {alpha}",
            )
        )
    cov = ab["coverage"]
    floor = cov["production"] * (1 - gate.max_coverage_drop)
    ok = cov["candidate"] >= floor
    checks.append(
        (
            ok,
            f"guardrail coverage@{k} {cov['candidate']:.1%} vs {against} {cov['production']:.1%} "
            f"({'within' if ok else 'drops beyond'} gate.max_coverage_drop "
            f"{gate.max_coverage_drop:.0%})",
        )
    )
    rec = ab["recall"]
    if rec["candidate"] is not None:
        drop = rec["production"] - rec["candidate"]
        ok = drop <= gate.max_recall_drop
        checks.append(
            (
                ok,
                f"guardrail recall@{k} {rec['candidate']:.4f} vs {against} "
                f"{rec['production']:.4f} ({'within' if ok else 'drops beyond'} "
                f"gate.max_recall_drop {gate.max_recall_drop:.4f})",
            )
        )
    promote = all(ok for ok, _ in checks)
    return promote, [("PASS " if ok else "FAIL ") + why for ok, why in checks]


def verdict(promote: bool, against: str, reasons: list[str]) -> str:
    """One sentence for the summary: what happens and the first reason why."""
    if promote:
        return f"deploy: the candidate is better than {against} beyond doubt"
    failed = next(r for r in reasons if r.startswith("FAIL "))[5:]
    keep = "keep production" if against.startswith("production") else "deploy nothing"
    return f"{keep}: {failed}"
