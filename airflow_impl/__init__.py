"""The pipeline on Apache Airflow 3: `dags/` holds the DAG files, `runner.py` runs them in-process.

The names below are the only things the DAG file and the runner agree on besides Airflow itself:
files the DAG writes in each run's directory, which the runner reads back into a `RunResult`.
"""

# Parse-time defaults of the ml_pipeline DAG: a TOML config, or flat params as JSON.
CONFIG_ENV = "ML_PIPELINE_CONFIG"
# The run's artifacts directory name (our run id); empty means Airflow's own run id.
RUN_ID_PARAM = "pipeline_run_id"
# In the run directory: one line per step served from the artifact store, and one per failed
# task (Airflow keeps no error text on its task instances).
REUSED = "reused.jsonl"
FAILURES = "failures.jsonl"
RUN_LOG = "run.log"
