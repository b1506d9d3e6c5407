"""The authorised query (POST /api/v1/queries) under gunicorn, beside a bare Flask endpoint.

An institution queries a person's records under a consent: the grant is checked and one use spent,
the selected records are decrypted and cut down to the purpose's fields, the report is signed and
sealed, and the release is appended to the audit log, all in one durable transaction.

The purpose is `lending` (a lender), which releases a category the bench's data set holds
(TAX_ARREARS, about a third of each person's records: three fields of each), so every report has
records in it. `employment_screening` releases none of the data set's categories: its reports
would be empty.

Each query spends a use, and a purpose allows a grant only a few (lending: 3), so a throughput run
needs many grants. Every use is a "ticket" (a consent id) that the load generators hand out once,
so a refusal (403 consent_exhausted) would be a failed request. One grant per sampled person is
made through the use cases, as an institution and the person would (request, approve); the rest
through the same consent functions, many to a transaction, as they are needed: for latency, then,
once latency is known, for the most a throughput run could spend (see `throughput_uses`).
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import random
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event

from audit.tx import AccessContext
from bench import constant_app, cpu
from bench.comparison import Observed, comparison_rows
from bench.dataset import CATEGORIES, Dataset, ensure_imported, progress_bar
from bench.load import HOST, REQUEST_TIMEOUT, LoadResult, Target, choose_generator, run_load, wrk_path
from bench.registry import Aim, BenchError, Measurement, Row
from bench.server import App, serve
from bench.workspace import Workspace
from consent import grants
from consent.grants import Institution
from gateway.usecases import clients as client_use
from gateway.usecases import consents as consent_use
from gateway.usecases import ledger
from gateway.web.app import create_app

QUERY_PATH = "/api/v1/queries"
PURPOSE = "lending"
KIND = "lender"
REASON = "bench: loan application"
AIM = Aim(0.25, "issue: a quarter of a constant endpoint's throughput (a plain ORM version measured ~1/16)")
PRODUCT = App("gateway.web.app:create_app()", "/login", lambda ws: create_app(runtime=ws.runtime))
CONSTANT = App("bench.constant_app:create_app()", "/", lambda ws: constant_app.create_app())
BATCH = 250  # grants per transaction in the bulk creation
HEADROOM = 1.5  # uses made beyond the highest rate a run could reach, for noise and in-flight requests


@dataclass(frozen=True)
class QueryTarget(Target):
    """POSTs of one consent id each, in order, with the institution's bearer token."""

    token: str = ""
    consent_ids: tuple[str, ...] = ()

    def requests(self) -> list[bytes]:
        """Return one raw POST per consent id."""
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nAccept: application/json\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n")
        out = []
        for consent_id in self.consent_ids:
            body = query_body(consent_id)
            out.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return out


def query_body(consent_id: str) -> bytes:
    """Return the JSON body of a query under `consent_id`."""
    return json.dumps({"consent_id": consent_id}).encode()


