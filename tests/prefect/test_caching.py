"""Caching: what a rerun reuses, what a change invalidates, and that a cache record is data,
never code. States are Prefect's own ("Cached" or "Completed"), read back from the API."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is not installed here (run: tox -e prefect)")

import base64
import importlib.util
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect._internal.result_records import ResultRecord
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore

from mlpipeline import training
from mlpipeline.config import PipelineConfig
from mlpipeline.direct import run_steps
from mlpipeline.graph import CACHEABLE, STEPS
from mlpipeline.steps import WEATHER
from prefect_impl import flow as pipeline
from prefect_impl.cache import SERIALIZER, STEP_CACHE, RefusedRecord, cache_options, store_dir
from tests.conftest import DATA
from tests.prefect.conftest import FlowRun, run_flow

BEFORE_TUNING = {"load_data", "validate_data", "build_features", "split_data"}


def cached(ran: FlowRun) -> set[str]:
    """Steps all of whose task runs were served from the cache."""
    return {step for step, states in ran.states().items() if set(states) == {"Cached"}}


def computed(ran: FlowRun) -> set[str]:
    return {step for step, states in ran.states().items() if "Completed" in states}


# -- reuse and invalidation ------------------------------------------------------------------
def test_a_rerun_serves_every_cacheable_task_from_the_cache(make_config):
    cfg = make_config()
    first = run_flow(cfg, "first")
    second = run_flow(cfg, "second")
    assert computed(first) == set(STEPS)
    assert cached(second) == CACHEABLE
    assert computed(second) == set(STEPS) - CACHEABLE  # the gate and deployment: the registry
    n_cached = sum(r.state.name == "Cached" for r in second.runs)
    assert n_cached == len(CACHEABLE) - 1 + 2  # tune_model: one Cached run per candidate
    # A hit returns the paths the first run wrote.
    first_out, second_out = first.state.result(), second.state.result()
    assert all(second_out[step] == first_out[step] for step in CACHEABLE)


def test_a_changed_grid_reruns_tuning_and_what_follows(make_config):
    run_flow(make_config(), "before")
    grid = {"max_depth": [2, 3], "learning_rate": [0.2], "n_estimators": [40]}
    after = run_flow(make_config(tuning__grid=grid), "after")
    assert cached(after) == BEFORE_TUNING
    assert computed(after) >= {"tune_model", "train_model", "evaluate_model"}


def test_changed_data_reruns_everything(make_config, tmp_path):
    data = tmp_path / "weather.csv"
    shutil.copy(DATA, data)
    cfg = make_config(data__path=str(data))
    run_flow(cfg, "before")
    data.write_text(data.read_text().replace("2012/01/05,1.3,", "2012/01/05,1.4,"))
    after = run_flow(cfg, "after")
    assert cached(after) == set()


EDITED_HELPERS = {
    # Same choice, new code: train_model reruns; its output is byte-identical, so
    # evaluate_model (keyed on its inputs' content) is still served from the cache.
    "same result": "return min(results, key=lambda r: (-r['mean'], r['std'], r['index']))",
    # Another choice: a different model, so evaluate_model reruns as well.
    "new result": "return max(results, key=lambda r: (-r['mean'], r['std'], r['index']))",
}


def edited_best_candidate(tmp_path: Path, body: str) -> Any:
    """`training.best_candidate` with a new body, from a real file (as an edited helper is)."""
    path = tmp_path / "edited_helper.py"
    path.write_text(f"def best_candidate(results):\n    # edited\n    {body}\n")
    spec = importlib.util.spec_from_file_location("mlpipeline._edited_helper", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.best_candidate


@pytest.mark.parametrize("edit", EDITED_HELPERS)
def test_an_edited_helper_reruns_the_step_that_calls_it(edit, make_config, monkeypatch, tmp_path):
    cfg = make_config()
    run_flow(cfg, "before")
    monkeypatch.setattr(
        training, "best_candidate", edited_best_candidate(tmp_path, EDITED_HELPERS[edit])
    )
    after = run_flow(cfg, "after")
    if edit == "same result":
        assert cached(after) == CACHEABLE - {"train_model"}
    else:
        assert cached(after) == CACHEABLE - {"train_model", "evaluate_model"}
    assert "train_model" in computed(after)


def test_prefect_task_source_alone_would_return_a_stale_result(make_config, monkeypatch, tmp_path):
    """Prefect's TASK_SOURCE hashes train_model's three lines in flow.py, not the helpers that
    the train_model step calls: after a helper edit, its key still matches and the cache hands
    back the old model. Ours hashes the helpers too and retrains."""
    cfg = make_config()
    prep = tmp_path / "prep"
    outputs = run_steps(cfg, prep)
    split, tuning = outputs["split_data"], outputs["tune_model"]

    @flow(persist_result=False)
    def train_with_both_keys(cfg: PipelineConfig, run_dir: str) -> dict[str, tuple[str, str]]:
        prefect_key = pipeline.train_model.with_options(
            cache_policy=INPUTS - "cfg" - "run_dir" + TASK_SOURCE,
            result_storage=tmp_path / "prefect-key",
            result_serializer="json",
        )
        our_key = pipeline.train_model.with_options(**cache_options(cfg))
        states = {
            "prefect": prefect_key(cfg, run_dir, split=split, tuning=tuning, return_state=True),
            "ours": our_key(cfg, run_dir, split=split, tuning=tuning, return_state=True),
        }
        return {name: (s.name, s.result()) for name, s in states.items()}

    first = train_with_both_keys(cfg, str(tmp_path / "run1"))
    assert [state for state, _ in first.values()] == ["Completed", "Completed"]
    monkeypatch.setattr(
        training, "best_candidate", edited_best_candidate(tmp_path, EDITED_HELPERS["new result"])
    )
    second = train_with_both_keys(cfg, str(tmp_path / "run2"))

    def best(model_dir: str) -> int:
        return WEATHER.output("train_model", model_dir).json("meta")["best_candidate"]

    # Prefect's key: Cached, the model directory of the first run, chosen by the old helper.
    assert second["prefect"] == ("Cached", first["prefect"][1])
    assert best(second["prefect"][1]) == 0
    assert second["ours"][0] == "Completed" and best(second["ours"][1]) == 1


def test_entries_expire(make_config):
    # 20 s: long enough that the second run, on a 2-core machine running the other test
    # environments at the same time, starts before the first records expire (4 s was not).
    cfg = make_config(cache__expiration_seconds=20)
    run_flow(cfg, "first")
    assert cached(run_flow(cfg, "at-once")) == CACHEABLE
    # Each record carries its expiry (written + 20 s); wait until the last one has passed.
    expiries = [
        datetime.fromisoformat(json.loads(record.read_bytes())["expiration"])
        for record in (store_dir(cfg) / "records").iterdir()
    ]
    time.sleep(max(0.0, (max(expiries) - datetime.now(UTC)).total_seconds()) + 0.1)
    assert cached(run_flow(cfg, "later")) == set()


def test_disabled_cache_stores_nothing(make_config):
    cfg = make_config(cache__enabled=False)
    run_flow(cfg, "first")
    assert cached(run_flow(cfg, "second")) == set()
    assert not store_dir(cfg).exists()


def test_an_unconfigured_policy_never_caches():
    # Outside the flow (no checked store configured) the policy gives no key: no cache lookup.
    assert STEP_CACHE.compute_key(None, {}, {}) is None


# -- cache records are data, never code ------------------------------------------------------
def prefect_result_store(cfg: PipelineConfig) -> ResultStore:
    """Prefect's own ResultStore, configured as the flow configures its cacheable tasks."""
    options = cache_options(cfg)
    return ResultStore(
        result_storage=LocalFileSystem(basepath=str(options["result_storage"])),
        metadata_storage=options["cache_policy"].key_storage,
        serializer=SERIALIZER,
    )


