"""Every lesson, exercise and solution runs top to bottom as a notebook; notebooks never drift.

Each script is converted with jupytext and executed by nbclient in a fresh kernel of this
environment, failing on the first error. A file declares what it needs on a line
``# requires: none|any|airflow|prefect``: `none` files run once, in `tox -e mock`; `any` lessons
run in each engine's environment (each engine's section prints a one-line note where that engine
is missing); an engine-only file is skipped with the tox environment that runs it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from mlpipeline import engines

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"
LESSONS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
EXERCISES = sorted((TUTORIALS / "exercises").glob("[0-9][0-9]_*.py"))
SOLUTIONS = sorted((TUTORIALS / "solutions").glob("[0-9][0-9]_*.py"))
REQUIRES = re.compile(r"^# requires: (none|any|airflow|prefect)\s*$", re.MULTILINE)
KNOWN = {"none", "any", *engines.ENGINES}

# Seconds a whole notebook may take (measured times are in tutorials/README.md; these leave room
# for a slow laptop). Anything not listed: 120 s.
TIMEOUTS = {
    "02": 240,
    "03": 240,
    "04": 300,
    "05": 300,
    "06": 300,
    "07": 420,
    "08": 360,
    "09": 420,
    "10": 240,
}

# The seed tutorial's first example, printed by lesson 1.
ETL_OUTPUT = [
    "DAG: ml_pipeline",
    "Extract status: success",
    "Transform result: [2, 4, 6, 8, 10]",
    "Load records: 5",
]


def requirement(path: Path) -> str:
    found = REQUIRES.findall(path.read_text(encoding="utf-8"))
    assert len(found) == 1, f"{path.name}: needs exactly one '# requires: ...' line"
    return found[0]


def skip_reason(path: Path) -> str | None:
    need = requirement(path)
    if need == "none" and engines.available() != ["mock"]:
        # Engine-free files run once, in the environment without an orchestrator: the same
        # run again in each engine's environment would only spend the test command's budget.
        return f"{path.name} needs no orchestrator: it runs in `tox -e mock`"
    if need == "any" and engines.available() == ["mock"]:
        # Each engine's environment runs it whole: the mock engine's sections, its own, and the
        # one-line note of the engine it lacks; here it would only repeat the mock sections.
        return f"{path.name} runs in `tox -e airflow-tutorials` and `tox -e prefect-tutorials`"
    if need in ("none", "any") or engines.is_available(need):
        return None
    return f"{path.name} needs {need}, not installed here: run it with `tox -e {need}-tutorials`"


def timeout(path: Path) -> int:
    return TIMEOUTS.get(path.name[:2], 120)


def cases(paths: list[Path]) -> list:
    return [pytest.param(p, id=p.stem, marks=pytest.mark.timeout(timeout(p) + 60)) for p in paths]


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """One Prefect API server for this module's notebooks, where Prefect is installed.

    Each kernel otherwise starts its own local server: about 20 CPU s each, 13 kernels in
    `tox -e prefect` (measured, 30 November 2026), a sixth of that environment's CPU. A learner
    gets the same by setting PREFECT_API_URL (a profile, `prefect server start`). Lesson 3 uses
    it too, although it teaches the local server's start: on its own it started two servers
    (Prefect's ephemeral one, then the runner's), 60 s alone but 236-300 s in the parallel test
    command (1 December 2026), where it once ran out of its time. The runner's own server start
    is tested in `tests/prefect` (`test_server.py`)."""
    if not engines.is_available("prefect"):
        yield None
        return
    from prefect_impl.runner import prefect_environment
    from prefect_impl.server import LocalServer

    home = tmp_path_factory.mktemp("prefect-notebooks")
    env = prefect_environment(SimpleNamespace(paths=SimpleNamespace(cache=home)))
    server = LocalServer(home / "server.log", env=env)
    try:
        yield server.start()
    finally:
        server.stop()


def execute(
    path: Path, *, unsolved: bool = False, prefect_api: str | None = None
) -> nbformat.NotebookNode:
    """Run `path` as a notebook; `unsolved`: it must stop with its "not solved yet" line;
    `prefect_api`: the shared Prefect server (the fixture), for the files that may use it."""
    reason = skip_reason(path)
    if reason:
        pytest.skip(reason)
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook,
        timeout=timeout(path),  # per cell; pytest-timeout bounds the whole notebook
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's working directory
    )
    # A clean start, as on a learner's machine: no engine home or server chosen by the tests
    # (but the shared Prefect server, see `prefect_api`).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PREFECT"))}
    if prefect_api and requirement(path) in ("any", "prefect"):
        env["PREFECT_API_URL"] = prefect_api
    started = time.perf_counter()
    if unsolved:
        with pytest.raises(CellExecutionError) as stopped:
            client.execute(env=env)
        assert stopped.value.ename == "SystemExit", stopped.value
        assert stopped.value.evalue.startswith("not solved yet"), stopped.value.evalue
    else:
        client.execute(env=env)
    print(f"{path.relative_to(TUTORIALS)}: {time.perf_counter() - started:.1f} s")
    return notebook


def text_outputs(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "text/plain" in output.get("data", {}):
                parts.append(output["data"]["text/plain"])
    return "".join(parts)


def test_the_course_is_complete():
    numbers = [p.name[:2] for p in LESSONS]
    assert numbers == [f"{i:02d}" for i in range(1, 11)], numbers
    assert [p.name for p in EXERCISES] == [p.name for p in SOLUTIONS]
    # Every lesson has an exercise but the recommender's lesson 10 (practice questions only).
    assert {p.name[:2] for p in SOLUTIONS} == set(numbers) - {"10"}
    for path in [*LESSONS, *EXERCISES, *SOLUTIONS]:
        assert requirement(path) in KNOWN


def _comparable(notebook: nbformat.NotebookNode) -> dict:
    """What a notebook says, without the random cell ids jupytext gives new cells and the
    jupytext version the script's header records."""
    metadata = json.loads(json.dumps(notebook.metadata))
    metadata.get("jupytext", {}).pop("text_representation", None)
    return {
        "metadata": metadata,
        "cells": [(c.cell_type, c.source, c.metadata) for c in notebook.cells],
    }


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_notebook_is_the_script_regenerated(path: Path):
    """`jupytext --sync tutorials/NN_*.py` was run after the last edit of the script."""
    notebook = path.with_suffix(".ipynb")
    fix = f"run `jupytext --sync tutorials/{path.name}`"
    assert notebook.exists(), f"missing {notebook.name}: {fix}"
    saved = nbformat.read(notebook, as_version=4)
    nbformat.validate(saved)
    assert _comparable(saved) == _comparable(jupytext.read(path)), f"{notebook.name} drifted: {fix}"
    assert all(not c.get("outputs") and not c.get("execution_count") for c in saved.cells), (
        f"{notebook.name} has outputs: commit notebooks output-free ({fix})"
    )


@pytest.mark.parametrize("path", cases(LESSONS))
def test_lesson_runs(path: Path, prefect_api: str | None):
    notebook = execute(path, prefect_api=prefect_api)
    if path.name.startswith("01_"):
        lines = text_outputs(notebook).splitlines()
        for line in ETL_OUTPUT:
            assert line in lines, f"lesson 1 did not print {line!r}"
        start = lines.index(ETL_OUTPUT[0])
        assert lines[start : start + 4] == ETL_OUTPUT


@pytest.mark.parametrize("path", cases(SOLUTIONS))
def test_solution_runs(path: Path, prefect_api: str | None):
    execute(path, prefect_api=prefect_api)


@pytest.mark.parametrize("path", cases(EXERCISES))
def test_exercise_runs_unsolved(path: Path, prefect_api: str | None):
    """The starting point runs up to its check, which stops it with "not solved yet" (a script
    exits with status 1) after printing what is left to do."""
    notebook = execute(path, unsolved=True, prefect_api=prefect_api)
    assert "TODO" in text_outputs(notebook), f"{path.name} should say what is left to do"
