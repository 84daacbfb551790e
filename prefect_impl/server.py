"""The local Prefect API server for CLI runs: our child process, which never outlives us.

Prefect's own ephemeral server (`SubprocessASGIServer`) is stopped by an `atexit` hook, so a
`kill -9` of the CLI left it running for good (issue 9, item 6), and its start-up gives up after
one timeout (item 7). This module starts the same uvicorn command itself:

* in its own session and process group (a Ctrl-C in the terminal reaches the CLI only, which
  then stops the server in order, after Prefect's log and event workers have flushed to it);
* with `prctl(PR_SET_PDEATHSIG, SIGTERM)`: the kernel sends the server SIGTERM when the thread
  that started it dies, however it dies. The signal follows the starting *thread*, so it is set
  only when the main thread starts the server; from another thread `atexit` stops it;
* readiness is `GET /api/health` within `timeout` seconds (`TIMEOUT_ENV`), and one more try on
  a fresh port (a slow start under load, or the port taken meanwhile). A failure raises
  `ServerStartFailed` naming the server and the tail of its log, `<PREFECT_HOME>/server.log`.

It is started before Prefect is imported (Prefect reads `PREFECT_API_URL` at import), so the
server's ~8 s start-up overlaps the parent's ~3 s of imports. Nothing here imports Prefect.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# Seconds per try. Prefect's own knob for its ephemeral server, if set; else 300 s (Prefect's
# default is 20): an idle machine needs about 8 s, but 80 s were measured here at a load average
# of 12 and over 120 s at 18. A server that exits is noticed at once, whatever the timeout.
TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
STARTUP_TIMEOUT = 300.0
TRIES = 2
LOG_TAIL = 15  # lines of the server's log in an error
_PR_SET_PDEATHSIG = 1


def startup_timeout() -> float:
    """Seconds a server start may take: Prefect's knob if set, else `STARTUP_TIMEOUT`."""
    return float(os.environ.get(TIMEOUT_ENV) or STARTUP_TIMEOUT)


class ServerStartFailed(RuntimeError):
    """The API server did not answer its health check: the message names it and its log."""


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """`uvicorn prefect.server.api.server:create_app` on 127.0.0.1, started and stopped by us."""

    def __init__(
        self,
        log: Path,
        timeout: float | None = None,
        tries: int = TRIES,
        env: dict[str, str] | None = None,
    ):
        self.log, self.tries, self.env = Path(log), tries, env or {}
        self.timeout = timeout or startup_timeout()
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def describe(self) -> str:
        return f"the Prefect API server (uvicorn, {self.api_url}, pid {self.process.pid})"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "error", "--lifespan", "on",
        ]  # fmt: skip

    def start(self) -> str:
        """Start the server, wait until it is healthy, return its API URL."""
        problems = []
        for attempt in range(1, self.tries + 1):
            self._spawn()
            try:
                problem = self._wait_healthy()
            except BaseException:  # Ctrl-C while waiting: leave nothing behind
                self.stop()
                raise
            if problem is None:
                atexit.register(self.stop)
                return self.api_url
            problems.append(f"try {attempt}: {self.describe()} {problem}")
            self.stop()
        tail = self.log_tail()
        raise ServerStartFailed(
            "the Prefect API server did not start.\n"
            + "\n".join(f"  {p}" for p in problems)
            + f"\nlast lines of its log {self.log}:\n"
            + ("\n".join(f"  | {line}" for line in tail) or "  (empty)")
            + "\nset PREFECT_API_URL to use a running server (prefect server start)"
        )

    def _spawn(self) -> None:
        self.port = _free_port()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        env.pop("PREFECT_API_URL", None)  # the server is the API, not a client of one
        in_main = threading.current_thread() is threading.main_thread()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches only us
                preexec_fn=_die_with_parent if in_main and sys.platform == "linux" else None,
            )

    def _wait_healthy(self) -> str | None:
        """None once /api/health answers 200, else what went wrong."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"exited with code {self.process.returncode}"
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return None
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        return f"did not answer /api/health within {self.timeout:g} s"

    def log_tail(self) -> list[str]:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return lines[-LOG_TAIL:]

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 5 s; idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)  # its own group: pgid == pid
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
