"""The registry's guarantees, checked on both backends: the file registry and MLflow's Model
Registry (tests naming files on disk are file-only; the MLflow crash test is its own)."""

import os
import shutil
from pathlib import Path

import pytest

from mlpipeline import artifacts, cancellation
from mlpipeline.config import TrackingConfig
from mlpipeline.errors import RegistryError
from mlpipeline.registry import AliasChanged, Registry
from tests.conftest import tree_digest
from tests.processes import mlflow_workers, run_all


def open_backend(kind: str, root: Path):
    if kind == "file":
        return Registry(root)
    from mlpipeline.registry_mlflow import MlflowRegistry

    return MlflowRegistry(TrackingConfig(store=str(root), registry_backend="mlflow"))


def state(reg) -> tuple:
    """What a reader can see: every version's sha256 and where each alias points (for the file
    registry, every byte it holds)."""
    if isinstance(reg, Registry):
        return tree_digest(reg.root)
    aliases = {a: (e.version if (e := reg.alias(a)) else None) for a in ("staging", "production")}
    return [(v, reg.entry(v).sha256) for v in reg.versions()], aliases


_MLFLOW = pytest.param(
    "mlflow",
    marks=pytest.mark.skipif(
        not __import__("importlib").util.find_spec("mlflow"),
        reason="the MLflow client is not installed here (tox -e mock, prefect or mlflow)",
    ),
)


