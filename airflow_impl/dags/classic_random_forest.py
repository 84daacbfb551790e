"""# Random forest on iris, in Airflow's classic style

The seed tutorial's example, corrected so that it runs on Airflow 3: a `DAG(...)` context
manager, `PythonOperator`s, `default_args`, and XComs pushed and pulled by key. Seeded, so the
printed accuracy is the same on every run.

What Airflow 3 needs that older tutorials get wrong: `schedule` (not `schedule_interval`), the
operator from the standard provider, no `provide_context` (Airflow passes `ti` to any callable
that asks for it), and XCom values that are JSON, never pickled frames or models.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

SEED = 42


def load_data(ti):
    from sklearn.datasets import load_iris  # bundled with scikit-learn: no download
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    # XComs live in the metadata database as JSON: fine for 150 rows as plain lists. Large data
    # goes by reference: write it to storage and push its path, as ml_pipeline.py does.
    for key, value in {
        "X_train": X_train,
        "X_test": X_test,
        "y_train": y_train,
        "y_test": y_test,
    }.items():
        ti.xcom_push(key=key, value=value.tolist())


def train_model(ti):
    from sklearn.ensemble import RandomForestClassifier

    X_train = ti.xcom_pull(task_ids="load_data", key="X_train")
    y_train = ti.xcom_pull(task_ids="load_data", key="y_train")
    X_test = ti.xcom_pull(task_ids="load_data", key="X_test")
    model = RandomForestClassifier(n_estimators=100, random_state=SEED).fit(X_train, y_train)
    # A fitted model is not JSON (and unpickling an XCom would run arbitrary code): push what
    # the next task needs, the predictions.
    ti.xcom_push(key="y_pred", value=model.predict(X_test).tolist())


def evaluate_model(ti):
    from sklearn.metrics import accuracy_score

    y_test = ti.xcom_pull(task_ids="load_data", key="y_test")
    y_pred = ti.xcom_pull(task_ids="train_model", key="y_pred")
    accuracy = accuracy_score(y_test, y_pred)
    print(f"Accuracy: {accuracy:.4f}")
    return accuracy


with DAG(
    dag_id="classic_random_forest",
    schedule=None,  # run on demand
    start_date=datetime(2024, 1, 1),
    catchup=False,
    doc_md=__doc__,
    default_args={
        "owner": "mlpipeline",
        "retries": 1,
        "retry_delay": timedelta(seconds=10),  # Airflow's default is 5 minutes
    },
    tags=["tutorial"],
) as dag:
    load = PythonOperator(task_id="load_data", python_callable=load_data)
    train = PythonOperator(task_id="train_model", python_callable=train_model)
    evaluate = PythonOperator(task_id="evaluate_model", python_callable=evaluate_model)

    load >> train >> evaluate
