# %% [markdown]
# # Solution 4: retry a flaky service, not a bad record
#
# - `retries=2` gives `fetch` three attempts; `retry_delay=1.0, backoff=2.0` waits 1 s then 2 s
#   (`jitter=0`, the default, keeps the waits exact).
# - `parse` may have retries, but `retry_if` returns False for a `ValueError`: the engine stops
#   after the first attempt. (The project's steps use `mlpipeline.errors.is_retryable`.)
# - The DAG-level `on_failure_callback` is called once per failed run, after every task has
#   finished, with the run record.

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
    dag.add_task("fetch", service.get, retries=2, retry_delay=1.0, backoff=2.0)
    dag.add_task(
        "parse",
        parse,
        inputs={"rows": "fetch"},
        retries=3,
        retry_if=lambda exc: not isinstance(exc, ValueError),
    )
    dag.on_failure_callback = lambda run: alerts.append(
        f"run {run.run_id} failed: " + ", ".join(f"{n}: {e}" for n, e in run.errors.items())
    )
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


assert check()
