"""`xinyong serve` with several gunicorn workers: a scrape, answered by any worker, counts every worker's requests."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

HOST = "127.0.0.1"
XINYONG = str(Path(sys.executable).with_name("xinyong"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "xinyong_http_requests_total" and sample.labels["endpoint"] == "/healthz":
                return float(sample.value)
    return 0.0


def test_every_workers_requests_are_in_each_scrape_and_a_previous_runs_counts_are_dropped(tmp_path: Path) -> None:
    env = {**os.environ, "XINYONG_HOME": str(tmp_path), "XINYONG_ENV": "development"}
    for name in ("XINYONG_DATABASE_URL", "XINYONG_KEYRING", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    subprocess.run([XINYONG, "init"], env=env, check=True, capture_output=True)
    stale = tmp_path / "metrics" / "counter_1.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left by an earlier run")
    port = _free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen([XINYONG, "serve", "--port", str(port), "--workers", "2"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if _get(port, "/readyz")[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _get(port, "/healthz")[0], range(80)))
        assert statuses == [200] * 80
        assert not stale.exists()
        for _ in range(5):
            status, text = _get(port, "/metrics")
            assert status == 200
            assert _healthz_count(text) == 80
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
