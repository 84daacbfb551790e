# %% [markdown]
# # Exercise 5: a cache key that cannot go stale
#
# `wet_days` counts the days whose precipitation is above a threshold in a CSV file. Both the
# path and the threshold reach it from upstream tasks. Its cache key, as given, is the JSON of
# its arguments, so appending rows to the file returns a stale count.
#
# Write `cache_key(inputs)` so that:
#
# 1. an unchanged file and threshold give a cache hit (the task does not run);
# 2. a different threshold, or new rows in the file, give a miss (the task runs again).
#
# Hint: `mlpipeline.artifacts.content_fingerprint` hashes a file's bytes when given its path.
# Run this file as it is first: it prints what is left to do. The solution is in
# `../solutions/05_cache_key.py`.

# %%
# requires: none
import json
import shutil
import tempfile
from pathlib import Path

import mlpipeline
from mlpipeline.caching import ResultCache
from mock_impl.engine import DAG

DATA = Path(mlpipeline.__file__).resolve().parents[1] / "data" / "seattle-weather.csv"


def wet_days(path: str, threshold: float) -> int:
    rows = Path(path).read_text(encoding="utf-8").splitlines()[1:]
    return sum(float(row.split(",")[1]) > threshold for row in rows)


def cache_key(inputs: dict) -> str:
    return json.dumps(inputs, sort_keys=True)  # TODO: the path string is not the file


# %%
def run(work: Path, csv: Path, threshold: float) -> tuple[int, bool]:
    dag = DAG("wet", cache=ResultCache(work / "cache"))
    dag.add_task("path", lambda: str(csv))
    dag.add_task("threshold", lambda: threshold)
    dag.add_task(
        "wet_days", wet_days, inputs={"path": "path", "threshold": "threshold"}, cache_key=cache_key
    )
    result = dag.run()
    return result.results["wet_days"], result.tasks["wet_days"].cache_hit


def check() -> bool:
    work = Path(tempfile.mkdtemp(prefix="exercise05-"))
    csv = work / "weather.csv"
    shutil.copy(DATA, csv)
    first = run(work, csv, 0.0)
    again = run(work, csv, 0.0)
    stricter = run(work, csv, 5.0)
    with open(csv, "a", encoding="utf-8") as f:
        f.write("2016/01/01,9.9,8.0,3.0,4.0,rain\n")
    more_rows = run(work, csv, 0.0)
    shutil.rmtree(work)
    assert not first[1] and again == (first[0], True), (first, again)
    assert not stricter[1] and stricter[0] < first[0], stricter
    if more_rows[1]:
        print(f"TODO: stale cache hit after new rows: {more_rows[0]} wet days, not {first[0] + 1}")
        return False
    assert more_rows[0] == first[0] + 1
    print(f"solved: {first[0]} wet days, {stricter[0]} above 5 mm, {more_rows[0]} with the new row")
    return True


check()
