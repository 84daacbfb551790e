# %% [markdown]
# # Solution 6: a backfill that respects its dates
#
# The logical date is a parameter of the run, so the DAG is built for it and the `window_end`
# task returns it: each run sees the rows strictly before its date. Airflow does the same through
# the task context (`data_interval_end`), which the project's DAG turns into `data.as_of`.

# %%
# requires: none
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

import mlpipeline
from mock_impl.engine import DAG

DATA = Path(mlpipeline.__file__).resolve().parents[1] / "data" / "seattle-weather.csv"


def logical_dates(start: str, end: str, every_days: int) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    days = range(0, (last - first).days + 1, every_days)
    return [(first + timedelta(days=d)).isoformat() for d in days]


def latest_reading(window_end: str) -> dict:
    frame = pd.read_csv(DATA, parse_dates=["date"])
    seen = frame[frame["date"] < pd.Timestamp(window_end)]
    return {
        "last_day": seen["date"].max().date().isoformat(),
        "rainy_share": round(float((seen["weather"] == "rain").mean()), 4),
    }


def build(logical_date: str) -> DAG:
    dag = DAG(f"report_{logical_date}")
    dag.add_task("window_end", lambda: logical_date)
    dag.add_task("report", latest_reading, inputs={"window_end": "window_end"})
    return dag


# %%
def check() -> bool:
    days = logical_dates("2013-01-01", "2013-01-21", 10)
    if not days:
        print("TODO: logical_dates returns nothing yet")
        return False
    assert days == ["2013-01-01", "2013-01-11", "2013-01-21"], days
    reports = {day: build(day).run().results["report"] for day in days}
    for day, report in reports.items():
        if date.fromisoformat(report["last_day"]) >= date.fromisoformat(day):
            print(f"TODO: the run for {day} saw data up to {report['last_day']}: the future")
            return False
    assert len({r["last_day"] for r in reports.values()}) == 3
    print("solved:", reports)
    return True


assert check()
