"""Shared fixtures: configs pointed at a temporary directory, a small grid for speed."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlpipeline import workspace
from mlpipeline.config import PipelineConfig
from mlpipeline.paths import WEATHER_CONFIG, WEATHER_DATA

pytest_plugins = ["tests.sigterm"]  # a cancelled session still stops what fixtures started

DEFAULT_CONFIG = WEATHER_CONFIG
DATA = WEATHER_DATA


def config_in(workdir: Path, **overrides: Any) -> PipelineConfig:
    """The default config, small (configs/small/weather.toml), outputs under `workdir`; keys
    use '__' for '.'. The default grid is exercised by the CLI test and the benchmarks."""
    return workspace.config_in(workdir, {k.replace("__", "."): v for k, v in overrides.items()})


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., PipelineConfig]:
    return lambda **overrides: config_in(tmp_path, **overrides)


def tree_digest(root: Path) -> str:
    """sha256 of every file's relative path and content under `root` (lock file excluded)."""
    h = hashlib.sha256()
    if root.exists():
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def seeded_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding one production model, made once by the mock engine; copy before use."""
    from mock_impl.runner import run_pipeline

    workdir = tmp_path_factory.mktemp("seed")
    result = run_pipeline(config_in(workdir), run_id="seed")
    assert result.ok, result.error
    return workdir / "registry"


@pytest.fixture
def registry_copy(seeded_registry: Path, tmp_path: Path) -> Path:
    target = tmp_path / "registry"
    shutil.copytree(seeded_registry, target)
    return target


@pytest.fixture(scope="session")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory):
    """One real SMTP server (aiosmtpd, on loopback) for the session's alert e-mails."""
    pytest.importorskip("aiosmtpd", reason="needs aiosmtpd (in the test locks: rebuild the env)")
    from tests.smtp_sink import SmtpSink

    # A Maildir that does not exist yet: aiosmtpd creates its new/, cur/ and tmp/ only then.
    with SmtpSink(tmp_path_factory.mktemp("mail") / "maildir") as sink:
        yield sink
