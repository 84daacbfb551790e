"""The exercises' checks refuse the wrong design, not only wrong numbers.

Each test loads a solution's code (without its closing `assert check()`), swaps in a plausible
wrong answer, and expects the exercise's own `check()` to say "TODO" and return False.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SOLUTIONS = Path(__file__).resolve().parents[2] / "tutorials" / "solutions"


def load(name: str) -> dict:
    source = (SOLUTIONS / name).read_text(encoding="utf-8")
    body, last = source.rstrip().rsplit("\n", 1)
    assert last == "assert check()", f"{name} should end with `assert check()`"
    namespace: dict = {"__name__": name}
    exec(compile(body, str(SOLUTIONS / name), "exec"), namespace)
    return namespace


def test_the_diamond_solution_passes(capsys):
    assert load("01_diamond.py")["check"]()
    assert "solved: 26" in capsys.readouterr().out


def test_a_chain_is_not_a_diamond(capsys):
    """The chain fetch -> double -> square -> combine still computes 26 if `square` squares
    `fetch`'s list and merely waits for `double`: the shape is what the check must catch."""
    ns = load("01_diamond.py")
    DAG = ns["DAG"]

    def chain() -> DAG:
        dag = DAG("chain")
        dag.add_task("fetch", lambda: [1, 2, 3])
        dag.add_task("double", ns["double"], inputs={"numbers": "fetch"})
        dag.add_task("square", ns["square"], inputs={"numbers": "fetch"}, after=("double",))
        dag.add_task("combine", ns["combine"], inputs={"doubled": "double", "squared": "square"})
        return dag

    assert chain().run().results["combine"] == 26  # right number, wrong design
    ns["build_diamond"] = chain
    assert ns["check"]() is False
    assert "TODO: not a diamond" in capsys.readouterr().out


def test_the_cache_key_solution_passes(capsys):
    assert load("05_cache_key.py")["check"]()
    assert "solved:" in capsys.readouterr().out


@pytest.mark.parametrize("stamp", ["size", "size_and_mtime"])
def test_a_key_from_the_file_size_is_refused(stamp: str, capsys):
    ns = load("05_cache_key.py")

    def by_size(inputs: dict) -> str:
        stat = os.stat(inputs["path"])
        parts = [stat.st_size] + ([stat.st_mtime_ns] if stamp == "size_and_mtime" else [])
        return json.dumps([inputs["threshold"], *parts])

    ns["cache_key"] = by_size
    assert ns["check"]() is False
    assert "in-place edit of the same size" in capsys.readouterr().out
