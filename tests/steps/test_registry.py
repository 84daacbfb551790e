import multiprocessing
import os

import pytest

from mlpipeline import artifacts, cancellation
from mlpipeline.errors import RegistryError
from mlpipeline.registry import AliasChanged, Registry
from tests.conftest import tree_digest


def test_register_promote_and_load(tmp_path):
    reg = Registry(tmp_path)
    assert reg.production() is None
    e1 = reg.register(b"model-1", {"metrics": {}}, alias="production")
    e2 = reg.register(b"model-2", {"metrics": {}})
    assert (e1.version, e2.version) == (1, 2)
    assert reg.production().version == 1
    assert reg.load_model(2) == b"model-2"
    assert reg.entry(1).record["sha256"] == artifacts.sha256_bytes(b"model-1")


def test_tampered_model_is_refused(tmp_path):
    reg = Registry(tmp_path)
    entry = reg.register(b"good", {}, alias="production")
    entry.model_path.write_bytes(b"evil")
    with pytest.raises(RegistryError, match="checksum mismatch for v0001"):
        reg.load_model(1)


def test_crash_mid_write_leaves_registry_unchanged(tmp_path, monkeypatch):
    reg = Registry(tmp_path)
    reg.register(b"v1", {}, alias="production")
    before = tree_digest(tmp_path)

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated crash before the entry is renamed into place)")

    monkeypatch.setattr(os, "rename", crash)
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


def _register_many(root, worker, n):
    reg = Registry(root)
    for i in range(n):
        reg.register(f"{worker}-{i}".encode(), {"worker": worker}, alias="production")


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


def test_same_bytes_reuse_the_entry_and_move_the_alias(tmp_path):
    """A rerun after a crash between the entry and the alias must not add a duplicate."""
    reg = Registry(tmp_path)
    first = reg.register(b"model", {})  # complete entry, alias never moved (the "crash")
    again = reg.register(b"model", {}, alias="production", expected=None)
    assert (first.created, again.created) == (True, False)
    assert reg.versions() == [1] and reg.production().version == 1


def test_alias_moves_only_if_it_still_names_the_expected_model(tmp_path):
    """Compare-and-swap: a run that compared against v1 cannot replace v2 promoted meanwhile."""
    reg = Registry(tmp_path)
    v1 = reg.register(b"v1", {}, alias="production", expected=None)
    reg.register(b"v2", {}, alias="production", expected=v1.sha256)  # the other run wins
    before = tree_digest(tmp_path)
    with pytest.raises(AliasChanged, match="production changed since the decision"):
        reg.register(b"worse", {}, alias="production", expected=v1.sha256)
    assert tree_digest(tmp_path) == before  # no entry, no alias move
    with pytest.raises(AliasChanged, match="it was no model"):
        reg.register(b"worse", {}, alias="production", expected=None)


def test_set_alias_is_checked_too(tmp_path):
    reg = Registry(tmp_path)
    v1 = reg.register(b"v1", {}, alias="staging")
    assert reg.alias("staging").version == 1 and reg.production() is None
    reg.set_alias("production", v1.version, expected=None)
    with pytest.raises(AliasChanged):
        reg.set_alias("production", v1.version, expected=None)


def test_an_abandoned_attempt_commits_nothing(tmp_path):
    reg = Registry(tmp_path)

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
