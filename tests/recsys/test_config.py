"""The recsys config: the default file loads; bad values are named, key by key."""

from __future__ import annotations

import pytest

from mlpipeline.errors import ConfigError
from mlpipeline.recsys.config import load_config
from mlpipeline.recsys.generator import GeneratorConfig
from tests.recsys.conftest import CONFIG, ROOT


def test_default_config_loads_with_paths_resolved_against_its_folder():
    cfg = load_config(CONFIG)
    assert cfg.generator == GeneratorConfig()  # the file restates the documented defaults
    assert cfg.data.landing == str(ROOT / "var" / "recsys" / "landing")
    assert cfg.profiles.db == str(ROOT / "var" / "recsys" / "profiles.duckdb")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("data.date", "03/01/2026", "data.date: must be an ISO date"),
        ("data.max_lateness_days", -1, "data.max_lateness_days"),
        ("data.source", "s3", "data.source"),
        ("data.columns.item", "user_id", "names one column for two roles"),
        ("generator.zipf_exponent", 0, "generator.zipf_exponent"),
        ("generator.hour_profile", [1.0] * 23, "generator.hour_profile"),
        ("generator.late_rate", float("nan"), "generator.late_rate"),
        ("profiles.lock_timeout_seconds", float("inf"), "profiles.lock_timeout_seconds"),
        ("profiles.dbfile", "x", "profiles.dbfile: unknown key"),
        ("faults", {"train": 1}, "unknown step 'train'"),
    ],
)
def test_bad_values_are_named(key, value, message):
    with pytest.raises(ConfigError, match="problem") as err:
        load_config(CONFIG, {key: value})
    assert message in str(err.value)


def test_a_user_file_needs_a_path():
    with pytest.raises(ConfigError, match="needs data.path"):
        load_config(CONFIG, {"data.source": "file"})
