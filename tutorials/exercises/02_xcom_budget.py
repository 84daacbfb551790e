# %% [markdown]
# # Exercise 2: an XCom budget
#
# Every XCom is a row in Airflow's metadata database. Write `xcom_bytes(dag_id, run_id)`: the
# total size (the length of the stored JSON text) of the XComs each task pushed in one run, as
# `{task_id: bytes}`. Then run the seed's `ml_training_pipeline` DAG and find the task that
# pushes the most. A CI check built on this function could fail any DAG whose tasks push more
# than, say, 1 KB each.
#
# Hint: `XComModel.get_many(run_id=..., dag_ids=...)` selects the rows; run it in
# `create_session()` (see lesson 2). Both are Airflow internals, fine for an in-process check
# like this one; against a deployment, the same numbers come from the REST API's `xcomEntries`.
#
# Prerequisites: lesson 2. Environment: `tox -e airflow`. About 15 minutes. Run this file as it
# is first: it stops with "not solved yet" and says what is left to do. The solution is in
# `../solutions/02_xcom_budget.py`.

# %%
# requires: airflow
import tempfile
from pathlib import Path

from airflow_impl import runner

runner.prepare(Path(tempfile.mkdtemp(prefix="exercise02-")) / "airflow-home")


def xcom_bytes(dag_id: str, run_id: str) -> dict[str, int]:
    return {}  # TODO


# %%
def check() -> bool:
    dag_run = runner.load_dag("ml_training_pipeline").test()
    sizes = xcom_bytes("ml_training_pipeline", dag_run.run_id)
    if not sizes:
        print("TODO: xcom_bytes returns nothing yet")
        return False
    assert set(sizes) == {"load_data", "train_model", "evaluate_model"}, sizes
    biggest = max(sizes, key=sizes.get)
    assert biggest == "load_data" and sizes["load_data"] > 1024, sizes
    print(f"solved: {sizes}; over a 1 KB budget: {[t for t, b in sizes.items() if b > 1024]}")
    return True


if not check():
    raise SystemExit("not solved yet: do the TODO printed above, then run this file again")
