"""Logging helpers shared by the engines' runners."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def logging_to(
    path: Path, level: int | None = logging.INFO, logger: str = "mlpipeline"
) -> Iterator[None]:
    """Send a logger's records to `path` for the duration of a run; `level=None` keeps its
    level (an engine's own logger, say)."""
    target = logging.getLogger(logger)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(threadName)s %(message)s")
    )
    previous = target.level
    target.addHandler(handler)
    if level is not None:
        target.setLevel(min(level, previous or level))
    try:
        yield
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)
        handler.close()
