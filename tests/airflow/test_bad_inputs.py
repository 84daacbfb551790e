"""The bad-input corpus's CSV cases under Airflow (`dag.test()`, the session's one home)."""

from __future__ import annotations

import pytest

from airflow_impl.runner import run_pipeline
from tests.bad_inputs.test_corpus import ENGINE_CSV_CASES, check_csv_case


@pytest.mark.parametrize(("name", "case"), ENGINE_CSV_CASES)
def test_bad_csv(name, case, tmp_path, registry_copy, capfd):
    check_csv_case(run_pipeline, name, case, tmp_path, registry_copy, capfd)
