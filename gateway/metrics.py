"""The service's Prometheus metrics: what they count, and nothing about anyone.

Every label takes its value from a small fixed set: the URL rule of a route (never the path, which
can hold an id), the HTTP method and status, an audit action tag and outcome, a refusal code from
consent.errors, a decision. No actor, client id, record id, subject reference or reason text is a
label, so a scrape says how much happened and how fast, never to whom or by whom.

Counters and histograms live in this process. Under gunicorn each worker counts its own requests;
with PROMETHEUS_MULTIPROC_DIR set (`xinyong serve` sets it), prometheus-client keeps every
worker's values in memory-mapped files there and a scrape, answered by any worker, adds them up.
prometheus-client chooses its storage when it is first imported, so the variable must be set
before that (gunicorn imports the app in each worker, after `serve` set it). Only the web app
imports this module: the CLI's commands do not pay for prometheus-client's import.

The state of the audit log (entries, tree size, the newest signed head and its age) is read from
the database at each scrape (`LedgerCollector`), so it is the same whichever worker answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

from audit.entries import EntryDraft
from audit.tags import Outcome, Tag
from consent import errors as consent_errors
from gateway.runtime import Runtime
from gateway.usecases import health

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client chose where values live when it was imported, just above, from this same variable.
MULTIPROCESS = bool(os.environ.get(MULTIPROCESS_VARIABLE))
NO_ROUTE = "none"  # a request no URL rule matched (a 404, a 405): its path is never a label
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: a cached read takes about a millisecond, the authorised query a few, an argon2 login hundreds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _refusal_codes() -> frozenset[str]:
    found, todo = set(), [consent_errors.QueryRefused]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return frozenset(found)


REFUSAL_CODES = _refusal_codes()
ACTIONS = frozenset(str(tag) for tag in Tag)
OUTCOMES = frozenset(str(outcome) for outcome in Outcome)
DECISIONS = {Tag.CONSENT_APPROVED: "approved", Tag.CONSENT_DENIED: "denied", Tag.CONSENT_REVOKED: "revoked"}

REQUESTS = Counter("xinyong_http_requests", "HTTP requests answered, by URL rule, method and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("xinyong_http_request_duration_seconds",
                    "Time from the request's first hook to its response, by URL rule and method.",
                    ["endpoint", "method"], buckets=LATENCY_BUCKETS)
APPENDED = Counter("xinyong_audit_entries_appended", "Audit entries committed by this service, by action and outcome.",
                   ["action", "outcome"])
DECIDED = Counter("xinyong_consent_decisions", "Consent decisions taken by people: approved, denied, revoked.",
                  ["decision"])
REFUSED = Counter("xinyong_query_refusals", "Authorised queries refused, by problem code.", ["code"])

log = logging.getLogger("xinyong.metrics")
_requests: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_appended: dict[tuple[str, str], Counter] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its time (the labelled children are looked up once per key)."""
    # Any method can be sent: unknown ones share one key, so that neither labels nor this cache can grow.
    key = (endpoint, method if method in METHODS else OTHER, status)
    children = _requests.get(key)
    if children is None:
        children = _requests.setdefault(key, (REQUESTS.labels(key[0], key[1], str(status)),
                                              LATENCY.labels(key[0], key[1])))
    children[0].inc()
    children[1].observe(seconds)


def count_appended(drafts: Sequence[EntryDraft]) -> None:
    """Count committed audit entries, the consent decisions and the query refusals among them.

    Called after the commit: a failure here is logged and never turns a done request into an error.
    """
    try:
        for draft in drafts:
            action, outcome = str(draft.action), str(draft.outcome)
            key = (action if action in ACTIONS else OTHER, outcome if outcome in OUTCOMES else OTHER)
            child = _appended.get(key)
            if child is None:
                child = _appended.setdefault(key, APPENDED.labels(*key))
            child.inc()
            if action == Tag.QUERY_DENIED:
                REFUSED.labels(draft.reason if draft.reason in REFUSAL_CODES else OTHER).inc()
            elif action in DECISIONS:
                DECIDED.labels(DECISIONS[Tag(action)]).inc()
    except Exception:  # metrics must never fail a committed request
        log.exception("counting audit entries failed")


class LedgerCollector:
    """Reads the audit log's state from the database at each scrape: the same answer from every worker."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def collect(self) -> Iterator[Metric]:
        """Yield whether the database answered and, if it did, the log's entries, tree and newest head."""
        state = health.ledger_state(self._rt)
        yield GaugeMetricFamily("xinyong_database_up", "1 if the database answered this scrape's reads, else 0.",
                                value=0 if state is None else 1)
        if state is None:
            return
        yield GaugeMetricFamily("xinyong_audit_log_entries", "Entries in the audit log (its gapless counter).",
                                value=state.entries)
        yield GaugeMetricFamily("xinyong_audit_tree_size", "Entries integrated into the Merkle tree.",
                                value=state.tree_size)
        yield GaugeMetricFamily("xinyong_audit_signed_tree_size", "Tree size of the newest signed tree head.",
                                value=state.signed_tree_size)
        if state.head_age_seconds is not None:
            yield GaugeMetricFamily("xinyong_audit_newest_head_age_seconds",
                                    "Seconds since the newest signed tree head was made (absent before the first).",
                                    value=state.head_age_seconds)


class _ThisProcess:
    """The metrics of this process's default registry (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry(rt: Runtime) -> CollectorRegistry:
    """Return the registry a scrape reads: every worker's counts (or this process's) and the log's state."""
    found = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        MultiProcessCollector(found)  # type: ignore[no-untyped-call]  # unannotated in prometheus-client
    else:
        found.register(_ThisProcess())
    found.register(LedgerCollector(rt))
    return found
