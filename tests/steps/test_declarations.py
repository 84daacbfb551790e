"""Each step reads exactly the config sections it declares, and no file it does not declare.

A declaration feeds the cache keys: a section a step reads but does not declare would let an
edit of that section return a stale result. So each step is run on real inputs with a config
that records which sections it touches, and with an audit hook that records the files it opens.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from mlpipeline import pipelines
from mlpipeline.direct import run_steps
from mlpipeline.execution import handles
from tests.conftest import config_in

_opened: list[str] | None = None  # set while a step runs; the hook cannot be removed
_lock = threading.Lock()


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], str | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


class RecordingConfig:
    """The config, recording which top-level sections are read."""

    def __init__(self, cfg: Any):
        self._cfg, self.sections = cfg, set()

    def __getattr__(self, name: str) -> Any:
        if name in self._cfg.sections():  # not methods (to_params: a record of the config)
            self.sections.add(name)
        return getattr(self._cfg, name)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("declarations")
    cfg = config_in(work)
    return cfg, run_steps(cfg, work / "runs" / "once"), work


WEATHER = pipelines.get("weather")


def run_recorded(pipeline, name: str, cfg, inputs: dict, out, allowed: list[Path]) -> None:
    """Run step `name` with a recording config and an audit of the files it opens: it must read
    exactly the sections it declares, and open nothing outside its declared files, `allowed`
    and the interpreter's own."""
    global _opened
    step = pipeline.steps[name]
    recording = RecordingConfig(cfg)
    extra = {step.map_arg: 0} if step.mapped else {}
    out.path.mkdir()
    with _lock:
        _opened = []
        try:
            step.fn(recording, out, **inputs, **extra)
        finally:
            opened, _opened = _opened, None
    assert recording.sections == set(step.reads), name
    allowed = [Path(p).resolve() for p in [*step.files(cfg), *allowed]]
    outside = {
        p
        for p in opened
        if not p.startswith((sys.prefix, sys.base_prefix, "/proc", "/dev", "/sys"))
        and not any(Path(p).resolve().is_relative_to(a) for a in allowed)
    }
    assert outside == set(), f"{name} opened files it does not declare"


@pytest.mark.parametrize("name", list(WEATHER.steps))
def test_step_reads_what_it_declares(name, finished_run, tmp_path):
    cfg, outputs, work = finished_run
    step = WEATHER.steps[name]
    inputs = handles(WEATHER, name, {arg: outputs[up] for arg, up in step.inputs.items()})
    out = step.output(tmp_path / name)
    run_recorded(WEATHER, name, cfg, inputs, out, allowed=[work / "runs", out.path])
    assert (
        sorted(f.name for f in out.path.iterdir() if not f.name.startswith("."))
        == sorted(step.writes.values())
        or name == "register_model"
        and (out.path / "registration.json").exists()
    )


# -- the recommender pipeline, at small scale (about 10k events a day) ----------------------
RECSYS = pipelines.get("recsys")


@pytest.fixture(scope="module")
def recsys_run(tmp_path_factory):
    from mlpipeline import workspace
    from mlpipeline.recsys.landing import ensure_landing

    work = tmp_path_factory.mktemp("recsys-declarations")
    # A planted null makes evaluate_ab read every section it declares (generator, data).
    cfg = workspace.config_in(work, {"evaluation.plant_effect": 0.0}, pipeline="recsys")
    ensure_landing(cfg)
    return cfg, run_steps(cfg, work / "runs" / "once"), work


DEPLOYMENT = ("register_model", "integration_test", "promote_model")


def promoted_inputs(cfg, name: str, outputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A deployment step's inputs as if the gate had promoted: the gate's decision flipped, the
    deployment steps before `name` run again on it (unrecorded)."""
    promoted = RECSYS.output("gate_model", tmp_path / "promoted")
    promoted.write_json(
        "gate", {**RECSYS.output("gate_model", outputs["gate_model"]).json("gate"), "promote": True}
    )
    outputs["gate_model"] = str(promoted.path)
    for before in DEPLOYMENT[: DEPLOYMENT.index(name)]:
        s = RECSYS.steps[before]
        out = s.output(tmp_path / f"promoted-{before}")
        out.path.mkdir()
        s.fn(cfg, out, **handles(RECSYS, before, {a: outputs[u] for a, u in s.inputs.items()}))
        outputs[before] = str(out.path)
    step = RECSYS.steps[name]
    return handles(RECSYS, name, {arg: outputs[up] for arg, up in step.inputs.items()})


@pytest.mark.parametrize("name", list(RECSYS.steps))
def test_recsys_step_reads_what_it_declares(name, recsys_run, tmp_path):
    cfg, outputs, work = recsys_run
    step = RECSYS.steps[name]
    inputs = handles(RECSYS, name, {arg: outputs[up] for arg, up in step.inputs.items()})
    if name in DEPLOYMENT:  # the null was refused: promote, so that each step reads everything
        inputs = promoted_inputs(cfg, name, {**outputs}, tmp_path)
    out = step.output(tmp_path / name)
    run_recorded(RECSYS, name, cfg, inputs, out, allowed=[work / "runs", tmp_path])
    written = sorted(f.name for f in out.path.iterdir() if not f.name.startswith("."))
    assert written == sorted(step.writes.values()), name


def test_recsys_faults_name_the_declared_steps():
    from mlpipeline.recsys.config import RECSYS_STEPS

    assert tuple(RECSYS.steps) == RECSYS_STEPS
