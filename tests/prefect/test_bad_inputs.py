"""The bad-input corpus's CSV cases under Prefect, on the session's one API server."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is not installed here (run: tox -e prefect)")

from prefect_impl.runner import run_pipeline
from tests.bad_inputs.test_corpus import ENGINE_CSV_CASES, check_csv_case


@pytest.mark.parametrize(("name", "case"), ENGINE_CSV_CASES)
def test_bad_csv(name, case, tmp_path, registry_copy, capfd):
    check_csv_case(run_pipeline, name, case, tmp_path, registry_copy, capfd)
