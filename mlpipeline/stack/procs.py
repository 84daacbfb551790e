"""Processes a stack starts: each in its own process group, recorded in a pid file, stopped by
group; loopback ports chosen from the project's range; readiness by a real request.

Orchestrator-free (standard library only), so `stack down` works from any environment and after
the CLI that started the stack crashed: everything it needs is in `var/stack/<engine>/pids.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
PROJECT = Path(__file__).resolve().parents[2]  # components run from here, wherever the CLI was
PORTS = range(18000, 19000)  # loopback ports this project may use


class StackError(RuntimeError):
    """A stack could not start or stop; the message names the component and shows its log."""


@dataclass
class Component:
    name: str
    pid: int  # also the process group id: each component leads its own group
    log: str
    port: int | None = None
    started: float = 0.0  # unix time
    ready_seconds: float | None = None
    argv: list[str] = field(default_factory=list)  # to restart it (`stacks.restart`)


# --- ports -------------------------------------------------------------------------------------


def port_in_use(port: int, host: str = HOST) -> bool:
    """True if something listens on the port or a server could not bind it. SO_REUSEADDR, as
    servers set it: connections in TIME_WAIT after a stop do not make a port busy."""
    with socket.socket() as s:
        s.settimeout(0.2)
        if s.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def choose_port(preferred: int, taken: Sequence[int] = ()) -> int:
    """The preferred port if free, else the next free one in the project's range."""
    candidates = [preferred, *(p for p in PORTS if p != preferred)]
    for port in candidates:
        if port not in taken and not port_in_use(port):
            return port
    raise StackError(f"no free loopback port in {PORTS.start}-{PORTS.stop - 1}")


# --- the pid file ------------------------------------------------------------------------------


def read_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=_plain))
    tmp.replace(path)  # atomic: a crash never leaves half a pid file


def _plain(obj: object) -> object:
    return asdict(obj) if isinstance(obj, Component) else str(obj)


# --- starting and stopping ---------------------------------------------------------------------


def start(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    logs: Path,
    port: int | None = None,
    user: str | None = None,
) -> Component:
    """Start one component in a new session (its own process group), output to its log;
    `user`: run as that system user (Postgres refuses to run as root)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT,
            **identity(user),
        )
    return Component(name, proc.pid, str(log), port, time.time(), argv=list(argv))


def identity(user: str | None) -> dict:
    """Popen arguments to run as `user` with only its own group: keeping root's group would let
    group permissions deny access (a directory mode 0701 does)."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # reap it if it is our child, so a zombie does not count as alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False


def _snapshot() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgid) of every live (not zombie) process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def group_members(pgid: int) -> list[int]:
    """Every live process of a process group and all their descendants: some children start
    groups of their own (Postgres backends, Airflow's task processes) and must go too."""
    table = _snapshot()
    members = {pid for pid, (_, group) in table.items() if group == pgid}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(members)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    return sorted(members)


def stop_group(pgid: int, grace: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Signal the whole group, again after 3 s (a Prefect worker ignores the first SIGTERM),
    SIGKILL whatever is left after `grace` seconds."""
    deadline = time.monotonic() + grace
    second = time.monotonic() + 3.0
    # Descendants in other groups are reparented to init when their parent exits: note them now.
    tracked = set(group_members(pgid))
    _signal_group(pgid, sig)
    while _live(tracked) and time.monotonic() < deadline:
        if second and time.monotonic() > second:
            _signal_group(pgid, sig)
            second = 0.0
        time.sleep(0.1)
        alive(pgid)  # reaps the leader when it is our child
        tracked |= set(group_members(pgid))
    for pid in _live(tracked):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    alive(pgid)


def _live(pids: set[int]) -> set[int]:
    table = _snapshot()
    return {pid for pid in pids if pid in table}


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


# --- readiness ---------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def wait_until(component: Component, ready: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `ready` until it holds; fail naming the component, with its log tail, if the process
    dies or time runs out. Returns the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if ready():
                component.ready_seconds = round(time.time() - component.started, 2)
                return time.monotonic() - started
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            pass
        if not group_members(component.pid):
            raise StackError(f"{component.name} exited while starting\n{log_tail(component)}")
        if time.monotonic() - started > timeout:
            raise StackError(
                f"{component.name} not {what} after {timeout:.0f} s\n{log_tail(component)}"
            )
        time.sleep(0.25)


def log_tail(component: Component | dict, lines: int = 15) -> str:
    log = Path(component["log"] if isinstance(component, dict) else component.log)
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        tail = ["(no log)"]
    return f"  last lines of {log}:\n" + "\n".join(f"    {line[:200]}" for line in tail)


def rss_bytes(pgids: Sequence[int]) -> int:
    """The resident memory of every process in these groups (from /proc)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pgid in pgids:
        for pid in group_members(pgid):
            with contextlib.suppress(OSError, IndexError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total


def listening_ports(pgids: Sequence[int]) -> set[int]:
    """TCP ports on which processes of these groups listen (from /proc/net/tcp*), any address."""
    inodes = set()
    for pgid in pgids:
        for pid in group_members(pgid):
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except OSError:
                pass
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
