"""Bootstrap: the two commands of the README, from a machine with only Python 3.11+.

    python3 dev.py run [--engine mock|airflow|prefect] [run options]   run the pipeline once
    python3 dev.py test [tox options]                                   run every test
    python3 dev.py dashboard [--port 19500]                             the MLflow UI of the runs
    python3 dev.py lock                                                 re-pin requirements/*.txt

Each command first makes `.venv-tools` with the pinned tox and tox-uv (requirements/tools.txt);
tox then builds one environment per orchestrator from its lock file (Airflow 3 and Prefect 3
cannot share one). Standard library only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".venv-tools"
BIN = TOOLS / ("Scripts" if os.name == "nt" else "bin")
# Lock file -> the extras it pins (requirements/<name>.txt is what tox installs).
# requirements/mlflow.txt (the MLflow server and UI) is not an engine: see its header.
LOCKS = {
    "mock": ["test", "tracking"],
    "airflow": ["test", "airflow", "tracking"],
    "prefect": ["test", "prefect", "tracking"],
}


def tools() -> None:
    """Create or update the tools environment when requirements/tools.txt changed."""
    lock = ROOT / "requirements" / "tools.txt"
    stamp = TOOLS / "installed-from.txt"
    if stamp.exists() and stamp.read_text() == lock.read_text():
        return
    print(f"dev.py: preparing {TOOLS.name} (tox, tox-uv) ...", flush=True)
    venv.create(TOOLS, with_pip=True, clear=TOOLS.exists())
    subprocess.run(
        [
            BIN / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            lock,
        ],
        check=True,
    )
    stamp.write_text(lock.read_text())


def tox(*args: str) -> int:
    tools()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}  # compiled bytecode halves import time
    return subprocess.run([BIN / "tox", *args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "test":
        if any(a.startswith(("-e", "--env", "-m", "--label")) for a in rest):
            return tox("run", *rest)  # chosen environments: in order, with live output
        # The whole env_list, all environments at once. Each engine's session mostly waits (on
        # a scheduler loop, an API server, a notebook kernel) on one core, so on 2 cores they
        # overlap well; report-quick `depends` on the engine envs and runs last. A failing
        # environment's output is printed in full at the end.
        return tox("run-parallel", "--parallel", "all", "--parallel-no-spinner", *rest)
    if command == "run":
        parser = argparse.ArgumentParser(prog="dev.py run", add_help=False)
        parser.add_argument("--engine", default="mock", choices=list(LOCKS))
        known, rest = parser.parse_known_args(rest)
        # `tox exec` does not install the project: build the environment first (no tests).
        built = tox("run", "-qq", "-e", known.engine, "--notest")
        if built:
            return built
        run = ["python", "-m", "mlpipeline", "run", "--engine", known.engine, *rest]
        return tox("exec", "-qq", "-e", known.engine, "--", *run)
    if command == "dashboard":  # the MLflow server has its own environment (README, Monitoring)
        built = tox("run", "-qq", "-e", "mlflow", "--notest")
        if built:
            return built
        return tox(
            "exec", "-qq", "-e", "mlflow", "--", "python", "-m", "mlpipeline", "dashboard", *rest
        )
    if command == "lock":
        tools()
        for name, extras in LOCKS.items():
            flags = [f for extra in extras for f in ("--extra", extra)]
            overrides = ROOT / "requirements" / f"{name}-overrides.txt"
            if overrides.exists():  # caps a dependency declares that the engine's pins exceed
                flags += ["--override", str(overrides)]
            subprocess.run(
                [
                    BIN / "uv",
                    "pip",
                    "compile",
                    "--quiet",
                    "--python-version",
                    "3.11",
                    "pyproject.toml",
                    *flags,
                    "-o",
                    f"requirements/{name}.txt",
                ],
                cwd=ROOT,
                check=True,
            )
        return 0
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
