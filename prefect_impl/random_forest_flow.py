"""The seed tutorial's Prefect example, for Prefect 3: load a bundled dataset, train a random
forest, evaluate it, print the accuracy.

Seeded (`SEED` in the split and the forest), so the printed accuracy is the same on every run.
Run it with ``python -m prefect_impl.random_forest_flow``: Prefect as shipped, so it starts a
temporary server and logs at INFO on stderr (runner.py shows the quiet settings).

What changed since the seed was written for Prefect 2:

* `SequentialTaskRunner` is gone. Calling a task, as this flow does, runs it right away in the
  flow's own thread: that *is* sequential. `.submit()` and `.map()` hand tasks to the flow's
  task runner, `ThreadPoolTaskRunner` unless the flow names another (`ProcessPoolTaskRunner`,
  or Dask and Ray runners from their integration packages).
* Task results stay in memory between tasks unless persisted, so passing arrays and the fitted
  model here writes and pickles nothing. The pipeline flow (flow.py) passes file paths instead.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

SEED = 42


@task
def load_data() -> dict[str, Any]:
    from sklearn.datasets import load_iris  # bundled with scikit-learn: no download
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


@task
def train_model(data: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, random_state=SEED).fit(
        data["X_train"], data["y_train"]
    )


@task
def evaluate_model(model: Any, data: dict[str, Any]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(data["y_test"], model.predict(data["X_test"])))


@flow(name="random_forest")
def random_forest_flow() -> float:
    data = load_data()
    model = train_model(data)
    accuracy = evaluate_model(model, data)
    print(f"Accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    random_forest_flow()
