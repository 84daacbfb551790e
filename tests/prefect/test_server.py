"""Our local API server (prefect_impl/server.py): it dies with the CLI, and a failed start-up is
one clear error and one alert (issue 9, items 6 and 7)."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is not installed here (run: tox -e prefect)")

import os
import signal
import subprocess
import sys
import time

from mlpipeline.alerts import read_alerts
from prefect_impl import runner
from prefect_impl.server import LocalServer, ServerStartFailed
from tests.processes import SLOW_MACHINE, alive, wait_gone


class ExitingServer(LocalServer):
    """A server command that prints a line and exits, as a server with a broken install would."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", "print('boom: no database'); raise SystemExit(3)"]


class SilentServer(LocalServer):
    """A server that never answers its health check, as one starting under heavy load."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_server_that_exits_is_named_with_its_log_tail_after_two_tries(tmp_path):
    server = ExitingServer(tmp_path / "server.log")
    with pytest.raises(ServerStartFailed) as caught:
        server.start()
    message = str(caught.value)
    assert message.count("exited with code 3") == 2  # one retry
    assert "try 1: the Prefect API server (uvicorn, http://127.0.0.1:" in message
    assert f"last lines of its log {tmp_path / 'server.log'}" in message
    assert "| boom: no database" in message
    assert len(message.splitlines()) < 25 and "Traceback" not in message


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path):
    server = SilentServer(tmp_path / "server.log", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ServerStartFailed, match=r"did not answer /api/health within 0.5 s"):
        server.start()
    assert time.monotonic() - started < 15
    assert server.process is None  # both tries stopped, by process group


def test_a_failed_start_alerts_once_and_raises(make_config, monkeypatch, tmp_path):
    cfg = make_config()
    monkeypatch.setattr(runner, "configured_api_url", lambda: None)
    monkeypatch.setattr(runner, "LocalServer", ExitingServer)
    monkeypatch.setattr(runner, "_server", None)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    with pytest.raises(ServerStartFailed):
        runner.api_url(cfg, "no-server")
    (alert,) = read_alerts(cfg.alerts.log)
    assert (alert["run_id"], alert["step"], alert["engine"]) == ("no-server", None, "prefect")
    assert alert["error"].startswith("the Prefect API server did not start")
    assert alert["log_location"] == str(tmp_path / "home" / "server.log")


KEEPER = """
import sys, time
from pathlib import Path
from prefect_impl.server import LocalServer
server = LocalServer(Path(sys.argv[1]))
server.start()
print(server.process.pid, flush=True)
time.sleep(600)
"""


def test_kill_9_of_the_parent_stops_the_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = "sqlite+aiosqlite:///:memory:"
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.update(SLOW_MACHINE)
    parent = subprocess.Popen(
        [sys.executable, "-c", KEEPER, str(tmp_path / "server.log")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        server_pid = int(parent.stdout.readline())  # printed once /api/health answered
        assert alive(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_gone([server_pid], timeout=15) == []
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
