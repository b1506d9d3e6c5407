"""Load generators: wrk when it is on PATH, else a small asyncio HTTP/1.1 client.

Both only talk to 127.0.0.1 and stop after a number of requests or seconds, whichever comes first.
gunicorn's sync workers close the connection after every response, so either one reconnects
per request; a keep-alive server would have its connections reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.registry import BenchError

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 30.0
MAX_ERRORS = 1000
PYTHON_NOTE = ("python load generator on the same machine: it takes CPU from the server, "
               "so compare ratios, not absolute numbers")


@dataclass(frozen=True)
class Target:
    """What to ask for: a GET of `path` on the local port, rotating through the cookies."""

    port: int
    path: str
    cookies: tuple[str, ...] = ()

    def requests(self) -> list[bytes]:
        """Return the raw requests, one per cookie."""
        base = f"GET {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nAccept: */*\r\n"
        return [(base + (f"Cookie: {c}\r\n" if c else "") + "\r\n").encode() for c in self.cookies or ("",)]


@dataclass
class LoadResult:
    """What a load run saw; `latencies` are seconds per successful request (when the generator gives them)."""

    generator: str
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    bodies: list[bytes] = field(default_factory=list)
    p50: float | None = None
    p99: float | None = None

    @property
    def rate(self) -> float:
        """Return successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: int) -> float:
        """Return the q-th percentile latency in seconds; raises BenchError without latencies."""
        if q == 50 and self.p50 is not None:
            return self.p50
        if q == 99 and self.p99 is not None:
            return self.p99
        if len(self.latencies) < 2:
            raise BenchError("too few successful requests for a latency percentile")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]

    def error(self, what: str) -> None:
        """Count a failed request, keeping the first reason."""
        self.errors += 1
        if not self.first_error:
            self.first_error = what


def wrk_path() -> str | None:
    """Return the wrk executable if it is installed."""
    return shutil.which("wrk")


def choose_generator(wanted: str) -> str:
    """Return "wrk" or "python" for `wanted` ("auto", "wrk" or "python"); raises BenchError."""
    if wanted == "auto":
        return "wrk" if wrk_path() else "python"
    if wanted == "wrk" and not wrk_path():
        raise BenchError("--generator wrk: wrk is not on PATH (Debian package wrk)")
    if wanted not in ("wrk", "python"):
        raise BenchError(f"unknown load generator {wanted!r}")
    return wanted


def run_load(generator: str, target: Target, connections: int, seconds: float, max_requests: int,
             keep_bodies: int = 0) -> LoadResult:
    """Run `connections` concurrent request loops against the target and return what they saw."""
    if generator == "wrk":
        return _run_wrk(target, connections, seconds)
    return asyncio.run(_run_python(target, connections, seconds, max_requests, keep_bodies))


# --- the asyncio generator ------------------------------------------------------------------

@dataclass
class _Loop:
    deadline: float
    max_requests: int
    keep_bodies: int
    result: LoadResult
    issued: int = 0

    def more(self) -> bool:
        if time.perf_counter() >= self.deadline or self.issued >= self.max_requests:
            return False
        if self.result.errors >= MAX_ERRORS:
            return False
        self.issued += 1
        return True


async def _run_python(target: Target, connections: int, seconds: float, max_requests: int,
                      keep_bodies: int) -> LoadResult:
    result = LoadResult("python")
    started = time.perf_counter()
    loop = _Loop(started + seconds, max_requests, keep_bodies, result)
    requests = target.requests()
    await asyncio.gather(*(_connection(target, requests, i, connections, loop) for i in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


async def _connection(target: Target, requests: list[bytes], offset: int, stride: int, loop: _Loop) -> None:
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    index = offset
    try:
        while loop.more():
            request = requests[index % len(requests)]
            index += stride
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(HOST, target.port), REQUEST_TIMEOUT)
                conn[1].write(request)
                status, close, body = await asyncio.wait_for(_response(conn[0]), REQUEST_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
                loop.result.error(f"{type(exc).__name__}: {exc}")
                await _close(conn)
                conn = None
                continue
            elapsed = time.perf_counter() - started
            if 200 <= status < 300:
                loop.result.ok += 1
                loop.result.latencies.append(elapsed)
                if len(loop.result.bodies) < loop.keep_bodies:
                    loop.result.bodies.append(body)
            else:
                loop.result.error(f"HTTP {status}: {body[:300]!r}")
            if close:
                await _close(conn)
                conn = None
    finally:
        await _close(conn)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length: int | None = None
    close = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = value.strip().lower() == "close"
        elif name == "transfer-encoding":
            raise ValueError("chunked responses are not supported by this client")
    if length is None:
        return status, True, await reader.read()
    return status, close, await reader.readexactly(length)


async def _close(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    if conn is None:
        return
    conn[1].close()
    with contextlib.suppress(OSError):  # the server closed first; the socket is closed either way
        await conn[1].wait_closed()


# --- wrk --------------------------------------------------------------------------------------

_LUA = """
local cookies = {%(cookies)s}
local counter = 0
request = function()
  counter = counter + 1
  local headers = {}
  if #cookies > 0 then headers["Cookie"] = cookies[(counter %% #cookies) + 1] end
  return wrk.format("GET", %(path)s, headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _run_wrk(target: Target, connections: int, seconds: float) -> LoadResult:
    wrk = wrk_path()
    if wrk is None:
        raise BenchError("wrk is not on PATH")
    lua = _LUA % {"cookies": ", ".join(json.dumps(c) for c in target.cookies), "path": json.dumps(target.path)}
    with tempfile.TemporaryDirectory(prefix="xinyong-wrk-") as tmp:
        script = Path(tmp) / "rotate.lua"
        script.write_text(lua)
        argv = [wrk, "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                "--timeout", f"{int(REQUEST_TIMEOUT)}s", "-s", str(script), f"http://{HOST}:{target.port}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    found = [line for line in done.stdout.splitlines() if line.startswith("WRK_RESULT ")]
    if done.returncode != 0 or not found:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(found[-1].removeprefix("WRK_RESULT "))
    result = LoadResult("wrk", seconds=data["duration_us"] / 1e6,
                        p50=data["p50_us"] / 1e6, p99=data["p99_us"] / 1e6)
    failed = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    result.ok = data["requests"] - data["status"]
    result.errors = failed
    if failed:
        result.first_error = ", ".join(f"{k} {data[k]}" for k in ("connect", "read", "write", "status", "timeout")
                                       if data[k])
    return result
