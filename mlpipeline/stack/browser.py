"""Headless Chromium for pictures of the web UIs (Airflow, Prefect, MLflow): its path, and a
screenshot with the rendered DOM (to check what the picture shows).

Debian's `chromium` package is what the project uses. `chromium()` installs it when it is absent
and we may (root, apt-get: about 16 s), so CI needs nothing beyond the project's own files;
anywhere else it fails with one line saying what to install. Each browser runs in its own process
group (its renderer and GPU helpers go with it) and is stopped by group, whatever happens.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlpipeline.stack import procs

APT = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]  # another install holds the lock: wait
WINDOW = "1400,900"
PNG = b"\x89PNG\r\n\x1a\n"


class BrowserError(RuntimeError):
    """Chromium is missing and cannot be installed here, or it did not render the page."""


def chromium() -> str:
    """The path of Debian's chromium, installed first when absent (as root with apt-get)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BrowserError(
            "chromium is not installed and cannot be installed from here (needs root and "
            "apt-get): sudo apt-get install --no-install-recommends chromium"
        )
    # Test sessions in parallel (tox envs) may all get here: one installs, the others wait for
    # it (apt-get update's list lock is not covered by DPkg::Lock::Timeout).
    with open(Path(tempfile.gettempdir()) / "mlpipeline-chromium.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shutil.which("chromium"):
            _apt_install_chromium()
    found = shutil.which("chromium")
    if not found:
        raise BrowserError("apt-get installed chromium but it is not on the PATH")
    return found


def _apt_install_chromium() -> None:
    quiet = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([*APT, "update"], [*APT, "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(argv, env=env, **quiet)
        if done.returncode != 0:
            tail = "\n".join(done.stdout.splitlines()[-10:])
            raise BrowserError(f"`{' '.join(argv)}` failed (exit {done.returncode}):\n{tail}")


def capture(url: str, png: Path | None = None, budget_ms: int = 15000, timeout: float = 300) -> str:
    """The page's DOM after its scripts ran (HTML text: what the picture shows, in words), and
    with `png` a screenshot of a 1400x900 window, from one browser run. `budget_ms` of virtual
    time lets the page fetch and render before the capture."""
    shot = []
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        png.unlink(missing_ok=True)
        shot = [f"--screenshot={png}"]
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        argv = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
            f"--window-size={WINDOW}", "--dump-dom", *shot, url,
        ]  # fmt: skip
        browser = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            out, _ = browser.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BrowserError(f"chromium did not finish {url} within {timeout:.0f} s") from e
        finally:
            procs.stop_group(browser.pid, grace=5)
    if browser.returncode != 0:
        raise BrowserError(f"chromium exited {browser.returncode} on {url}")
    if png is not None and (not png.exists() or png.read_bytes()[:8] != PNG):
        raise BrowserError(f"chromium wrote no PNG of {url} to {png}")
    return out.decode(errors="replace")