@dataclass
class Grantor:
    """Makes the run's grants for the sampled people, each with the purpose's ceiling of uses."""

    ws: Workspace
    institution: Institution
    people: list[tuple[str, str]]
    made: int = 0

    @property
    def uses_per_grant(self) -> int:
        """Return the purpose's ceiling of uses, which every grant gets."""
        return self.ws.runtime.purposes.purpose(PURPOSE).max_uses

    def one_each(self) -> list[str]:
        """Make one grant per person the way an institution and the person would (the use cases)."""
        rt = self.ws.runtime
        purpose = rt.purposes.purpose(PURPOSE)
        made = []
        for citizen_id, ref in self.people:
            asked = consent_use.request_consent(rt.uow, rt.vault, rt.policy, consent_use.RequestConsent(
                institution_id=self.institution.client_id, kind=self.institution.kind, citizen_id=citizen_id,
                purpose=PURPOSE, categories=None, reason=REASON, valid_for=purpose.max_consent,
                max_uses=purpose.max_uses))
            answer = consent_use.Answer(ref, asked.id)
            made.append(consent_use.approve(rt.uow, rt.vault, rt.policy, answer).views[0].id)
        self.made += len(made)
        return made

    def tickets(self, uses: int) -> list[str]:
        """Make enough grants for `uses` uses, through the consent functions in batched transactions;
        return every use as a consent id, in rounds (a grant comes back once all the others had a turn)."""
        rt = self.ws.runtime
        purpose = rt.purposes.purpose(PURPOSE)
        count = math.ceil(max(0, uses) / purpose.max_uses)
        made: list[str] = []
        access = AccessContext(actor=self.institution.client_id, role="institution")
        with progress_bar(count, "grants", "grants", self.ws.options.progress) as bar:
            while len(made) < count:
                batch = min(BATCH, count - len(made))
                with rt.uow.begin(access) as tx:
                    for _ in range(batch):
                        ref = self.people[(self.made + len(made)) % len(self.people)][1]
                        asked = grants.create_request(tx, rt.purposes, self.institution, ref, PURPOSE,
                                                      None, REASON, purpose.max_consent, purpose.max_uses)
                        row = grants.pending_request(tx, ref, asked.id)
                        made.append(grants.approve(tx, rt.vault.sign, rt.purposes, rt.catalogue, row,
                                                   self.institution).id)
                bar.update(batch)
        self.made += len(made)
        return made * purpose.max_uses


def register_institution(ws: Workspace) -> client_use.NewClient:
    """Register the lender whose bearer token makes the queries."""
    return client_use.add_client(ws.runtime, role="institution", name="bench lender", categories=[], kind=KIND)


def sample_refs(ws: Workspace, dataset: Dataset) -> list[tuple[str, str]]:
    """Return (citizen ID, blind index) of the people the grants are for."""
    opts = ws.options
    rng = random.Random(opts.seed + 2)
    chosen = rng.sample(dataset.citizen_ids, min(opts.sample_people, len(dataset.citizen_ids)))
    return [(cid, ws.runtime.vault.subject_ref(cid)) for cid in chosen]


