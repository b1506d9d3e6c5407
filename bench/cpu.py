"""Where a throughput run's CPU went: the service's processes, the database server, the load generator.

A ratio says how far an endpoint is from the constant one, not why. Read from /proc (Linux) over the
run: the CPU time of the server's process tree (gunicorn's master and workers), of the PostgreSQL
server's processes, of the load generator (wrk, a child of this process, or this process itself when
the python generator runs here), what else ran, and how much of the machine stayed idle. Divided by the
requests served, it is the cost of one request; beside the constant app's, it shows whether a rate is
bound by CPU (little idle: only less work per request helps) or by waiting (much idle: locks, fsync,
round trips).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
DATABASE_COMMANDS = frozenset({"postgres"})
TICK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


@dataclass(frozen=True)
class _Process:
    parent: int
    command: str
    seconds: float


def _processes() -> dict[int, _Process]:
    """Return every process's parent, command name and CPU seconds so far (its own and its ended children's)."""
    found: dict[int, _Process] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        head, _, tail = stat.rpartition(")")
        fields = tail.split()
        # utime, stime, and cutime, cstime: the children it waited for (a worker replaced, a backend ended)
        found[int(entry.name)] = _Process(int(fields[1]), head.partition("(")[2],
                                          sum(int(v) for v in fields[11:15]) / TICK)
    return found


def _machine() -> tuple[float, float]:
    """Return the machine's CPU seconds so far, (all, idle), summed over its CPUs."""
    with (PROC / "stat").open() as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    return sum(values[:8]) / TICK, (values[3] + values[4]) / TICK


def _tree(processes: dict[int, _Process], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, process in processes.items():
        children.setdefault(process.parent, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return tree


def _own() -> float:
    """Return this process's CPU seconds and those of its waited-for children (wrk, once it ended)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class CpuUse:
    """CPU seconds by whom over one run, and the machine's idle share; filled in when the run ends."""

    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    seconds: dict[str, float] = field(default_factory=dict)
    idle: float = 0.0  # share of the machine's CPU time that no process used

    def describe(self, requests: int) -> str:
        """Return e.g. "CPU per request: service 1.61 ms, database 0.52 ms, ...; machine idle 31%"."""
        if requests <= 0 or not self.seconds:
            return "CPU per request: not measured"
        parts = ", ".join(f"{who} {1000 * s / requests:.2f} ms" for who, s in self.seconds.items() if s > 0)
        return f"CPU per request: {parts}; machine idle {100 * self.idle:.0f}% of {self.cpus} CPUs"


@contextmanager
def watched(server_pid: int | None) -> Iterator[CpuUse]:
    """Measure the CPU used while the block runs; the CpuUse is filled in when it ends.

    `server_pid`: the server's root process (its whole tree counts as the service), or None when the
    server runs in this process (its CPU is then the "load generator"'s: only the machine's idle share and
    the database are meaningful). The database is every process named `postgres` on the machine.
    """
    use = CpuUse()
    if not (PROC / "stat").exists():
        yield use  # not Linux: nothing to read
        return
    before, machine, own = _processes(), _machine(), _own()
    yield use
    after, (total, idle), own_after = _processes(), _machine(), _own()

    # A process that ended during the run and was waited for has all its time in its parent's now: take off what
    # it had used before the run began (its time during the run stays, in the parent's).
    earlier: dict[int, float] = {}
    for pid, process in before.items():
        if pid not in after:
            earlier[process.parent] = earlier.get(process.parent, 0.0) + process.seconds

    def delta(pid: int) -> float:  # a process that began during the run counts from zero
        return after[pid].seconds - (before[pid].seconds if pid in before else 0.0) - earlier.get(pid, 0.0)

    service = _tree(after, server_pid) if server_pid is not None else set()
    database = {pid for pid, p in after.items() if p.command in DATABASE_COMMANDS}
    busy = (total - machine[0]) - (idle - machine[1])
    use.seconds = {
        "service": sum(delta(pid) for pid in service),
        "database": sum(delta(pid) for pid in database),
        "load generator": own_after - own,
    }
    use.seconds["other"] = max(0.0, busy - sum(use.seconds.values()))
    use.idle = (idle - machine[1]) / max(total - machine[0], 1e-9)

