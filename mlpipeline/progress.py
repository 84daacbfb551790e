"""In-process progress events: steps announce themselves; the CLI's display listens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, str], None]  # (step, "running" | "done" | "failed")
_listeners: list[Listener] = []


def emit(step: str, state: str) -> None:
    for listener in list(_listeners):
        listener(step, state)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
