"""The model registry on MLflow's Model Registry: same interface and guarantees as `Registry`.

Pick it with ``[tracking] registry_backend = "mlflow"``; `mlpipeline.registry.open_registry(cfg)`
returns one or the other. Mapping onto MLflow:

* An entry is a model version of the registered model `tracking.registered_model`. Its files
  (`model.ubj`, XGBoost's own UBJSON format, and `entry.json`, the record) are the artifacts of
  one MLflow run in the experiment ``<registered model>/registry``; the version points at them
  and carries the bytes' sha256 as the tag `sha256`. Nothing is pickled, no MLflow flavor used.
* Aliases are MLflow registered-model aliases (`set_registered_model_alias`), not the stages
  MLflow deprecated. `staging` and `production` are the only names accepted, as in the file
  registry.
* Writes hold a file lock beside the store (the same lock as tracking's writes to the embedded
  SQLite store, so the two never meet as "database is locked"). Under it, compare-and-swap reads
  the alias and moves it only if it still names `expected`, and `register` reuses a version
  whose sha256 tag matches (idempotent by content). With a remote tracking server the lock only
  covers this machine: writers on other machines need the server-side check MLflow does not
  offer for aliases, so run promotions from one host.
* Atomicity: the artifacts are complete before `create_model_version` (one SQL transaction)
  makes them a version; a crash in between leaves an orphan run that no version names, never a
  half entry. Loading downloads `model.ubj` and refuses bytes whose sha256 differs from the tag.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from mlpipeline import artifacts, tracking
from mlpipeline.errors import RegistryError
from mlpipeline.registry import (
    ALIASES,
    ENTRY_FILE,
    MODEL_FILE,
    Entry,
    Writes,
    checked,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlpipeline.config import TrackingConfig

ARTIFACT_DIR = "model"


class MlflowRegistry(Writes):
    def __init__(self, config: TrackingConfig, lock_timeout: float = 300.0):
        self.config = config
        self.name = config.registered_model
        self.lock_timeout = lock_timeout
        self.where = f"MLflow registry {tracking.store_paths(config)[0]} model {self.name!r}"
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            with self.lock():  # a fresh SQLite store creates its tables on first use
                self._client = tracking.client(self.config)
                self._client.search_experiments(max_results=1)
        return self._client

    def _check_name(self, name: str) -> None:
        if name not in ALIASES:
            raise ValueError(f"unknown alias {name!r}; aliases: {', '.join(ALIASES)}")

    # -- reading ------------------------------------------------------------------------------
    def _model_versions(self, filter_extra: str = "") -> list[Any]:
        return list(self.client.search_model_versions(f"name = '{self.name}'{filter_extra}"))

    def versions(self) -> list[int]:
        return sorted(int(mv.version) for mv in self._model_versions())

    def entry(self, version: int) -> Entry:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.name, str(version))
        except MlflowException:
            raise RegistryError(f"no entry v{version:04d}", where=self.where) from None
        return self._entry(mv)

    def _entry(self, mv: Any) -> Entry:
        version = int(mv.version)
        sha = mv.tags.get("sha256")
        if not sha:
            raise RegistryError(f"v{version:04d} has no sha256 tag", where=self.where)
        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(mv.run_id, f"{ARTIFACT_DIR}/{ENTRY_FILE}", tmp)
            record = json.loads(Path(local).read_text(encoding="utf-8"))
        record["version"] = version
        return Entry(version, sha, self._artifact_dir(mv.run_id), record)

    def _artifact_dir(self, run_id: str) -> Path:
        """The version's files, as a local path when the artifact store is a local directory."""
        uri = self.client.get_run(run_id).info.artifact_uri
        parsed = urlparse(uri)
        base = Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else Path(uri)
        return base / ARTIFACT_DIR

    def alias(self, name: str) -> Entry | None:
        from mlflow.exceptions import MlflowException

        self._check_name(name)
        try:
            mv = self.client.get_model_version_by_alias(self.name, name)
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None  # no such model yet, or the alias was never set
            raise
        return self._entry(mv)

    def find(self, sha256: str) -> Entry | None:
        found = self._model_versions(f" and tags.sha256 = '{sha256}'")
        return self._entry(min(found, key=lambda mv: int(mv.version))) if found else None

    def load_model(self, version: int) -> bytes:
        entry = self.entry(version)
        mv = self.client.get_model_version(self.name, str(version))
        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(mv.run_id, f"{ARTIFACT_DIR}/{MODEL_FILE}", tmp)
            data = Path(local).read_bytes()
        return checked(data, entry)

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        try:
            with tracking.file_lock(tracking.store_paths(self.config)[2], self.lock_timeout):
                yield
        except tracking.TrackingError as e:
            raise RegistryError(str(e)) from None

    def _ready(self) -> None:
        self.client  # noqa: B018 - created first: creating it takes the lock, not reentrant

    def _alias_where(self, name: str) -> str:
        self._check_name(name)
        return self.where

    def _write_alias(self, name: str, entry: Entry) -> None:
        self.client.set_registered_model_alias(self.name, name, str(entry.version))

    def _write_entry(self, model_bytes: bytes, sha: str, record: dict[str, Any]) -> Entry:
        from mlflow.exceptions import MlflowException

        client = self.client
        exp_id = tracking.experiment_id(client, self.config, f"{self.name}/registry")
        run = client.create_run(exp_id, tags={"sha256": sha})
        full = {**record, "sha256": sha, "registered_at": datetime.now(timezone.utc).isoformat()}
        with tempfile.TemporaryDirectory() as tmp:
            files = Path(tmp) / ARTIFACT_DIR
            files.mkdir()
            (files / MODEL_FILE).write_bytes(model_bytes)
            (files / ENTRY_FILE).write_text(artifacts.dumps(full), encoding="utf-8")
            client.log_artifacts(run.info.run_id, str(files), ARTIFACT_DIR)
        client.set_terminated(run.info.run_id)
        try:
            client.create_registered_model(self.name)
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        mv = client.create_model_version(
            self.name,
            f"runs:/{run.info.run_id}/{ARTIFACT_DIR}",
            run_id=run.info.run_id,
            tags={"sha256": sha},
        )
        version = int(mv.version)
        return Entry(
            version, sha, self._artifact_dir(run.info.run_id), {**full, "version": version}
        )
