"""Errors the pipeline raises on purpose, each saying what is wrong and where.

`retryable` tells every engine whether another attempt could help: bad input, a bad config or a
failed validation fail at once (Airflow: AirflowFailException, Prefect: retry_condition_fn, the
mock: its retry loop), and so do storage errors another try cannot fix (a full disk, a read-only
or forbidden path: `PERMANENT_ERRNOS`), an import that failed (ImportError, ModuleNotFoundError:
a broken environment stays broken on the next try) and an attempt its engine abandoned.
Anything else is treated as transient.
"""

from __future__ import annotations

import errno
import os

# OS errors that a retry seconds later cannot fix: the disk stays full, the file system stays
# read-only, the permissions stay wrong. Someone has to act first.
PERMANENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}
)


class PipelineError(Exception):
    retryable = False

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(PipelineError):
    """The configuration file or parameters are wrong."""


class DataError(PipelineError):
    """The input data cannot be read or is unusable."""


class ValidationFailed(DataError):
    """The data was read but breaks the schema; `failures` lists every problem found."""

    def __init__(self, failures: list[str], *, where: str | None = None):
        self.failures = failures
        super().__init__(
            f"{len(failures)} validation failure(s):\n" + "\n".join(f"  - {f}" for f in failures),
            where=where,
        )


class RegistryError(PipelineError):
    """The model registry refused an operation (bad checksum, missing entry, lock timeout)."""


class InjectedFault(PipelineError):
    """A fault injected through the config's [faults] table, for tests and lessons."""

    retryable = True


class StorageError(PipelineError):
    """Reading or writing a file failed; `retryable` depends on the cause (`PERMANENT_ERRNOS`)."""

    def __init__(self, message: str, *, where: str | None = None, retryable: bool = True):
        self.retryable = retryable
        super().__init__(message, where=where)


def storage_error(exc: OSError, where: str | os.PathLike) -> StorageError:
    """An OSError as a one-line error naming the file (the OS does not always: a write that
    fills the disk reports no path), classified as transient or not."""
    path = exc.filename if exc.filename is not None else where
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(
        f"{reason} (errno {exc.errno})" if exc.errno else reason,
        where=os.fsdecode(path),
        retryable=exc.errno not in PERMANENT_ERRNOS,
    )


def is_retryable(exc: BaseException) -> bool:
    """Could another attempt succeed? PipelineErrors say so themselves; KeyboardInterrupt and
    abandoned attempts and failed imports never retry; OS errors depend on their errno."""
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        return False
    if isinstance(exc, KeyboardInterrupt | SystemExit | ImportError):
        return False
    return bool(getattr(exc, "retryable", True))