def record_key(cfg: PipelineConfig, output: str) -> str:
    """The cache key whose payload is `output`."""
    for payload in (store_dir(cfg) / "results").iterdir():
        if json.loads(payload.read_bytes()) == output:
            return payload.name
    raise LookupError(output)


def pickle_bomb(marker: Path) -> bytes:
    """A pickle program, hand-written opcode by opcode, that writes `marker` when unpickled:
    GLOBAL builtins.exec, MARK, STRING <code>, TUPLE, REDUCE, STOP."""
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return b"cbuiltins\nexec\n(S" + repr(code).encode() + b"\ntR."


def test_a_record_rewritten_to_pickle_runs_no_code(make_config, tmp_path):
    cfg = make_config()
    first = run_flow(cfg, "first")
    key = record_key(cfg, first.state.result()["load_data"])
    records, results = store_dir(cfg) / "records", store_dir(cfg) / "results"
    marker = tmp_path / "marker"

    record = json.loads((records / key).read_bytes())
    record["serializer"] = {"type": "pickle", "picklelib": "cloudpickle"}
    (records / key).write_text(json.dumps(record))
    (results / key).write_bytes(base64.b64encode(pickle_bomb(marker)))

    # The payload is live: Prefect's own deserializer, given this record, runs it.
    ResultRecord.deserialize_from_result_and_metadata(
        result=(results / key).read_bytes(), metadata=(records / key).read_bytes()
    )
    assert marker.read_text() == "pwned"
    marker.unlink()

    # Through our store: refused before deserializing, so a miss, and nothing runs.
    store = prefect_result_store(cfg)
    assert not store.exists(key)
    with pytest.raises(RefusedRecord, match="names another serializer"):
        store.read(key)
    second = run_flow(cfg, "second")
    assert second.state.is_completed() and not marker.exists()
    assert "load_data" in computed(second) and cached(second) == CACHEABLE - {"load_data"}
    assert store.exists(key)  # rewritten by the rerun, as a JSON record


