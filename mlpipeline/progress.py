"""In-process progress events: steps announce themselves; the CLI's display listens.

Two kinds of event: a step's state (``emit``: running, done, failed, cached), and how much a
data step processed (``count``: the recsys `extract` and `merge_profiles` report their events).
The display divides a count by the step's own time between running and done, so events per
second come from one clock whatever the engine. Events travel in-process only: a run on a
production stack shows states (polled from the engine) but no counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, str], None]  # (step, "running" | "done" | "failed" | "cached")
Counter = Callable[[str, int, str], None]  # (step, how many, unit)
_listeners: list[Listener] = []
_counters: list[Counter] = []


def emit(step: str, state: str) -> None:
    for listener in list(_listeners):
        listener(step, state)


def count(step: str, n: int, unit: str = "events") -> None:
    """A step says how many `unit` it processed (before it returns)."""
    for counter in list(_counters):
        counter(step, n, unit)


@contextmanager
def listening(listener: Listener, counter: Counter | None = None) -> Iterator[None]:
    _listeners.append(listener)
    if counter:
        _counters.append(counter)
    try:
        yield
    finally:
        _listeners.remove(listener)
        if counter:
            _counters.remove(counter)