def token(port: int, client: client_use.NewClient) -> str:
    """Return a bearer token from POST /oauth/token (client_credentials, client_secret_basic)."""
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    status, body = _post(port, "/oauth/token", urlencode({"grant_type": "client_credentials"}).encode(), {
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise BenchError(f"POST /oauth/token answered {status}: {body[:300]!r}")
    access: str = json.loads(body)["access_token"]
    return access


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def check_reports(ws: Workspace, port: int, bearer: str, first: list[str]) -> None:
    """Query once under each person's first grant; raise BenchError unless each answer is a 201 with a
    non-empty report of the purpose's fields only, whose signature verifies (this also warms the workers)."""
    rt = ws.runtime
    allowed = rt.purposes.purpose(PURPOSE).fields
    released = set(CATEGORIES) & set(allowed)  # what of the data set the purpose may see
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    for consent_id in first:
        status, body = _post(port, QUERY_PATH, query_body(consent_id), headers)
        if status != 201:
            raise BenchError(f"POST {QUERY_PATH} answered {status}: {body[:300]!r}")
        answer = json.loads(body)
        report = answer["report"]
        if rt.vault.verify(answer["jws"]) != report or report["consent_id"] != consent_id:
            raise BenchError(f"the signed report of consent {consent_id} does not match the report sent")
        if not report["records"]:
            raise BenchError(f"the report of consent {consent_id} is empty: the data set has no {PURPOSE} records")
        for record in report["records"]:
            if record["category"] not in released or not set(record["fields"]) <= allowed[record["category"]]:
                raise BenchError(f"the report of consent {consent_id} released more than {PURPOSE} allows")


def statements_per_query(ws: Workspace, client: client_use.NewClient, consent_id: str) -> tuple[str, ...]:
    """Return the SQL statements one query makes (token check included), served in this process."""
    app = create_app(runtime=ws.runtime)
    web = app.test_client()
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    answer = web.post("/oauth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": f"Basic {basic}"})
    headers = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split())[:60])

    engine = ws.runtime.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = web.post(QUERY_PATH, json={"consent_id": consent_id}, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    if response.status_code != 201:
        raise BenchError(f"in-process query answered {response.status_code}: {response.get_data()[:300]!r}")
    return tuple(seen)


def measure_constant(ws: Workspace, generator: str) -> Observed:
    """Serve the constant app and measure it as the product will be."""
    opts = ws.options
    with ExitStack() as running:
        with ws.step("start the constant app"):
            server = running.enter_context(serve(ws, CONSTANT, "constant-query"))
        with ws.step("measure the constant app"):
            target = Target(server.port, "/")
            run_load("python", target, 2, 30.0, 200)  # warm-up, as the product gets one
            latency = run_load("python", target, 1, opts.latency_max_seconds, opts.latency_requests)
            with cpu.watched(server.pid) as used:
                throughput = run_load(generator, target, opts.connections, opts.throughput_seconds,
                                      int(opts.throughput_seconds * 100_000))
        with ws.step("stop the constant app"):
            running.close()
    return Observed(latency, throughput, cpu=used)


def measure_product(ws: Workspace, generator: str, client: client_use.NewClient, grantor: Grantor,
                    baseline: Observed) -> Observed:
    """Serve xinyong, check its reports, measure latency, make the grants throughput can use, measure it.

    Each use is asked for once: latency first, then throughput with what the latency says it can spend.
    """
    opts = ws.options
    with ws.step(f"grant one consent to each of {len(grantor.people)} people, and uses for latency"):
        first = grantor.one_each()
        spare = first * (grantor.uses_per_grant - 1)
        tickets = spare + grantor.tickets(opts.latency_requests + 1 - len(spare))
    settle_audit_log(ws)
    statements = statements_per_query(ws, client, tickets.pop(0))
    with ExitStack() as running:
        with ws.step("start xinyong"):
            server = running.enter_context(serve(ws, PRODUCT, "xinyong-query"))
        bearer = token(server.port, client)
        with ws.step(f"check {len(first)} reports"):
            check_reports(ws, server.port, bearer, first)
        with ws.step("measure xinyong latency"):
            ids, tickets = tuple(tickets[:opts.latency_requests]), tickets[opts.latency_requests:]
            latency = run_load("python", QueryTarget(server.port, QUERY_PATH, token=bearer, consent_ids=ids), 1,
                               opts.latency_max_seconds, len(ids))
        uses = max(0, throughput_uses(ws, generator, baseline, latency) - len(tickets))
        with ws.step(f"grant {uses:,} more uses for throughput"):
            tickets += grantor.tickets(uses)
        settle_audit_log(ws)
        with ws.step("measure xinyong throughput"):
            target = QueryTarget(server.port, QUERY_PATH, token=bearer, consent_ids=tuple(tickets))
            with cpu.watched(server.pid) as used:
                if generator == "wrk":
                    throughput = run_wrk_queries(ws, target, opts.connections, opts.throughput_seconds)
                else:
                    throughput = run_load("python", target, opts.connections, opts.throughput_seconds,
                                          len(tickets))
        with ws.step("stop xinyong"):
            running.close()
    return Observed(latency, throughput, statements, used)


def settle_audit_log(ws: Workspace) -> None:
    """Add what the set-up logged to the Merkle tree, as `records import` does after an import, so that
    the service's periodic checkpoint (every 10 s after a response) integrates only what the
    measurement itself logs."""
    with ws.step("checkpoint the audit log"):
        ledger.checkpoint(ws.runtime)


def throughput_uses(ws: Workspace, generator: str, baseline: Observed, latency: LoadResult) -> int:
    """Return the most uses the throughput run can spend: its seconds at the highest rate it could reach.

    No rate is above the constant app's. Under gunicorn, each sync worker serves one request at a time,
    each taking at least the product's quickest single request less the constant app's (which pays the
    same server and client costs): that bounds the rate more tightly.
    """
    opts = ws.options
    seconds = max(1, round(opts.throughput_seconds)) if generator == "wrk" else opts.throughput_seconds
    rate = baseline.throughput.rate
    if opts.server == "gunicorn" and latency.latencies and baseline.latency.latencies:
        service = min(latency.latencies) - min(baseline.latency.latencies)
        rate = min(rate, opts.workers / max(service, 1e-4))
    return math.ceil(rate * HEADROOM * seconds) + opts.connections


_LUA = """
local ids = {}
local headers = {}
local used = 0
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(args[2])
  local k = 0
  for line in io.lines(args[1]) do
    if k %% threads == tid then ids[#ids + 1] = line end
    k = k + 1
  end
  headers["Authorization"] = "Bearer " .. args[3]
  headers["Content-Type"] = "application/json"
end

request = function()
  used = used + 1
  -- past the end the ids come round again: those uses are spent, so the answers are 403s (errors)
  local id = ids[((used - 1) %% #ids) + 1]
  return wrk.format("POST", %(path)s, headers, '{"consent_id": "' .. id .. '"}')
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


def run_wrk_queries(ws: Workspace, target: QueryTarget, connections: int, seconds: float) -> LoadResult:
    """Run wrk POSTing the target's consent ids, each thread its own share of them in order."""
    wrk = wrk_path()
    if wrk is None:
        raise BenchError("wrk is not on PATH")
    if not target.consent_ids:
        raise BenchError("no consent ids to query with")
    threads = min(2, connections)
    script = ws.home / "queries.lua"
    script.write_text(_LUA % {"path": json.dumps(target.path)})
    ids = ws.home / "consent-ids.txt"
    ids.write_text("".join(f"{c}\n" for c in target.consent_ids))
    argv = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", f"{int(REQUEST_TIMEOUT)}s", "-s", str(script), f"http://{HOST}:{target.port}",
            "--", str(ids), str(threads), target.token]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    return _wrk_result(done)


