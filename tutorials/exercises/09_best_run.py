# %% [markdown]
# # Exercise 9: the best run in the experiment
#
# Four runs of the weather pipeline are logged below to an MLflow experiment, as `tracking.write`
# logs every run (the numbers are made up: no pipeline runs here, so this takes seconds). One of
# them FAILED, and a failed run can carry a tempting accuracy from a half-finished evaluation.
#
# 1. Write `best_run(client, experiment_id)`: the FINISHED run with the highest
#    `holdout.accuracy`. Let MLflow do the work: `client.search_runs` takes a `filter_string`
#    (``attributes.status = 'FINISHED'``), an `order_by` list (a metric name with a dot in it
#    is written in backticks: ``metrics.`holdout.accuracy` DESC``) and `max_results`.
# 2. Run the file: the check compares your answer with a search done by hand.
#
# Run this file as it is first: it stops with "not solved yet". The solution is in
# `../solutions/09_best_run.py`.

# %%
# requires: none
import tempfile
from pathlib import Path

from mlpipeline import tracking
from mlpipeline.config import TrackingConfig

store = TrackingConfig(store=str(Path(tempfile.mkdtemp(prefix="exercise09-")) / "mlflow"))
for run_id, status, accuracy in [
    ("monday", "FINISHED", 0.712),
    ("tuesday", "FINISHED", 0.731),
    ("wednesday", "FAILED", 0.802),
    ("thursday", "FINISHED", 0.725),
]:
    tracking.write(
        tracking.Payload(
            run_id=run_id,
            experiment="seattle-weather",
            status=status,
            start_ms=0,
            end_ms=1,
            metrics={"holdout.accuracy": accuracy},
        ),
        store,
    )
client = tracking.client(store)
experiment_id = client.get_experiment_by_name("seattle-weather").experiment_id


# %%
def best_run(client, experiment_id):
    """The FINISHED run with the highest holdout.accuracy (an mlflow.entities.Run)."""
    return None  # TODO: one client.search_runs call


# %%
def check() -> bool:
    found = best_run(client, experiment_id)
    if found is None:
        print("TODO: best_run returns None; write it with one client.search_runs call")
        return False
    finished = [r for r in client.search_runs([experiment_id]) if r.info.status == "FINISHED"]
    expected = max(finished, key=lambda r: r.data.metrics["holdout.accuracy"])
    assert found.info.run_id == expected.info.run_id, found.data.tags[tracking.RUN_ID_TAG]
    print(
        f"solved: {found.data.tags[tracking.RUN_ID_TAG]}, accuracy "
        f"{found.data.metrics['holdout.accuracy']}"
    )
    return True


if not check():
    raise SystemExit("not solved yet: do the TODO printed above, then run this file again")
