"""A file-based model registry: versioned entries and a `production` alias.

Layout::

    registry/
      .lock                      flock: one writer at a time, across processes
      models/v0001/model.ubj     the model, XGBoost's own UBJSON format
      models/v0001/entry.json    sha256, metrics, config, data fingerprint, run id, engine
      production.json            an alias: {"version": 1, "sha256": "..."} (also staging.json)

An entry is built in a hidden temporary directory, fsynced, then renamed to `vNNNN`: a crash
leaves either no entry or a complete one. An alias moves (atomic rename) only after the entry is
complete. Loading a model checks its sha256 and refuses a mismatch; nothing is ever unpickled.

Two rules make concurrent and interrupted runs safe:

* **Idempotent by content.** Registering bytes that a complete entry already holds reuses that
  entry (a retry after a crash between the entry and the alias, or an abandoned attempt that
  got that far, never adds a duplicate).
* **Compare-and-swap on aliases.** A caller that decided on the strength of a comparison with
  the current production model passes that model's sha256 as `expected`; under the lock, the
  alias moves only if it still names that model. Otherwise `AliasChanged`: another run promoted
  in between, and this decision is stale.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipeline import artifacts, cancellation
from mlpipeline.errors import RegistryError

if TYPE_CHECKING:
    from mlpipeline.config import PipelineConfig
    from mlpipeline.registry_mlflow import MlflowRegistry

MODEL_FILE = "model.ubj"
ENTRY_FILE = "entry.json"
PRODUCTION, STAGING = "production", "staging"
ALIASES = (STAGING, PRODUCTION)
_ANY = object()  # `expected` not given: move the alias whatever it names now


class AliasChanged(RegistryError):
    """An alias no longer names the model a decision was based on (another run moved it)."""


@dataclass(frozen=True)
class Entry:
    version: int
    sha256: str
    path: Path  # the entry's directory
    record: dict[str, Any]
    created: bool = True  # False: an existing entry with the same bytes was reused

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE


def checked(data: bytes, entry: Entry) -> bytes:
    """`data` if it is the model `entry` records; a RegistryError otherwise (every backend)."""
    actual = artifacts.sha256_bytes(data)
    if actual != entry.sha256:
        raise RegistryError(
            f"checksum mismatch for v{entry.version:04d}: recorded "
            f"{entry.sha256[:12]}, file has {actual[:12]}; refusing to load",
            where=str(entry.model_path),
        )
    return data


def check_alias(
    name: str, current: Entry | None, expected: str | None | object, where: str
) -> None:
    """Compare-and-swap's compare, for every backend: the alias must still name `expected`."""
    now = current.sha256 if current else None
    if now != expected:
        was = expected[:12] if isinstance(expected, str) else "no model"
        raise AliasChanged(
            f"{name} changed since the decision: it was {was}, it is now "
            f"{f'v{current.version:04d} ({now[:12]})' if current else 'no model'}",
            where=where,
        )


class Writes:
    """The writes every backend makes the same way: under the backend's lock, a cancellation
    checkpoint right before each commit (an abandoned attempt commits nothing), and an alias
    moved only if it still names `expected` (compare-and-swap). A backend provides `lock`,
    `entry`, `alias`, `find`, `_write_entry`, `_write_alias` and `_alias_where`."""

    def register(
        self,
        model_bytes: bytes,
        record: dict[str, Any],
        *,
        alias: str | None = None,
        expected: str | None | object = _ANY,
    ) -> Entry:
        """Add a complete entry (or reuse the one holding these bytes); then, if `alias` is
        given, point it at the entry, provided it still names `expected` (a sha256, or None for
        "no model yet")."""
        sha = artifacts.sha256_bytes(model_bytes)
        self._ready()
        with self.lock():
            if alias is not None:
                self._check_alias(alias, expected)
            entry = self.find(sha)
            if entry is None:
                cancellation.check("registry")
                entry = self._write_entry(model_bytes, sha, record)
            else:
                entry = dataclasses.replace(entry, created=False)
            if alias is not None:
                cancellation.check("registry")
                self._write_alias(alias, entry)
            return entry

    def set_alias(self, name: str, version: int, *, expected: str | None | object = _ANY) -> Entry:
        """Point alias `name` at an existing entry (compare-and-swap with `expected`)."""
        self._ready()
        with self.lock():
            self._check_alias(name, expected)
            entry = self.entry(version)
            cancellation.check("registry")
            self._write_alias(name, entry)
            return entry

    def production(self) -> Entry | None:
        return self.alias(PRODUCTION)

    def _ready(self) -> None:
        """Whatever must happen before taking the lock (nothing for files)."""

    def _check_alias(self, name: str, expected: str | None | object) -> None:
        self._alias_where(name)  # an unknown alias is refused even without `expected`
        if expected is not _ANY:
            check_alias(name, self.alias(name), expected, where=self._alias_where(name))


