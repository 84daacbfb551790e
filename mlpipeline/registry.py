"""A file-based model registry: versioned entries and a `production` alias.

Layout::

    registry/
      .lock                      flock: one writer at a time, across processes
      models/v0001/model.ubj     the model, XGBoost's own UBJSON format
      models/v0001/entry.json    sha256, metrics, config, data fingerprint, run id, engine
      production.json            the alias: {"version": 1, "sha256": "..."}

An entry is built in a hidden temporary directory, fsynced, then renamed to `vNNNN`: a crash
leaves either no entry or a complete one. The alias moves (atomic rename) only after the entry is
complete. Loading a model checks its sha256 and refuses a mismatch; nothing is ever unpickled.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlpipeline import artifacts
from mlpipeline.errors import RegistryError

MODEL_FILE = "model.ubj"
ENTRY_FILE = "entry.json"


@dataclass(frozen=True)
class Entry:
    version: int
    sha256: str
    path: Path  # the entry's directory
    record: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE


class Registry:
    def __init__(self, root: str | Path, lock_timeout: float = 60.0):
        self.root = Path(root)
        self.models = self.root / "models"
        self.alias = self.root / "production.json"
        self.lock_timeout = lock_timeout

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
        except FileNotFoundError:
            raise RegistryError(f"no entry v{version:04d}", where=str(self.root)) from None
        return Entry(version, record["sha256"], path, record)

    def production(self) -> Entry | None:
        if not self.alias.exists():
            return None
        alias = artifacts.read_json(self.alias)
        entry = self.entry(alias["version"])
        if entry.sha256 != alias["sha256"]:
            raise RegistryError(
                f"production alias names sha256 {alias['sha256'][:12]} but "
                f"v{entry.version:04d} holds {entry.sha256[:12]}",
                where=str(self.alias),
            )
        return entry

    def load_model(self, version: int) -> bytes:
        """The model bytes of an entry, after checking them against the recorded sha256."""
        entry = self.entry(version)
        data = entry.model_path.read_bytes()
        actual = artifacts.sha256_bytes(data)
        if actual != entry.sha256:
            raise RegistryError(
                f"checksum mismatch for v{version:04d}: recorded "
                f"{entry.sha256[:12]}, file has {actual[:12]}; refusing to load",
                where=str(entry.model_path),
            )
        return data

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as f:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RegistryError(
                            f"could not lock the registry within {self.lock_timeout:.0f} s",
                            where=str(self.root),
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def register(self, model_bytes: bytes, record: dict[str, Any], *, promote: bool) -> Entry:
        """Add a complete entry; then, if `promote`, point the production alias at it."""
        sha = artifacts.sha256_bytes(model_bytes)
        with self.lock():
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
                    "registered_at": datetime.now(timezone.utc).isoformat(),
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
            if promote:
                artifacts.write_json(self.alias, {"version": version, "sha256": sha})
            return Entry(version, sha, final, full)
