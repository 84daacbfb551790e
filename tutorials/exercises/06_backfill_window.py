# %% [markdown]
# # Exercise 6: a backfill that respects its dates
#
# `latest_reading` reports the last day of data a run saw and the share of rainy days up to it.
# As given, the DAG's data window is hard-coded, so a backfill over three past dates reports
# the same thing three times.
#
# 1. Write `logical_dates(start, end, every_days)`: the dates of a backfill, as ISO strings,
#    from `start` up to `end` inclusive.
# 2. Change `build(logical_date)` so the `window_end` task returns the run's logical date.
# 3. Check: every run sees only rows *before* its date, and the runs differ.
#
# Run this file as it is first: it stops with "not solved yet" and
# says what is left to do. The solution is in
# `../solutions/06_backfill_window.py`.

# %%
# requires: none
from datetime import date
from pathlib import Path

import pandas as pd

import mlpipeline
from mock_impl.engine import DAG

DATA = Path(mlpipeline.__file__).resolve().parents[1] / "data" / "seattle-weather.csv"


def logical_dates(start: str, end: str, every_days: int) -> list[str]:
    return []  # TODO 1


def latest_reading(window_end: str) -> dict:
    frame = pd.read_csv(DATA, parse_dates=["date"])
    seen = frame[frame["date"] < pd.Timestamp(window_end)]
    return {
        "last_day": seen["date"].max().date().isoformat(),
        "rainy_share": round(float((seen["weather"] == "rain").mean()), 4),
    }


def build(logical_date: str) -> DAG:
    dag = DAG(f"report_{logical_date}")
    dag.add_task("window_end", lambda: "2015-12-31")  # TODO 2: the mistake
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


if not check():
    raise SystemExit("not solved yet: do the TODO printed above, then run this file again")
