"""The README states how many bad inputs the corpus holds: keep the figure in step with it."""

from __future__ import annotations

import re

from mlpipeline.paths import ROOT
from tests.bad_inputs.test_corpus import PARAMS


def test_readme_states_the_number_of_cases():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.findall(r"(\d+) bad CSVs and configs", readme)
    assert stated == [str(len(PARAMS))], f"README says {stated}, the corpus has {len(PARAMS)}"
