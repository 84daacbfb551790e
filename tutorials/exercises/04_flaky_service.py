# %% [markdown]
# # Exercise 4: retry a flaky service, not a bad record
#
# `fetch` calls a service that drops the connection twice before answering; `parse` then meets
# a record it can never parse. Configure the mock engine so that:
#
# 1. `fetch` succeeds on its third attempt, waiting 1 s then 2 s (exponential backoff);
# 2. `parse` fails on its **first** attempt even though it has retries (a `ValueError` is not
#    transient: use the task's `retry_if`);
# 3. the DAG's `on_failure_callback` records exactly one alert for the failed run.
#
# The DAG is built with `sleep=waits.append`, so the engine records its waits instead of
# sleeping: the exercise runs instantly. Run this file as it is first: it stops with "not
# solved yet" and says what is left to do. The solution is in `../solutions/04_flaky_service.py`.

# %%
# requires: none
from mock_impl.engine import DAG


class FlakyService:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def get(self) -> list[str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"connection reset (call {self.calls})")
        return ["1,2", "3,oops"]


def parse(rows: list[str]) -> list[int]:
    return [int(x) for row in rows for x in row.split(",")]


def build(service: FlakyService, waits: list[float], alerts: list[str]) -> DAG:
    dag = DAG("flaky", sleep=waits.append)
    # TODO 1: retries and backoff for fetch
    dag.add_task("fetch", service.get)
    # TODO 2: retries for parse, but only for errors worth retrying (retry_if=...)
    dag.add_task("parse", parse, inputs={"rows": "fetch"})
    # TODO 3: dag.on_failure_callback = ... append one line per failed run to `alerts`
    return dag


# %%
def check() -> bool:
    service, waits, alerts = FlakyService(failures=2), [], []
    run = build(service, waits, alerts).run()
    fetch, parsed = run.tasks["fetch"], run.tasks["parse"]
    if fetch.state != "success":
        print(f"TODO: fetch failed after {fetch.attempts} attempt(s): give it retries")
        return False
    assert fetch.attempts == 3 and waits[:2] == [1.0, 2.0], (fetch.attempts, waits)
    if parsed.attempts != 1:
        print(f"TODO: parse ran {parsed.attempts} times: a ValueError should not be retried")
        return False
    assert parsed.state == "failed" and "oops" in parsed.error
    if len(alerts) != 1:
        print(f"TODO: expected one alert for the failed run, got {alerts}")
        return False
    print("solved:", f"fetch attempts={fetch.attempts}, waits={waits},", "alert:", alerts[0])
    return True


if not check():
    raise SystemExit("not solved yet: do the TODO printed above, then run this file again")