class Registry(Writes):
    def __init__(self, root: str | Path, lock_timeout: float = 60.0):
        self.root = Path(root)
        self.models = self.root / "models"
        self.lock_timeout = lock_timeout

    def alias_file(self, name: str) -> Path:
        if name not in ALIASES:
            raise ValueError(f"unknown alias {name!r}; aliases: {', '.join(ALIASES)}")
        return self.root / f"{name}.json"

    # -- reading ------------------------------------------------------------------------------
    def versions(self) -> list[int]:
        if not self.models.is_dir():
            return []
        return sorted(
            int(p.name[1:])
            for p in self.models.iterdir()
            if p.name.startswith("v") and p.name[1:].isdigit()
        )

    def entry(self, version: int) -> Entry:
        path = self.models / f"v{version:04d}"
        try:
            record = artifacts.read_json(path / ENTRY_FILE)
            return Entry(version, str(record["sha256"]), path, record)
        except FileNotFoundError:
            raise RegistryError(f"no entry v{version:04d}", where=str(self.root)) from None
        except (ValueError, KeyError, TypeError) as e:
            raise RegistryError(
                f"entry v{version:04d} is unreadable ({type(e).__name__}: {e})",
                where=str(path / ENTRY_FILE),
            ) from None

    def alias(self, name: str) -> Entry | None:
        """The entry an alias names, checked: None if the alias was never set."""
        path = self.alias_file(name)
        try:
            alias = artifacts.read_json(path)
            version, sha = int(alias["version"]), str(alias["sha256"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            raise RegistryError(
                f"the {name} alias is unreadable ({type(e).__name__}: {e}); restore it from "
                f"a backup or delete it to start without a {name} model",
                where=str(path),
            ) from None
        entry = self.entry(version)
        if entry.sha256 != sha:
            raise RegistryError(
                f"{name} alias names sha256 {sha[:12]} but "
                f"v{entry.version:04d} holds {entry.sha256[:12]}",
                where=str(path),
            )
        return entry

    def find(self, sha256: str) -> Entry | None:
        """The complete entry holding exactly these bytes, if any."""
        for version in self.versions():
            entry = self.entry(version)
            if entry.sha256 == sha256:
                return entry
        return None

    def load_model(self, version: int) -> bytes:
        """The model bytes of an entry, after checking them against the recorded sha256."""
        entry = self.entry(version)
        return checked(entry.model_path.read_bytes(), entry)

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        try:
            with artifacts.file_lock(self.root / ".lock", self.lock_timeout):
                yield
        except artifacts.LockTimeout:
            raise RegistryError(
                f"could not lock the registry within {self.lock_timeout:.0f} s",
                where=str(self.root),
            ) from None

    def _alias_where(self, name: str) -> str:
        return str(self.alias_file(name))

    def _write_alias(self, name: str, entry: Entry) -> None:
        artifacts.write_json(
            self.alias_file(name), {"version": entry.version, "sha256": entry.sha256}
        )

    def _write_entry(self, model_bytes: bytes, sha: str, record: dict[str, Any]) -> Entry:
        self.models.mkdir(parents=True, exist_ok=True)
        for stale in self.models.glob(".tmp-*"):  # left by a crash: never a valid entry
            shutil.rmtree(stale, ignore_errors=True)
        version = max(self.versions(), default=0) + 1
        tmp = self.models / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            full = {
                **record,
                "version": version,
                "sha256": sha,
                "registered_at": datetime.now(UTC).isoformat(),
            }
            artifacts.write_bytes(tmp / MODEL_FILE, model_bytes)
            artifacts.write_json(tmp / ENTRY_FILE, full)
            artifacts.fsync_dir(tmp)
            final = self.models / f"v{version:04d}"
            os.rename(tmp, final)
            artifacts.fsync_dir(self.models)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Entry(version, sha, final, full)


def location(cfg: Any) -> str:
    """Where `open_registry(cfg)` keeps the models: the file registry's folder, or the MLflow
    store (or server) that holds the Model Registry. For error messages and declarations."""
    if cfg.tracking.registry_backend == "mlflow":
        return cfg.tracking.uri or cfg.tracking.store
    return cfg.paths.registry


def registry_files(cfg: Any) -> list[str]:
    """The `files` of a step that opens the registry (its `reads` add `REGISTRY_SECTIONS`)."""
    return [location(cfg)]


# The config sections `open_registry` reads: the backend key and the file registry's folder.
REGISTRY_SECTIONS = ("paths", "tracking")  # sorted, as declarations list them


def open_registry(cfg: PipelineConfig) -> Registry | MlflowRegistry:
    """The registry `[tracking] registry_backend` names: "file" (default) or "mlflow"."""
    if cfg.tracking.registry_backend == "mlflow":
        from mlpipeline.registry_mlflow import MlflowRegistry

        return MlflowRegistry(cfg.tracking)
    return Registry(cfg.paths.registry)
