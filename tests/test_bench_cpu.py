"""The bench's CPU accounting: a throughput row says whose CPU a request cost, read from /proc.

Amounts are never asserted beyond "the busy one got most of it": they depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import cpu

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads /proc (Linux)")

SPIN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
# A "server" that leaves the work to a worker process, as gunicorn's master does, and waits to be told to end.
SERVER = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', sys.argv[1]], check=True)\nsys.stdin.read()\n"


def test_the_servers_process_tree_is_the_service_and_this_process_the_load_generator() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER, SPIN], stdin=subprocess.PIPE, text=True)
    try:
        with cpu.watched(server.pid) as used:
            end = time.process_time() + 0.2
            while time.process_time() < end:
                pass  # the load generator's work
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(cpu._tree(cpu._processes(), server.pid)) > 1:
                time.sleep(0.02)  # until the worker has spun and ended (its time is then its parent's)
    finally:
        server.communicate("", timeout=60)
    assert used.seconds["service"] >= 0.3
    assert used.seconds["load generator"] >= 0.15
    assert 0 <= used.idle <= 1
    text = used.describe(100)
    assert text.startswith("CPU per request: service ")
    assert "ms, load generator " in text
    assert text.endswith(f"of {used.cpus} CPUs")


def test_without_a_server_process_nothing_is_the_service() -> None:
    with cpu.watched(None) as used:
        pass
    assert used.seconds["service"] == 0
    assert "service" not in used.describe(1)


def test_nothing_measured_says_so() -> None:
    assert cpu.CpuUse().describe(10) == "CPU per request: not measured"
    assert cpu.CpuUse(seconds={"service": 1.0}).describe(0) == "CPU per request: not measured"


def test_a_worker_that_ends_during_the_run_counts_only_what_it_used_during_the_run() -> None:
    # The worker spins before the run; during the run it ends and its master waits for it, which moves its whole
    # lifetime's CPU into the master's count of its children: only its time in the run may be the service's.
    worker = SPIN.replace("0.4", "0.6") + "import sys\nsys.stdin.read()\n"
    master = ("import subprocess, sys\n"
              f"p = subprocess.Popen([sys.executable, '-c', {worker!r}], stdin=subprocess.PIPE)\n"
              "sys.stdin.readline()\np.stdin.close()\np.wait()\nsys.stdin.read()\n")
    server = subprocess.Popen([sys.executable, "-c", master], stdin=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _tree_seconds(server.pid) < 0.6:
            time.sleep(0.05)  # until the worker has spun
        with cpu.watched(server.pid) as used:
            assert server.stdin is not None
            server.stdin.write("end the worker\n")
            server.stdin.flush()
            while time.monotonic() < deadline and len(cpu._tree(cpu._processes(), server.pid)) > 1:
                time.sleep(0.02)
    finally:
        server.communicate("", timeout=60)
    assert used.seconds["service"] < 0.3, used.seconds


def _tree_seconds(root: int) -> float:
    processes = cpu._processes()
    return sum(processes[pid].seconds for pid in cpu._tree(processes, root) if pid in processes)
