"""The seed tutorial's first example, on the mock engine: extract -> transform -> load.

python -m mock_impl.etl_example
"""

from __future__ import annotations

from mock_impl.engine import DAG


def build() -> DAG:
    dag = DAG("ml_pipeline")

    @dag.task()
    def extract() -> dict:
        return {"status": "success", "data": [1, 2, 3, 4, 5]}

    @dag.task(inputs={"extracted": "extract"})
    def transform(extracted: dict) -> list[int]:
        return [x * 2 for x in extracted["data"]]

    @dag.task(inputs={"transformed": "transform"})
    def load(transformed: list[int]) -> dict:
        return {"records": len(transformed)}

    return dag


def main() -> None:
    dag = build()
    run = dag.run()
    print(f"DAG: {dag.dag_id}")
    print(f"Extract status: {run.results['extract']['status']}")
    print(f"Transform result: {run.results['transform']}")
    print(f"Load records: {run.results['load']['records']}")


if __name__ == "__main__":
    main()
