"""The pipelines on Apache Airflow 3: `dags/` holds one DAG file per pipeline (wiring only),
`params.py` and `tasks.py` the plumbing those files share, `runner.py` runs a DAG in-process
(`production.py` on a running stack), `records.py` reports a DAG run as every engine does.
"""

# Parse-time defaults of a DAG: a TOML config, or flat params as JSON (what the runner writes).
CONFIG_ENV = "ML_PIPELINE_CONFIG"
# The run's artifacts directory name (our run id); empty means Airflow's own run id.
RUN_ID_PARAM = "pipeline_run_id"