def _wrk_result(done: subprocess.CompletedProcess[str]) -> LoadResult:
    found = [line for line in done.stdout.splitlines() if line.startswith("WRK_RESULT ")]
    if done.returncode != 0 or not found:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(found[-1].removeprefix("WRK_RESULT "))
    result = LoadResult("wrk", seconds=data["duration_us"] / 1e6, p50=data["p50_us"] / 1e6, p99=data["p99_us"] / 1e6)
    kinds = ("connect", "read", "write", "status", "timeout")
    result.ok = data["requests"] - data["status"]
    result.errors = sum(data[k] for k in kinds)
    if result.errors:
        result.first_error = ", ".join(f"{k} {data[k]}" for k in kinds if data[k])
    return result


def run(ws: Workspace) -> list[Row]:
    """Measure the constant app, then make grants as they are needed and measure the product the same way."""
    dataset = ensure_imported(ws)
    generator = choose_generator(ws.options.generator)
    client = register_institution(ws)
    grantor = Grantor(ws, Institution(client.client_id, KIND, client.name), sample_refs(ws, dataset))
    baseline = measure_constant(ws, generator)
    product = measure_product(ws, generator, client, grantor, baseline)
    return _rows(ws, generator, product, baseline, grantor)


def _rows(ws: Workspace, generator: str, product: Observed, baseline: Observed, grantor: Grantor) -> list[Row]:
    work = (f"{PURPOSE} purpose, {grantor.made:,} grants of {grantor.uses_per_grant} uses for "
            f"{len(grantor.people)} people; one query = {len(product.statements)} SQL statements in-process")
    return comparison_rows("authorised query", ws, generator, product, baseline, AIM, work)


MEASUREMENT = Measurement(
    "authorised_query", "POST /api/v1/queries (consent, decrypt, sign, audit) under gunicorn vs constant JSON", run)