@pytest.fixture(params=["file", _MLFLOW])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An empty MLflow database with its tables: creating them costs seconds per test. (The
    concurrent-writers test starts from nothing, racing the creation itself.)"""
    store = tmp_path_factory.mktemp("mlflow-template")
    open_backend("mlflow", store).versions()
    return store / "mlflow.db"


@pytest.fixture
def open_reg(backend, tmp_path, request):
    if backend == "mlflow":
        shutil.copy(request.getfixturevalue("mlflow_template"), tmp_path / "mlflow.db")
    return lambda: open_backend(backend, tmp_path)


def test_register_promote_and_load(open_reg):
    reg = open_reg()
    assert reg.production() is None
    e1 = reg.register(b"model-1", {"metrics": {}}, alias="production")
    e2 = reg.register(b"model-2", {"metrics": {}})
    assert (e1.version, e2.version) == (1, 2)
    assert reg.production().version == 1
    assert reg.load_model(2) == b"model-2"
    assert reg.entry(1).record["sha256"] == artifacts.sha256_bytes(b"model-1")


def test_tampered_model_is_refused(open_reg):
    reg = open_reg()
    entry = reg.register(b"good", {}, alias="production")
    entry.model_path.write_bytes(b"evil")
    with pytest.raises(RegistryError, match="checksum mismatch for v0001"):
        reg.load_model(1)


def crash(message: str):
    """A stand-in for a write that fails with OSError(`message`), as a crash would."""

    def fail(*args, **kwargs):
        raise OSError(message)

    return fail


def test_crash_mid_write_leaves_registry_unchanged(tmp_path, monkeypatch):
    reg = Registry(tmp_path)
    reg.register(b"v1", {}, alias="production")
    before = tree_digest(tmp_path)

    monkeypatch.setattr(
        os, "rename", crash("disk full (simulated crash before the entry is renamed into place)")
    )
    with pytest.raises(OSError, match="disk full"):
        reg.register(b"v2", {}, alias="production")
    monkeypatch.undo()
    assert tree_digest(tmp_path) == before
    assert reg.versions() == [1] and reg.production().version == 1
    assert not list((tmp_path / "models").glob(".tmp-*"))


def test_stale_temporary_entry_is_never_read_and_is_cleaned(tmp_path):
    reg = Registry(tmp_path)
    reg.register(b"v1", {}, alias="production")
    stale = tmp_path / "models" / ".tmp-dead"
    stale.mkdir()
    (stale / "model.ubj").write_bytes(b"half")
    assert reg.versions() == [1]
    reg.register(b"v2", {})
    assert not stale.exists()


def _register_many(kind, root, worker, n):
    reg = open_backend(kind, root)
    for i in range(n):
        reg.register(f"{worker}-{i}".encode(), {"worker": worker}, alias="production")


def test_concurrent_writers_lose_no_entry(backend, tmp_path):
    n = 10 if backend == "file" else 3  # MLflow: a run, two artifacts and a version each
    ctx = mlflow_workers()
    procs = [ctx.Process(target=_register_many, args=(backend, tmp_path, w, n)) for w in range(4)]
    run_all(procs)
    reg = open_backend(backend, tmp_path)
    assert reg.versions() == list(range(1, 4 * n + 1))
    payloads = {reg.load_model(v) for v in reg.versions()}
    assert len(payloads) == 4 * n
    assert reg.production() is not None  # the alias names a complete, checksummed entry


def test_same_bytes_reuse_the_entry_and_move_the_alias(open_reg):
    """A rerun after a crash between the entry and the alias must not add a duplicate."""
    reg = open_reg()
    first = reg.register(b"model", {})  # complete entry, alias never moved (the "crash")
    again = reg.register(b"model", {}, alias="production", expected=None)
    assert (first.created, again.created) == (True, False)
    assert reg.versions() == [1] and reg.production().version == 1


def test_alias_moves_only_if_it_still_names_the_expected_model(open_reg):
    """Compare-and-swap: a run that compared against v1 cannot replace v2 promoted meanwhile."""
    reg = open_reg()
    v1 = reg.register(b"v1", {}, alias="production", expected=None)
    reg.register(b"v2", {}, alias="production", expected=v1.sha256)  # the other run wins
    before = state(reg)
    with pytest.raises(AliasChanged, match="production changed since the decision"):
        reg.register(b"worse", {}, alias="production", expected=v1.sha256)
    assert state(reg) == before  # no entry, no alias move
    with pytest.raises(AliasChanged, match="it was no model"):
        reg.register(b"worse", {}, alias="production", expected=None)


def test_set_alias_is_checked_too(open_reg):
    reg = open_reg()
    v1 = reg.register(b"v1", {}, alias="staging")
    assert reg.alias("staging").version == 1 and reg.production() is None
    reg.set_alias("production", v1.version, expected=None)
    with pytest.raises(AliasChanged):
        reg.set_alias("production", v1.version, expected=None)


def test_an_abandoned_attempt_commits_nothing(open_reg):
    reg = open_reg()

    def slow_register():
        import time

        time.sleep(0.3)  # the caller gives up meanwhile
        return reg.register(b"late", {}, alias="production")

    with pytest.raises(cancellation.StepTimeout):
        cancellation.run_with_timeout(slow_register, 0.05, name="register_model")
    import time

    time.sleep(0.5)
    assert reg.versions() == [] and reg.production() is None


@pytest.mark.parametrize("text", ["{not json", '{"sha256": "x"}', "[]"])
def test_corrupt_alias_names_the_file(tmp_path, text):
    reg = Registry(tmp_path)
    reg.register(b"v1", {}, alias="production")
    (tmp_path / "production.json").write_text(text)
    with pytest.raises(RegistryError, match="production alias is unreadable") as info:
        reg.production()
    assert str(tmp_path / "production.json") in str(info.value)
    assert not info.value.retryable


def test_mlflow_crash_before_the_version_leaves_the_registry_unchanged(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="the MLflow client is not installed here")
    from mlflow import MlflowClient

    reg = open_backend("mlflow", tmp_path)
    reg.register(b"v1", {}, alias="production")
    before = state(reg)

    lost = crash("connection lost (simulated crash before the model version is created)")
    monkeypatch.setattr(MlflowClient, "create_model_version", lost)
    with pytest.raises(OSError, match="connection lost"):
        reg.register(b"v2", {}, alias="production")
    monkeypatch.undo()
    assert state(reg) == before  # the orphan run holds files no version names
    assert reg.register(b"v2", {}, alias="production").version == 2