TAMPERINGS = {
    "a JSON object hook": (
        lambda record, payload: (
            {**record, "serializer": {**record["serializer"], "object_decoder": "builtins.exec"}},
            payload,
        ),
        "names another serializer",
    ),
    "a payload naming a class": (
        lambda record, payload: (record, {"__class__": "subprocess.Popen", "data": ["id"]}),
        "not an artifact path",
    ),
    "a payload naming other files": (
        lambda record, payload: (record, str(DATA)),
        "artifacts changed",
    ),
    "a payload outside the store": (
        lambda record, payload: ({**record, "storage_key": str(DATA)}, payload),
        "outside",
    ),
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_other_tampered_records_are_misses(tampering, make_config):
    cfg = make_config()
    first = run_flow(cfg, "first")
    key = record_key(cfg, first.state.result()["split_data"])
    records, results = store_dir(cfg) / "records", store_dir(cfg) / "results"
    store = prefect_result_store(cfg)
    assert store.exists(key) and store.read(key).result == first.state.result()["split_data"]

    change, reason = TAMPERINGS[tampering]
    record, payload = change(
        json.loads((records / key).read_bytes()), json.loads((results / key).read_bytes())
    )
    (records / key).write_text(json.dumps(record))
    (results / key).write_text(json.dumps(payload))
    assert not store.exists(key)
    with pytest.raises(RefusedRecord, match=reason):
        store.metadata_storage.read_path(key)


def test_deleted_artifacts_are_recomputed(make_config):
    cfg = make_config()
    first = run_flow(cfg, "first")
    WEATHER.output("build_features", first.state.result()["build_features"]).file(
        "features"
    ).unlink()
    second = run_flow(cfg, "second")
    assert second.state.is_completed()
    # Recomputed with the same content, so what reads it is still served from the cache.
    assert cached(second) == CACHEABLE - {"build_features"}
    out = WEATHER.output("build_features", second.state.result()["build_features"])
    assert out.file("features").is_file()
