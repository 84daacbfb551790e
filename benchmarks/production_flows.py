"""No-op flows for the production benchmarks, served beside the pipeline by the Prefect stack's
runner (`prefect_impl.deployment` serves every flow in `FLOWS`): a chain of `n` tasks and a
fan-out of `n`. Bodies do nothing, so what is measured is Prefect's own cost per task run. No
cache (every run computes), no retries; the chain passes a counter along, so its result proves
every link ran, in order.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE


@task(cache_policy=NO_CACHE, retries=0)
def step(previous: int) -> int:
    return previous + 1


@task(cache_policy=NO_CACHE, retries=0)
def leaf(i: int) -> int:
    return i


@flow(name="noop_chain", persist_result=False)
def noop_chain(n: int = 10) -> int:
    value = 0
    for i in range(n):
        value = step.with_options(name=f"t{i:03d}")(value)
    return value


@flow(name="noop_fanout", persist_result=False)
def noop_fanout(n: int = 20) -> int:
    return sum(leaf.map(range(n)).result())


FLOWS = {"noop_chain": noop_chain, "noop_fanout": noop_fanout}
