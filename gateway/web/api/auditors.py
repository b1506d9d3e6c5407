"""The auditor's API (scope audit:read): search and export the audit log, and report anomalies.

Auditors see every entry as it was logged: who, what, when, why, the outcome, record ids and the person's
blind index, which lets them follow one person across entries without ever learning who it is. Entries hold no
record contents and no citizen ID, so neither can reach an auditor from here.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, g, jsonify, request
from marshmallow import RAISE

from audit.clock import isoformat_z
from audit.entries import canonical_json
from audit.review import Anomaly, EntryView
from gateway.usecases import review as use
from gateway.usecases.review import AuditSearch
from gateway.web.api.base import BEARER, XinyongBlueprint, problems
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import (
    AnomaliesQuery,
    AnomalyReportOut,
    AuditEntryPageOut,
    AuditSearchIn,
    encode_cursor,
)

blp = XinyongBlueprint("auditors", __name__, url_prefix="/api/v1",
                       description="The audit log for auditors: search, export, anomalies")

JSON, NDJSON, CSV = "application/json", "application/x-ndjson", "text/csv"
_MIMETYPES = {"jsonl": NDJSON, "csv": CSV}
CSV_COLUMNS = ("index", "seq", "at", "actor", "role", "action", "subject_ref", "purpose", "basis", "record_ids",
               "outcome", "reason", "request_id", "detail", "leaf_hash")
# OWASP CSV injection: a cell starting with one of these runs as a formula in a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EXPORT_DOC = {"200": {
    "description": "A page of entries (JSON); with format=jsonl or csv (or Accept: application/x-ndjson or "
                   "text/csv), every matching entry, oldest first, as an attachment",
    "content": {JSON: {"schema": AuditEntryPageOut},
                NDJSON: {"schema": {"type": "string", "description": "one AuditEntryOut per line"}},
                CSV: {"schema": {"type": "string", "description": "a header row, then one entry per row"}}},
    "headers": {
        "Content-Disposition": {"description": "exports: attachment; filename=...", "schema": {"type": "string"}},
        "X-Entry-Count": {"description": "exports: how many entries follow", "schema": {"type": "integer"}},
    },
}}


def entry_out(view: EntryView) -> dict[str, Any]:
    """Return an entry as auditors receive it: every column, the leaf index, the leaf hash in base64."""
    return {
        "index": view.index, "seq": view.seq, "at": isoformat_z(view.at), "actor": view.actor, "role": view.role,
        "action": view.action, "subject_ref": view.subject_ref, "purpose": view.purpose, "basis": view.basis,
        "record_ids": list(view.record_ids), "outcome": view.outcome, "reason": view.reason,
        "request_id": view.request_id, "detail": dict(view.detail),
        "leaf_hash": base64.b64encode(view.leaf_hash).decode(),
    }


def _jsonl(views: Iterator[EntryView]) -> Iterator[bytes]:
    for view in views:
        yield canonical_json(entry_out(view)) + b"\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = " ".join(value)
    elif isinstance(value, dict):
        text = canonical_json(value).decode()
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(views: Iterator[EntryView]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for view in views:
        out = entry_out(view)
        writer.writerow([_cell(out[column]) for column in CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _format(search: AuditSearch) -> str | None:
    """Return jsonl or csv for an export (asked by `format`, else by Accept), None for a JSON page."""
    if search.format is not None:
        return search.format
    best = request.accept_mimetypes.best_match([JSON, NDJSON, CSV], default=JSON)
    return next((name for name, mimetype in _MIMETYPES.items() if mimetype == best), None)


def _answer(search: AuditSearch) -> Response:
    caller = bearer("audit:read", ("auditor",))
    fmt = _format(search)
    if fmt is None:
        page = use.search(runtime(), caller.actor, search, g.get("request_id"))
        response = jsonify({"entries": [entry_out(v) for v in page.entries],
                            "next_cursor": None if page.next_before is None else encode_cursor(page.next_before)})
    else:
        rt = runtime()
        export = use.open_export(rt, caller.actor, search, fmt, g.get("request_id"))
        # The stream reads in sessions of its own: the request's session is closed before the body is sent.
        rows = use.export_entries(rt, export)
        response = Response(_jsonl(rows) if fmt == "jsonl" else _csv(rows), mimetype=_MIMETYPES[fmt])
        response.headers["Content-Disposition"] = f'attachment; filename="audit-entries-{export.upto}.{fmt}"'
        response.headers["X-Entry-Count"] = str(export.count)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/audit/entries", methods=["GET"])
@blp.arguments(AuditSearchIn, location="query", unknown=RAISE)
@blp.response(200, AuditEntryPageOut)
@blp.doc(security=BEARER, responses=_EXPORT_DOC)
@problems(blp, 401, 403, 422)
def list_entries(search: AuditSearch) -> Response:
    """Read the audit log by filter, newest first, a page at a time (scope audit:read), or export it.

    A `person` filter puts a citizen ID in the URL, where proxies and access logs keep it: prefer
    POST /api/v1/audit/entries/search. Each read is itself logged as audit:entries:read.
    """
    return _answer(search)


@blp.route("/audit/entries/search", methods=["POST"])
@blp.arguments(AuditSearchIn, required=False)  # every filter is optional, and so is the body that holds them
@blp.response(200, AuditEntryPageOut)
@blp.doc(security=BEARER, responses=_EXPORT_DOC)
@problems(blp, 400, 401, 403, 413, 422)
def search_entries(search: AuditSearch) -> Response:
    """Read or export the audit log with the filters in the JSON body, which keeps a citizen ID out of URLs."""
    return _answer(search)


@blp.route("/audit/anomalies", methods=["GET"])
@blp.arguments(AnomaliesQuery, location="query", unknown=RAISE)
@blp.response(200, AnomalyReportOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def get_anomalies(window: dict[str, Any]) -> Response:
    """Report institutions whose queries stand out in a window (default: the last 30 days), each with its reason.

    Volume above the larger of a floor and a multiple of the median, a high refusal rate, a high share of
    queries outside working hours (08:00-20:00 China Standard Time on working days), and queries for a purpose
    the institution's kind may not use. Thresholds are configuration (XINYONG_ANOMALY_*).

    And the source agencies that filed licences or penalties after their publication deadline (7 working days
    of the decision, DISC-4) among the records they filed in the window, each with its late rate.
    """
    caller = bearer("audit:read", ("auditor",))
    rt = runtime()
    report = use.anomalies(rt, caller.actor, window.get("since"), window.get("until"), g.get("request_id"))
    limits = report.thresholds
    response = jsonify({
        "since": isoformat_z(report.since), "until": isoformat_z(report.until),
        "median_queries": report.median_queries,
        "thresholds": {"volume_factor": limits.volume_factor, "min_queries": limits.min_queries,
                       "refusal_rate": limits.refusal_rate, "off_hours_share": limits.off_hours_share},
        "anomalies": [_anomaly_out(institution, anomaly) for institution, anomaly in report.anomalies],
        "late_filers": [{"provider": {"id": f.provider.id, "name": f.provider.name}, "filed": f.filed,
                         "late": f.late, "late_rate": f.late_rate, "reason": f.reason} for f in report.late_filers],
    })
    response.headers["Cache-Control"] = "no-store"
    return response


def _anomaly_out(institution: use.InstitutionRef, anomaly: Anomaly) -> dict[str, Any]:
    out: dict[str, Any] = {
        "institution": {"id": institution.id, "name": institution.name, "kind": institution.kind},
        "kind_of_anomaly": anomaly.kind, "value": anomaly.value, "threshold": anomaly.threshold,
        "reason": anomaly.reason,
    }
    if anomaly.entries is not None:
        out["purpose"] = anomaly.purpose
        out["entries"] = list(anomaly.entries)
    if anomaly.objection_id is not None or anomaly.repair_id is not None:
        out["agency"] = out["institution"]
        out["objection_id" if anomaly.objection_id is not None else "repair_id"] = (
            anomaly.objection_id or anomaly.repair_id)
        out["step"] = anomaly.step
        out["deadline"] = None if anomaly.deadline is None else anomaly.deadline.isoformat()
    return out

