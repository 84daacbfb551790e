"""Caching for the Prefect flow: a key that sees what a step depends on, a store that cannot be
turned into code execution.

**The key.** Prefect's `TASK_SOURCE` hashes only the task function's own lines: edit a helper the
step calls and a cached run silently returns the old result. `StepCachePolicy` keys each step on
`mlpipeline.caching.step_cache_key` (the mock engine's key: the step's code and every project
helper it calls, its inputs by content, the config sections it reads, the CSV, library versions)
combined with `TASK_SOURCE`, so an edit to the wiring in flow.py counts too. `cfg` and `run_dir`
are left out: the config counts section by section, and `run_dir` is new for every run.

**The store** lives under ``<paths.cache>/prefect/``, not in the run directory: a store inside
one run's directory could never serve a later run.

    records/<key>   the record Prefect reads first: serializer, expiry, payload path, fingerprint
    results/<key>   the payload: what the task returned (artifact paths), as JSON

**Why the records are checked.** Prefect deserializes a cached value with the serializer named
*in the record*, not the task's: a record rewritten to name `pickle` runs its payload on lookup,
and the JSON serializer's default decoder imports and builds any class a payload names.
`CheckedRecords`, the policy's key storage, is where Prefect reads every record, and it refuses
one before anything is deserialized unless

* it names exactly `SERIALIZER` (the stdlib `json` module, no object hook: data in, data out),
* its payload is in results/ and is a path or a list of paths (all a step returns), and
* the artifacts those paths name still have the content they had when the record was written.

A refused record is a cache miss: Prefect reruns the step and writes a new record. The last
check also recomputes a step whose outputs were deleted or edited since (as the mock's cache
does). It is an integrity check, not a signature: whoever can write the cache directory can still
point a record at other files with matching fingerprints, but can no longer run code through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE, TASK_SOURCE, CachePolicy
from prefect.filesystems import LocalFileSystem
from prefect.serializers import JSONSerializer
from prefect.utilities.hashing import hash_objects

from mlpipeline import pipelines
from mlpipeline.artifacts import content_fingerprint
from mlpipeline.caching import step_cache_key

# Plain `json.loads` on the way back: no object hook can import or build anything.
SERIALIZER = JSONSerializer(object_decoder=None)
_SERIALIZER_FIELDS = SERIALIZER.model_dump(mode="json")


class RefusedRecord(ValueError):
    """A cache record that failed a check: Prefect treats it as absent and reruns the step."""


class CheckedRecords(LocalFileSystem):
    """Cache records that are checked before Prefect deserializes anything they point to."""

    _block_type_slug = "checked-cache-records"  # a block type of its own, not local-file-system
    results: str  # the directory payloads must live in

    def write_path(self, path: str, content: bytes, **kwargs: Any) -> str:
        # Prefect writes the payload first, then this record: fingerprint what the payload names.
        record = json.loads(content)
        record["fingerprint"] = content_fingerprint(self._payload(record))
        return super().write_path(path, json.dumps(record).encode(), **kwargs)

    def read_path(self, path: str, **kwargs: Any) -> bytes:
        content = super().read_path(path, **kwargs)
        self.check(content)
        return content  # the bytes checked are the bytes Prefect parses

    async def awrite_path(self, path: str, content: bytes) -> str:  # async tasks: same rules
        return self.write_path(path, content, _sync=True)

    async def aread_path(self, path: str) -> bytes:
        return self.read_path(path, _sync=True)

    def check(self, content: bytes) -> None:
        try:
            record = json.loads(content)
        except ValueError:
            raise RefusedRecord("not a JSON cache record") from None
        if not isinstance(record, dict):
            raise RefusedRecord("not a JSON cache record")
        if record.get("serializer") != _SERIALIZER_FIELDS:
            raise RefusedRecord(f"names another serializer: {record.get('serializer')!r}")
        value = self._payload(record)
        if not _paths(value):
            raise RefusedRecord("payload is not an artifact path or a list of them")
        if content_fingerprint(value) != record.get("fingerprint"):
            raise RefusedRecord(f"the artifacts changed since the record was written: {value}")

    def _payload(self, record: dict[str, Any]) -> Any:
        results = Path(self.results).resolve()
        payload = Path(str(record.get("storage_key"))).resolve()
        if payload.parent != results:
            raise RefusedRecord(f"payload {payload} is outside {results}")
        try:
            return json.loads(payload.read_bytes())
        except (OSError, ValueError) as e:
            raise RefusedRecord(f"payload {payload} is unreadable: {e}") from None


def _paths(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(isinstance(v, str) and Path(v).is_absolute() for v in items)


@dataclass
class StepCachePolicy(CachePolicy):
    """Key = the shared step key (code with helpers, inputs by content, config, data, libraries)
    + TASK_SOURCE (this file's wiring). Caches only into a `CheckedRecords` store."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        if not isinstance(self.key_storage, CheckedRecords):
            return None  # no checked store configured (see `cache_options`): do not cache
        cfg = inputs["cfg"]
        step = pipelines.for_config(cfg).steps[task_ctx.task.name]
        step_inputs = {k: v for k, v in inputs.items() if k in step.inputs}
        index = inputs.get(step.map_arg) if step.mapped else None
        return hash_objects(
            step_cache_key(step, cfg, step_inputs, index),
            TASK_SOURCE.compute_key(task_ctx, inputs, flow_parameters),
            raise_on_failure=True,
        )


STEP_CACHE = StepCachePolicy()


def store_dir(cfg: Any) -> Path:
    return Path(cfg.paths.cache) / "prefect"


def cache_options(cfg: Any) -> dict[str, Any]:
    """Task options for one run of a cacheable step, from the config's [cache] section."""
    if not cfg.cache.enabled:
        return {"cache_policy": NO_CACHE, "persist_result": False}
    store = store_dir(cfg)
    records = CheckedRecords(basepath=str(store / "records"), results=str(store / "results"))
    seconds = cfg.cache.expiration_seconds
    return {
        "cache_policy": STEP_CACHE.configure(key_storage=records),
        "persist_result": True,
        "result_storage": store / "results",  # a Path: Prefect wants a Path or a saved block
        "result_serializer": SERIALIZER,
        "cache_expiration": timedelta(seconds=seconds) if seconds else None,  # 0: never
    }
