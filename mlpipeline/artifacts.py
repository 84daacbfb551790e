"""Artifact I/O: atomic writes, checksums and content fingerprints.

Every file is written to a temporary name in the same directory, flushed and fsynced, then
renamed over its final name, so a crash leaves either the old file or the new one, never half of
one. Frames are stored as Parquet, JSON as sorted UTF-8; nothing is pickled.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where frames are used: the mock engine stays light
    import pandas as pd


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it into place, else delete it.

    `durable=False` skips the two fsyncs (about 20 ms each on a busy disk): still never half a
    file for readers, but a power cut may lose it. For records a reader checks and can
    recompute (cache records, timings), never for artifacts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes, durable: bool = True) -> Path:
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any, durable: bool = True) -> Path:
    data = dumps(obj).encode("utf-8")
    # The default call keeps write_bytes' two-argument form (tests replace it to inject faults).
    return write_bytes(path, data) if durable else write_bytes(path, data, durable=False)


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the caller would wait."""


@contextmanager
def file_lock(path: str | Path, timeout: float, holder: str = "") -> Iterator[None]:
    """An exclusive flock on `path`, waiting at most `timeout` seconds (across processes).
    Released by the kernel when the holder dies. `holder` says who else may hold it, for the
    message."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(
                        f"could not lock {path} within {timeout:g} s"
                        + (f": {holder} held it" if holder else "")
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def append_jsonl(path: str | Path, obj: Any, durable: bool = True) -> None:
    """Append one JSON line, under a lock (and fsynced unless `durable=False`): safe from
    threads and processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(obj, sort_keys=True) + "\n")
        f.flush()
        if durable:
            os.fsync(f.fileno())
        fcntl.flock(f, fcntl.LOCK_UN)


def read_jsonl(path: str | Path) -> list[Any]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_frame(path: str | Path, df: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_frame(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


@contextmanager
def frame_writer(path: str | Path) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Write a frame piece by piece, atomically: ``append(piece)`` adds the piece as one
    Parquet row group; the file reads back as the pieces one after the other (a frame too big
    to hold at once). At least one piece must be appended."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        writer: pq.ParquetWriter | None = None

        def append(piece: pd.DataFrame) -> None:
            nonlocal writer
            table = pa.Table.from_pandas(piece, preserve_index=False)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=max(len(piece), 1))

        try:
            yield append
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"no rows for {path}: nothing was appended")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frame_fingerprint(df: pd.DataFrame) -> str:
    """sha256 of a frame's column names, dtypes and values: independent of the file format."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def content_fingerprint(value: Any) -> str:
    """Fingerprint of a task's input or output: paths by content, other values by JSON.

    A directory hashes its files' relative names and contents, in sorted order; hidden and
    temporary files are ignored.
    """
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, list | tuple):
        h.update(b"[")
        for v in value:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(value, str) and os.path.isabs(value) and os.path.exists(value):
        p = Path(value)
        files = (
            [p]
            if p.is_file()
            else sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        )
        for f in files:
            h.update(str(f.relative_to(p) if f != p else "").encode() + b"\0")
            h.update(sha256_file(f).encode())
    else:
        h.update(json.dumps(value, sort_keys=True, default=str).encode())


def new_run_id(prefix: str = "run") -> str:
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{prefix}-{stamp}-{os.getpid()}"


def safe_name(text: str) -> str:
    """A run id from any engine (Airflow's contain ':' and '+') made safe as a directory name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "run"
