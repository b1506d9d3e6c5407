"""The person's own report (GET /api/v1/me/report) under gunicorn, beside a bare Flask endpoint.

A sample of the imported people is enrolled and activated through the real use cases, with a
cheap argon2 setting since hashing is not what is measured, then logs in through the portal's
form (CSRF token and all). Latency is one request at a time; throughput is under concurrent
connections. The baseline app runs under the same gunicorn settings and the same generator.
"""

from __future__ import annotations

import http.client
import json
import random
import re
from contextlib import ExitStack
from urllib.parse import urlencode

from bench import constant_app, cpu
from bench.comparison import Observed, comparison_rows
from bench.dataset import Dataset, ensure_imported, progress_bar
from bench.load import HOST, Target, choose_generator, run_load
from bench.registry import Aim, BenchError, Measurement, Row
from bench.server import App, serve
from bench.workspace import Workspace
from gateway.runtime import build_runtime
from gateway.usecases import people
from gateway.web.app import create_app

REPORT_PATH = "/api/v1/me/report"
# PERFORMANCE.md: a prototype of the authorised-query path (one person's records, decrypted, shaped,
# audited) reached 0.14-0.20 of a bare endpoint's throughput; the self report does the same work.
AIM = Aim(0.25, "issue: throughput at least a quarter of the constant endpoint's")
PRODUCT = App("gateway.web.app:create_app()", "/login", lambda ws: create_app(runtime=ws.runtime))
CONSTANT = App("bench.constant_app:create_app()", "/", lambda ws: constant_app.create_app())
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def enroll_sample(ws: Workspace, dataset: Dataset) -> dict[str, str]:
    """Enroll and activate a sample of the data set's people; return {citizen ID: password}."""
    opts = ws.options
    rng = random.Random(opts.seed + 1)
    sample = rng.sample(dataset.citizen_ids, min(opts.sample_people, len(dataset.citizen_ids)))
    rt = ws.runtime
    cheap = build_runtime(rt.settings.with_overrides(argon2_time_cost=1, argon2_memory_kib=1024),
                          engine=rt.engine, vault=rt.vault)
    logins: dict[str, str] = {}
    with progress_bar(len(sample), "enrol", "people", opts.progress) as bar:
        for index, citizen_id in enumerate(sample):
            password = f"bench-pass-{index:05d}"
            enrolment = people.enroll(cheap, citizen_id, None, "bench counter")
            people.activate(cheap, citizen_id, enrolment.activation_code, password, HOST)
            logins[citizen_id] = password
            bar.update(1)
    return logins


def log_in(port: int, citizen_id: str, password: str) -> str:
    """Log in through the portal's form and return the session cookie ("name=value")."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", "/login")
        form = conn.getresponse()
        page = form.read().decode()
        found = _CSRF.search(page)
        if form.status != 200 or found is None:
            raise BenchError(f"GET /login answered {form.status} without a CSRF token")
        body = urlencode({"csrf_token": found.group(1), "citizen_id": citizen_id, "password": password})
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": _cookie(form)})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 302:
            raise BenchError(f"POST /login answered {answer.status} for a person just activated")
        return _cookie(answer)
    finally:
        conn.close()


def _cookie(response: http.client.HTTPResponse) -> str:
    header = response.getheader("Set-Cookie")
    if not header:
        raise BenchError("the server set no session cookie")
    return header.split(";", 1)[0]


def check_reports(port: int, cookies: tuple[str, ...], records_per_person: int) -> None:
    """Fetch every sampled person's report once (warming the workers); raise BenchError if one is wrong."""
    seen = run_load("python", Target(port, REPORT_PATH, cookies), 2, 120.0, len(cookies), keep_bodies=len(cookies))
    if seen.errors or seen.ok != len(cookies):
        raise BenchError(f"self report failed {seen.errors} of {len(cookies)} times: {seen.first_error}")
    for body in seen.bodies:
        count = len(json.loads(body)["records"])
        if count != records_per_person:
            raise BenchError(f"a self report had {count} records, not {records_per_person}")


def observe(ws: Workspace, generator: str, target: Target, server_pid: int | None) -> Observed:
    """Measure latency one request at a time (python client), then throughput with `generator`, and where
    the throughput run's CPU went (`server_pid`: the server's root process)."""
    opts = ws.options
    latency = run_load("python", target, 1, opts.latency_max_seconds, opts.latency_requests)
    with cpu.watched(server_pid) as used:
        throughput = run_load(generator, target, opts.connections, opts.throughput_seconds,
                              int(opts.throughput_seconds * 100_000))
    return Observed(latency, throughput, cpu=used)


def run(ws: Workspace) -> list[Row]:
    """Serve the product and the constant app in turn and measure both the same way."""
    opts = ws.options
    dataset = ensure_imported(ws)
    with ws.step(f"enrol and activate {opts.sample_people} people"):
        logins = enroll_sample(ws, dataset)
    generator = choose_generator(opts.generator)
    with ExitStack() as running:
        with ws.step("start xinyong"):
            server = running.enter_context(serve(ws, PRODUCT, "xinyong"))
        with ws.step(f"log in {len(logins)} people and check their reports"):
            cookies = tuple(log_in(server.port, cid, pw) for cid, pw in logins.items())
            check_reports(server.port, cookies, dataset.records_per_person)
        with ws.step("measure xinyong"):
            product = observe(ws, generator, Target(server.port, REPORT_PATH, cookies), server.pid)
        with ws.step("stop xinyong"):
            running.close()
    with ExitStack() as running:
        with ws.step("start the constant app"):
            server = running.enter_context(serve(ws, CONSTANT, "constant"))
        with ws.step("measure the constant app"):
            target = Target(server.port, "/", cookies)
            run_load("python", target, 2, 30.0, 200)  # warm-up, as the product had
            baseline = observe(ws, generator, target, server.pid)
        with ws.step("stop the constant app"):
            running.close()
    return _rows(ws, generator, product, baseline)


def _rows(ws: Workspace, generator: str, product: Observed, baseline: Observed) -> list[Row]:
    return comparison_rows("self report", ws, generator, product, baseline, AIM)


MEASUREMENT = Measurement("self_report", "GET /api/v1/me/report under gunicorn vs a constant-JSON endpoint", run)
