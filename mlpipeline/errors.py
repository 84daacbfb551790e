"""Errors the pipeline raises on purpose, each saying what is wrong and where.

`retryable` tells every engine whether another attempt could help: bad input, a bad config or a
failed validation fail at once (Airflow: AirflowFailException, Prefect: retry_condition_fn, the
mock: its retry loop), anything else is treated as transient.
"""

from __future__ import annotations


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


def is_retryable(exc: BaseException) -> bool:
    return exc.retryable if isinstance(exc, PipelineError) else True
