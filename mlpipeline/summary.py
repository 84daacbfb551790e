"""The run summary every engine prints: tasks, metrics, the gate's decision, the registry."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from mlpipeline.runs import RunResult

_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "baseline_accuracy")


def tasks_table(result: RunResult) -> Table:
    table = Table(title=f"{result.engine} run {result.run_id}", title_justify="left")
    for col, justify in (
        ("task", "left"),
        ("state", "left"),
        ("attempts", "right"),
        ("seconds", "right"),
        ("cache", "left"),
    ):
        table.add_column(col, justify=justify)
    for t in result.tasks.values():
        style = {"success": "green", "failed": "bold red"}.get(t.state, "yellow")
        table.add_row(
            t.name,
            Text(t.state, style=style),
            str(t.attempts),
            "" if t.duration is None else f"{t.duration:.3f}",
            "hit" if t.cache_hit else "",
        )
    return table


def ab_table(ab: dict) -> Table:
    """The recsys A/B comparison: per-user means, the paired difference with its two-sided
    interval and the one-sided p-value (`mlpipeline.recsys.abtest`)."""
    k = ab["k"]
    table = Table(
        title=f"A/B on {ab['evaluation_day']}: candidate vs {ab['against']} "
        f"({ab['users_evaluated']} users with positives of {ab['users']})",
        title_justify="left",
    )
    for col in ("metric", "candidate", "production", "difference", "95% interval", "p-value"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name in ("ndcg", "recall"):
        m, d = ab[name], ab[name]["difference"]
        table.add_row(
            f"{name.upper() if name == 'ndcg' else name}@{k}",
            f"{m['candidate']:.4f}",
            f"{m['production']:.4f}",
            f"{d['mean']:+.4f}",
            f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]",
            f"{d['p_value']:.4f}",
        )
    c = ab["coverage"]
    table.add_row(f"coverage@{k}", f"{c['candidate']:.4f}", f"{c['production']:.4f}", "", "", "")
    return table


def render_recsys(result: RunResult, parts: list) -> None:
    """The recommender's A/B table, the gate's decision and why."""
    model = result.model
    if model:
        parts.append(
            Text(f"model: best iteration {model['best_iteration']} of {model['rounds_run']} rounds")
        )
    if result.metrics:
        parts.append(ab_table(result.metrics))
    gate = result.gate
    if gate:
        style = "bold green" if gate["promote"] else "bold yellow"
        parts.append(Text(f"decision: {gate['verdict']}", style=style))
        parts.extend(Text(f"  {reason}") for reason in gate["reasons"])


def render(result: RunResult) -> Group:
    parts: list = [tasks_table(result)]
    if result.pipeline == "recsys":
        render_recsys(result, parts)
    else:
        render_weather(result, parts)
    for label, kind in (("staging", "staging"), ("integration test", "integration")):
        stage = result.report(kind)
        if stage:
            parts.append(Text(f"{label}: {stage['reason']}"))
    registration = result.registration  # the run's registry outcome: promote_model's
    if registration:
        parts.append(Text(f"registry: {registration['reason']}"))
    if result.model_sha256:
        parts.append(Text(f"model sha256: {result.model_sha256}"))
    if not result.ok:
        parts.append(Text(f"FAILED at {result.failed_step}: {result.error}", style="bold red"))
        parts.append(Text(f"log: {result.log_location}"))
    parts.append(
        Text(f"{result.state} in {result.wall_seconds:.1f} s; artifacts: {result.run_dir}")
    )
    return Group(*parts)


def render_weather(result: RunResult, parts: list) -> None:
    model = result.model
    if model:
        cv = model["cv"]
        parts.append(
            Text(
                f"tuning: {len(model['candidates'])} candidate(s); best {model['params']} "
                f"with CV {cv['metric']} {cv['mean']:.4f} ± {cv['std']:.4f}"
            )
        )
    metrics = result.metrics
    if metrics:
        m = Table(title="holdout metrics", title_justify="left")
        m.add_column("metric")
        m.add_column("value", justify="right")
        for name in _METRICS:
            value = metrics.get(name)
            m.add_row(name, "n/a" if value is None else f"{value:.4f}")
        parts.append(m)
    gate = result.gate
    if gate:
        verdict = "PROMOTE" if gate["promote"] else "REFUSE"
        parts.append(
            Text(f"gate: {verdict}", style="bold green" if gate["promote"] else "bold yellow")
        )
        parts.extend(Text(f"  {reason}") for reason in gate["reasons"])
