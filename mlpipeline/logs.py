"""Logging helpers shared by the engines' runners."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def logging_to(path: Path, level: int = logging.INFO) -> Iterator[None]:
    """Send the `mlpipeline` logger's records to `path` for the duration of a run."""
    logger = logging.getLogger("mlpipeline")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, previous or level))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()
