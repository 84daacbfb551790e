"""Before hours of work: the CLI announces the fits and refuses above tuning.max_fits."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mlpipeline import cli
from mlpipeline.errors import ConfigError
from mlpipeline.training import plan
from tests.conftest import config_in

BIG_GRID = {"max_depth": list(range(1, 21)), "learning_rate": [0.05, 0.1], "n_estimators": [100]}


def test_plan_counts_candidates_folds_and_the_final_fit(tmp_path):
    work = plan(config_in(tmp_path))  # FAST: 2 candidates x 3 folds
    assert (work.candidates, work.folds, work.fits) == (2, 3, 7)
    assert work.rounds == 2 * 40 * 4
    assert work.describe().startswith("2 candidate(s) x 3 folds + 1 final fit = 7 fits, roughly")
    assert 0 < work.seconds < 60


def test_cli_refuses_above_the_cap_without_running(tmp_path, capsys):
    cfg = config_in(tmp_path, tuning__grid=BIG_GRID, tuning__cv_folds=4)
    with pytest.raises(ConfigError, match=r"161 fits is more than tuning.max_fits = 100"):
        cli.announce_work(
            config_in(tmp_path, tuning__grid=BIG_GRID, tuning__cv_folds=4, tuning__max_fits=100),
            Console(file=io.StringIO()),
            yes=False,
        )
    out = io.StringIO()
    cli.announce_work(cfg, Console(file=out), yes=False)  # 161 <= the default cap of 500
    assert "40 candidate(s) x 4 folds + 1 final fit = 161 fits, roughly" in out.getvalue()

    code = cli.main(["run", "--config", str(tmp_path / "nope.toml")])  # names the bad file
    assert code == 2
    args = ["--set=tuning.max_fits=50"] + [
        f"--set={key}={str(tmp_path / name)!r}"
        for key, name in [
            ("paths.artifacts", "runs"),
            ("paths.registry", "registry"),
            ("paths.cache", "cache"),
            ("alerts.log", "alerts.jsonl"),
        ]
    ]
    grid = "--set=tuning.grid={max_depth = [" + ", ".join(map(str, range(1, 21))) + "]}"
    code = cli.main(["run", "--engine", "mock", *args, grid, "--set=tuning.cv_folds=4"])
    shown = capsys.readouterr().out
    assert code == 2
    assert "20 candidate(s) x 4 folds + 1 final fit = 81 fits" in shown
    assert "81 fits is more than tuning.max_fits = 50" in shown and "--yes" in shown
    assert not any((tmp_path / d).exists() for d in ("runs", "registry", "cache"))  # nothing ran
