"""Cache keys shared by the mock engine and the Prefect cache policy.

A step's key covers everything its output depends on: the step's code *and the helpers it
calls* (Prefect's TASK_SOURCE hashes only the task's own source, so an edited helper would
silently return a stale result), its inputs by content, the config sections it reads, the files
it reads that are not inputs (the CSV), and the versions of the libraries that compute it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import threading
import time
import types
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mlpipeline import artifacts
from mlpipeline.pipeline import Step

_OWN_PACKAGES = ("mlpipeline",)
_LIBRARIES = ("numpy", "pandas", "pyarrow", "scikit-learn", "xgboost")


def _own(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in _OWN_PACKAGES


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


# inspect.getsource parses with `ast`, which CPython 3.11.7 cannot do from two threads at once
# ("SystemError: AST constructor recursion depth mismatch"): mapped instances compute their keys
# in parallel, so fingerprints are taken one at a time.
_SOURCE_LOCK = threading.Lock()

# Source text per code object (a function) or class. Finding a function's source reads and
# tokenizes its file: that was most of a key's cost (30-120 ms per step on a busy machine, per
# task and run). A loaded function's code cannot change, so its source is read once per process;
# the walk over the names it calls is redone on every key, so a rebound helper still counts.
_sources: dict[Any, str] = {}


def _source(obj: Any) -> str:
    key = getattr(obj, "__code__", obj)
    if key not in _sources:
        _sources[key] = inspect.getsource(obj)
    return _sources[key]


def code_fingerprint(fn: Any) -> str:
    """sha256 over the source of `fn` and, transitively, of the project functions it uses."""
    with _SOURCE_LOCK:
        return _code_fingerprint(fn)


def _code_fingerprint(fn: Any) -> str:
    seen: dict[str, str] = {}

    def visit(obj: Any) -> None:
        obj = inspect.unwrap(obj)
        key = f"{obj.__module__}.{obj.__qualname__}"
        if key in seen:
            return
        try:
            seen[key] = _source(obj)
        except OSError:  # generated code (a dataclass's __init__): its class's source covers it
            seen[key] = ""
            return
        if isinstance(obj, type):
            for member in vars(obj).values():
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if inspect.isfunction(member):
                    visit(member)
            return
        names = _names(obj.__code__)
        for name in names:
            target = obj.__globals__.get(name)
            if (
                isinstance(target, types.ModuleType)
                and target.__name__.split(".")[0] in _OWN_PACKAGES
            ):
                for attr in names:  # `module.helper` shows up as two names
                    member = getattr(target, attr, None)
                    if (inspect.isfunction(member) or inspect.isclass(member)) and _own(member):
                        visit(member)
            elif (inspect.isfunction(target) or inspect.isclass(target)) and _own(target):
                visit(target)

    visit(fn)
    h = hashlib.sha256()
    for key in sorted(seen):
        h.update(key.encode() + b"\0" + seen[key].encode() + b"\0")
    return h.hexdigest()


@functools.cache
def library_versions() -> dict[str, str]:
    return {name: _version(name) for name in _LIBRARIES}


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # xgboost ships as `xgboost-cpu` on Linux
        return version(f"{name}-cpu")


def step_cache_key(step: Step, cfg: Any, inputs: dict[str, Any], index: int | None = None) -> str:
    """Everything the step's declaration says its output depends on."""
    material = {
        "step": step.name,
        "index": index,
        "code": code_fingerprint(step.fn),
        "config": cfg.section_json(*step.reads),
        "inputs": {k: artifacts.content_fingerprint(v) for k, v in sorted(inputs.items())},
        "files": [artifacts.content_fingerprint(p) for p in step.files(cfg)],
        "libraries": library_versions(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class ResultCache:
    """Cache records on disk: ``root/<task>/<key>.json`` holding a task's JSON return value.

    A record is a hit only if it has not expired and the artifacts its value points to still
    have the fingerprint they had when it was stored (deleted or edited outputs are recomputed).
    Records are JSON, never pickle: a tampered record can at worst point at the wrong file,
    which the fingerprint check then refuses.
    """

    def __init__(self, root: str | Path, expiration_seconds: float = 0.0):
        self.root = Path(root)
        self.expiration = expiration_seconds  # 0: never expires

    def _path(self, task: str, key: str) -> Path:
        return self.root / task / f"{key}.json"

    def get(self, task: str, key: str) -> dict[str, Any] | None:
        try:
            record = artifacts.read_json(self._path(task, key))
            stored, value, fingerprint = record["stored"], record["value"], record["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: recompute
        if self.expiration and time.time() - stored > self.expiration:
            return None
        if artifacts.content_fingerprint(value) != fingerprint:
            return None
        return record

    def put(self, task: str, key: str, value: Any) -> None:
        # Not fsynced: a record lost or torn by a power cut reads as a miss (see `get`).
        artifacts.write_json(
            self._path(task, key),
            {
                "value": value,
                "fingerprint": artifacts.content_fingerprint(value),
                "stored": time.time(),
                "task": task,
            },
            durable=False,
        )
