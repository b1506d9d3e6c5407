"""Serving an app for a measurement: gunicorn as in production, or werkzeug in a thread for tests.

gunicorn gets the arguments of `xinyong serve` (sync workers, access log to stdout), so the product
and the baseline app pay the same server costs; its log goes to a file in the workspace. The
in-thread server exists so the smoke test can run a whole measurement in seconds; its numbers mean
nothing.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from bench.load import HOST
from bench.registry import BenchError
from bench.workspace import REPO, Workspace
from gateway.cli import ACCESS_LOG_FORMAT

START_SECONDS = 180.0  # a worker imports everything; on a busy 2-core machine without .pyc files that takes long
STOP_SECONDS = 30.0


@dataclass(frozen=True)
class App:
    """An app to serve: its gunicorn spec, a path that answers once it is up, and how to build it here."""

    spec: str
    ready_path: str
    build: Callable[[Workspace], Flask]


@dataclass(frozen=True)
class Server:
    port: int
    log: Path
    pid: int | None = None  # gunicorn's master, whose process tree serves; None: served in this process


def free_port() -> int:
    """Return a port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def gunicorn_argv(spec: str, port: int, workers: int) -> list[str]:
    """Return the command line `xinyong serve` would exec, for `spec`."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    head = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    # --no-control-socket: gunicorn 27 otherwise binds ~/.gunicorn/gunicorn.ctl, shared by every
    # instance on the machine; it plays no part in serving requests.
    return [*head, "--bind", f"{HOST}:{port}", "--workers", str(workers), "--access-logfile", "-",
            "--access-logformat", ACCESS_LOG_FORMAT, "--no-control-socket", spec]


@contextmanager
def serve(ws: Workspace, app: App, name: str) -> Iterator[Server]:
    """Serve `app` until the block ends, the way the workspace's options say; raises BenchError."""
    log = ws.home / f"server-{name}.log"
    if ws.options.server == "thread":
        with _thread(app.build(ws), log) as server:
            yield server
    elif ws.options.server == "gunicorn":
        with _gunicorn(app, ws.env, ws.options.workers, log) as server:
            yield server
    else:
        raise BenchError(f"unknown server {ws.options.server!r}: use gunicorn or thread")


@contextmanager
def _gunicorn(app: App, env: dict[str, str], workers: int, log: Path) -> Iterator[Server]:
    port = free_port()
    # As under `xinyong serve`, the workers keep their metrics in files there (a fresh directory each start).
    metrics = log.with_name(log.stem + "-metrics")
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(mode=0o700)
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with log.open("ab") as out:
        process = subprocess.Popen(gunicorn_argv(app.spec, port, workers), env=env, cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait_ready(process, port, app.ready_path, log)
            yield Server(port, log, process.pid)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}; see {log}:\n{_tail(log)}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=START_SECONDS)
            try:
                conn.request("GET", path)
                if conn.getresponse().status < 500:
                    return
            finally:
                conn.close()
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer on port {port} within {START_SECONDS:.0f} s; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop of the master and its workers
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing per request: the smoke test's output stays readable."""


@contextmanager
def _thread(app: Flask, log: Path) -> Iterator[Server]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="bench-server", daemon=True)
    thread.start()
    try:
        yield Server(server.server_port, log)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_SECONDS)
