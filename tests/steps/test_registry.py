import multiprocessing
import os

import pytest

from mlpipeline import artifacts
from mlpipeline.errors import RegistryError
from mlpipeline.registry import Registry
from tests.conftest import tree_digest


def test_register_promote_and_load(tmp_path):
    reg = Registry(tmp_path)
    assert reg.production() is None
    e1 = reg.register(b"model-1", {"metrics": {}}, promote=True)
    e2 = reg.register(b"model-2", {"metrics": {}}, promote=False)
    assert (e1.version, e2.version) == (1, 2)
    assert reg.production().version == 1
    assert reg.load_model(2) == b"model-2"
    assert reg.entry(1).record["sha256"] == artifacts.sha256_bytes(b"model-1")


def test_tampered_model_is_refused(tmp_path):
    reg = Registry(tmp_path)
    entry = reg.register(b"good", {}, promote=True)
    entry.model_path.write_bytes(b"evil")
    with pytest.raises(RegistryError, match="checksum mismatch for v0001"):
        reg.load_model(1)


def test_crash_mid_write_leaves_registry_unchanged(tmp_path, monkeypatch):
    reg = Registry(tmp_path)
    reg.register(b"v1", {}, promote=True)
    before = tree_digest(tmp_path)

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated crash before the entry is renamed into place)")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="disk full"):
        reg.register(b"v2", {}, promote=True)
    monkeypatch.undo()
    assert tree_digest(tmp_path) == before
    assert reg.versions() == [1] and reg.production().version == 1
    assert not list((tmp_path / "models").glob(".tmp-*"))


def test_stale_temporary_entry_is_never_read_and_is_cleaned(tmp_path):
    reg = Registry(tmp_path)
    reg.register(b"v1", {}, promote=True)
    stale = tmp_path / "models" / ".tmp-dead"
    stale.mkdir()
    (stale / "model.ubj").write_bytes(b"half")
    assert reg.versions() == [1]
    reg.register(b"v2", {}, promote=False)
    assert not stale.exists()


def _register_many(root, worker, n):
    reg = Registry(root)
    for i in range(n):
        reg.register(f"{worker}-{i}".encode(), {"worker": worker}, promote=True)


def test_concurrent_writers_lose_no_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_register_many, args=(tmp_path, w, 10)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    reg = Registry(tmp_path)
    assert reg.versions() == list(range(1, 41))
    payloads = {reg.load_model(v) for v in reg.versions()}
    assert len(payloads) == 40
    assert reg.production() is not None  # the alias names a complete, checksummed entry
