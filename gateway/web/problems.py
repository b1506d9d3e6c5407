"""The one place that knows HTTP for errors: a table from every error class to an RFC 9457 problem.

Each row gives the status, the `code` and the title; where the error's own message could tell the caller more
than they may know (that a record exists, what failed inside), a fixed `detail` replaces it. Some rows add
extension members (the field at fault, as `field` and `errors`) and headers (WWW-Authenticate, Retry-After).
An error is answered by the row of its class, or else of its nearest base class in the table; anything else
is a generic 500, logged with the request id, its message never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, json
from werkzeug.exceptions import HTTPException

from audit import errors as audit_errors
from consent import errors as consent_errors
from gateway import errors as gateway_errors
from gateway.web import errorpages
from vault import errors as vault_errors

log = logging.getLogger("xinyong.gateway")

PROBLEM = "application/problem+json"
TYPE_BASE = "https://xinyong.example/problems/"
INTERNAL = "the request could not be completed"
NO_SUCH_RESOURCE = "no such resource"


def _nothing(_exc: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Problem:
    """How one error class is answered."""

    status: int
    code: str
    title: str
    detail: str | Callable[[Any], str] = str  # a fixed text, or made from the error (by default its message)
    members: Callable[[Any], dict[str, Any]] = _nothing
    headers: Callable[[Any], dict[str, str]] = _nothing


def _invalid(field: str, reason: str) -> dict[str, Any]:
    return {"field": field, "errors": [{"field": field, "reason": reason}]}


def _payload_field(exc: consent_errors.PayloadInvalid) -> str:
    return exc.field if exc.field.startswith(("payload", "document", "decided_at", "display_until")) \
        else f"payload.{exc.field}"


_SERVER_ERROR = Problem(500, "internal", "Internal error", INTERNAL)
_NOT_FOUND = Problem(404, "not_found", "Not found", NO_SUCH_RESOURCE)


def _out_of_order(code: str, title: str, detail: Callable[[Any], str]) -> Problem:
    """A step its case's status does not allow now (409): the problem names that status as `current_status`."""
    return Problem(409, code, title, detail=detail, members=lambda e: {"current_status": e.status})


def _refused(code: str) -> Problem:
    return Problem(403, code, code.replace("_", " ").capitalize())


PROBLEMS: dict[type[Exception], Problem] = {
    # gateway
    gateway_errors.GatewayError: Problem(500, "error", "Error"),
    gateway_errors.Unauthenticated: Problem(401, "unauthenticated", "Authentication required",
                                            headers=lambda _: {"WWW-Authenticate": 'Bearer realm="xinyong"'}),
    gateway_errors.LoginRanOut: Problem(401, "login_ran_out", "Login ran out"),
    gateway_errors.Forbidden: Problem(403, "forbidden", "Forbidden"),
    gateway_errors.InsufficientScope: Problem(403, "insufficient_scope", "Forbidden"),
    gateway_errors.WrongRole: Problem(403, "wrong_role", "Forbidden"),
    gateway_errors.CsrfFailed: Problem(403, "csrf_failed", "Forbidden"),
    gateway_errors.NotFound: Problem(404, "not_found", "Not found"),
    gateway_errors.Conflict: Problem(409, "conflict", "Conflict"),
    gateway_errors.Gone: Problem(410, "gone", "Gone"),
    gateway_errors.RateLimited: Problem(429, "rate_limited", "Too many attempts",
                                        members=lambda e: {"retry_after": e.retry_after},
                                        headers=lambda e: {"Retry-After": str(e.retry_after)}),
    gateway_errors.DatabaseReadOnly: Problem(503, "database_read_only", "Service unavailable",
                                             members=lambda e: {"retry_after": e.retry_after},
                                             headers=lambda e: {"Retry-After": str(e.retry_after)}),
    gateway_errors.InvalidInput: Problem(422, "invalid_input", "Invalid input",
                                         members=lambda e: _invalid(e.field, e.reason)),
    gateway_errors.ExportTooLarge: Problem(422, "export_too_large", "Invalid input",
                                           members=lambda e: _invalid(e.field, e.reason)),
    # consent
    consent_errors.ConsentError: _SERVER_ERROR,
    consent_errors.PurposesInvalid: _SERVER_ERROR,
    consent_errors.EvaluationInvalid: _SERVER_ERROR,
    consent_errors.UnknownPurpose: Problem(422, "unknown_purpose", "Unknown purpose",
                                           members=lambda _: _invalid("purpose", "not a registered purpose")),
    consent_errors.RequestInvalid: Problem(422, "invalid_input", "Invalid input",
                                           members=lambda e: _invalid(e.field, e.reason)),
    consent_errors.CategoriesOutsidePurpose: Problem(
        422, "categories_outside_purpose", "Categories outside the purpose",
        members=lambda e: {**_invalid("categories", e.reason), "categories": e.categories}),
    consent_errors.CeilingExceeded: Problem(422, "ceiling_exceeded", "Above the purpose's ceiling",
                                            members=lambda e: _invalid(e.field, e.reason)),
    consent_errors.KindNotAllowed: Problem(403, "kind_not_allowed", "Purpose not allowed for this institution"),
    consent_errors.RequestNotFound: _NOT_FOUND,
    consent_errors.RequestNotPending: Problem(409, "not_pending", "Already answered"),
    consent_errors.RequestAlreadyDecided: Problem(409, "request_already_decided", "Already decided"),
    consent_errors.GrantNotFound: _NOT_FOUND,
    consent_errors.QueryRefused: _refused(consent_errors.QueryRefused.code),
    consent_errors.ConsentMissing: _refused("consent_missing"),
    consent_errors.ConsentPending: _refused("consent_pending"),
    consent_errors.ConsentDenied: _refused("consent_denied"),
    consent_errors.ConsentRevoked: _refused("consent_revoked"),
    consent_errors.ConsentExpired: _refused("consent_expired"),
    consent_errors.ConsentExhausted: _refused("consent_exhausted"),
    consent_errors.WrongInstitution: _refused("wrong_institution"),
    consent_errors.ReportNotFound: _NOT_FOUND,
    consent_errors.ObjectionsInvalid: _SERVER_ERROR,
    consent_errors.NoticesInvalid: _SERVER_ERROR,
    consent_errors.ObjectionOpen: Problem(
        409, "objection_open", "An objection is open",
        "this record already has an open objection: follow it at /api/v1/me/objections"),
    consent_errors.ObjectionStepOutOfOrder: _out_of_order(
        "objection_step_out_of_order", "Step out of order",
        lambda e: f"the objection is {e.status}: that step cannot be taken now"),
    consent_errors.RepairsInvalid: _SERVER_ERROR,
    consent_errors.NotRepairable: Problem(
        422, "not_repairable", "Not repairable",
        detail=lambda e: f"{e.category} is declared non-repairable: {e.basis}",
        members=lambda e: {**_invalid("record_id", "its category is not repairable"), "category": e.category,
                           "basis": e.basis}),
    consent_errors.RepairTooEarly: Problem(
        422, "too_early", "Too early to apply for repair",
        detail=lambda e: f"repair may be applied for from {e.earliest.isoformat()}",
        members=lambda e: {**_invalid("record_id", f"repair may be applied for from {e.earliest.isoformat()}"),
                           "earliest": e.earliest.isoformat()}),
    consent_errors.RepairOpen: Problem(
        409, "repair_open", "A repair application is open",
        "this record already has an open repair application: follow it at /api/v1/me/repairs"),
    consent_errors.RepairStepOutOfOrder: _out_of_order(
        "repair_step_out_of_order", "Already decided",
        lambda e: f"the repair application is {e.status}: it cannot be decided now"),
    consent_errors.ListsInvalid: _SERVER_ERROR,
    consent_errors.LevelTooLow: Problem(
        403, "level_too_low", "Agency level too low",
        members=lambda e: {"level": e.level, "minimum_level": e.minimum, "list": e.kind}),
    consent_errors.Listed: Problem(409, "listed", "On the serious-dishonesty list"),
    consent_errors.ListingOpen: Problem(
        409, "listing_open", "A listing rests on this record",
        "this record already rests a listing of that list that has not ended: see GET /api/v1/listings"),
    consent_errors.ListingStepOutOfOrder: _out_of_order(
        "listing_step_out_of_order", "Step out of order",
        lambda e: f"the listing is {e.status}: {e.why}"),
    consent_errors.DeclarationsInvalid: _SERVER_ERROR,
    consent_errors.CommitmentsInvalid: _SERVER_ERROR,
    consent_errors.NotDeclarable: Problem(
        422, "not_declarable", "Not open to voluntary registration",
        detail=lambda e: f"{e.category} is not open to voluntary registration: see /api/v1/declaration-rules",
        members=lambda e: _invalid("category", f"must be one of {', '.join(e.open)}")),
    consent_errors.DeclarationOpen: Problem(
        409, "declaration_open", "Already declared",
        "this item is already declared and waits for verification: follow it at /api/v1/me/declarations"),
    consent_errors.DeclarationStepOutOfOrder: _out_of_order(
        "declaration_step_out_of_order", "Already decided",
        lambda e: f"the declaration is {e.status}: it cannot be verified now"),
    consent_errors.CommitmentStepOutOfOrder: _out_of_order(
        "commitment_step_out_of_order", "Already closed",
        lambda e: f"the commitment is {e.status}: its outcome is already recorded"),
    consent_errors.CommitmentTemplateWithdrawn: Problem(
        409, "commitment_template_withdrawn", "Template withdrawn",
        detail=lambda e: f"the commitment was made on template {e.template}, which the commitments file no longer "
                         "holds; a breach record takes its scenario from the template, so nothing was recorded: "
                         "the operator must publish the template again"),
    consent_errors.EvidenceInvalid: Problem(422, "invalid_evidence", "Invalid evidence",
                                            members=lambda e: _invalid(e.field, e.reason)),
    consent_errors.ReportGone: Problem(410, "report_gone", "Report gone"),
    # vault
    vault_errors.VaultError: _SERVER_ERROR,
    vault_errors.InvalidCitizenId: Problem(
        422, "invalid_citizen_id", "Invalid citizen ID", detail=lambda e: f"{e.field}: {e.message}",
        members=lambda e: {"field": e.field, "check": e.check,
                           "errors": [{"field": e.field, "reason": e.message, "check": e.check}]}),
    consent_errors.CatalogueError: _SERVER_ERROR,
    consent_errors.CatalogueInvalid: _SERVER_ERROR,
    consent_errors.UnknownCategory: Problem(422, "unknown_category", "Unknown category",
                                          members=lambda _: _invalid("category", "not in the catalogue")),
    consent_errors.PayloadInvalid: Problem(422, "invalid_field", "Invalid input",
                                         detail=lambda e: f"{_payload_field(e)}: {e.reason}",
                                         members=lambda e: _invalid(_payload_field(e), e.reason)),
    consent_errors.CategoryNotAllowed: Problem(403, "category_not_allowed", "Category not allowed"),
    vault_errors.RecordNotFound: _NOT_FOUND,
    vault_errors.RecordConflict: Problem(409, "conflict", "Conflict"),
    vault_errors.SubjectNotFound: _NOT_FOUND,
    vault_errors.ObjectionNotFound: _NOT_FOUND,
    vault_errors.RepairNotFound: _NOT_FOUND,
    vault_errors.ListingNotFound: _NOT_FOUND,
    vault_errors.DeclarationNotFound: _NOT_FOUND,
    vault_errors.CommitmentNotFound: _NOT_FOUND,
    vault_errors.SubjectShredded: Problem(410, "erased", "Erased", "this person's data has been erased"),
    vault_errors.DecryptionFailed: _SERVER_ERROR,
    vault_errors.KeyringError: _SERVER_ERROR,
    vault_errors.UnknownKeyVersion: _SERVER_ERROR,
    # audit: fail closed, the access was rolled back because it could not be recorded
    audit_errors.AuditError: _SERVER_ERROR,
    audit_errors.AuditAppendFailed: Problem(503, "audit_unavailable", "Service unavailable",
                                            "the access could not be recorded, so nothing was released"),
    # The ledger's use cases check sizes and ranges first; one that still slips through is the caller's.
    audit_errors.TreeSizeOutOfRange: Problem(422, "invalid_input", "Invalid input",
                                             detail=lambda e: f"{e.field}: {e.reason}",
                                             members=lambda e: _invalid(e.field, e.reason)),
    audit_errors.TreeInconsistent: _SERVER_ERROR,
}


def problem_of(exc: Exception) -> Problem:
    """Return the row of `exc`'s class, or of its nearest base class in the table; a 500 for anything else."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return _SERVER_ERROR


def problem(status: int, code: str, title: str, detail: str, **members: Any) -> Response:
    """Return an RFC 9457 response."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    body.update(members)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM)


def _from_table(exc: Exception) -> Response:
    row = problem_of(exc)
    if row.status >= 500:
        log.error("%s on request %s", type(exc).__name__, g.get("request_id"), exc_info=exc,
                  extra={"request_id": g.get("request_id")})
    detail = row.detail if isinstance(row.detail, str) else row.detail(exc)
    response = problem(row.status, row.code, row.title, detail, **row.members(exc))
    response.headers.update(row.headers(exc))
    return response


def _from_http(exc: HTTPException) -> Response:
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if exc.code == 422 and messages:
        errors = list(_flatten(messages))
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        return problem(422, "invalid_input", "Invalid input", f"{first['field']}: {first['reason']}",
                       field=first["field"], errors=errors)
    status = exc.code or 500
    name = (exc.name or "Error").lower().replace(" ", "_")
    response = problem(status, name, exc.name or "Error", exc.description or exc.name or "")
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _flatten(messages: Any, prefix: str = "") -> Any:
    """Turn webargs/marshmallow's nested messages into [{field, reason}] with dotted fields."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "form", "query", "headers", "files") and not prefix:
                yield from _flatten(value, "")
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "body"
            yield from _flatten(value, name)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            yield {"field": prefix or "body", "reason": message}
    elif isinstance(messages, list):
        for item in messages:
            yield from _flatten(item, prefix)
    else:
        yield {"field": prefix or "body", "reason": str(messages)}


def _for_reader(handler: Callable[[Any], Response]) -> Callable[[Any], Response]:
    """Answer a browser asking for a page with an HTML page saying what the problem says (errorpages)."""
    def answer(exc: Any) -> Response:
        response = handler(exc)
        return errorpages.as_page(response) if errorpages.wants_html() else response
    return answer


def _unexpected(exc: Exception) -> Response:
    log.error("unexpected error on request %s", g.get("request_id"), exc_info=exc,
              extra={"request_id": g.get("request_id")})
    return problem(500, "internal", "Internal error", INTERNAL)


def register(app: Flask) -> None:
    """Install the error table on `app`: problem details for every error, HTTP's own included; pages for
    browsers outside the API (see gateway/web/errorpages.py)."""
    for error_class in PROBLEMS:
        app.register_error_handler(error_class, _for_reader(_from_table))
    app.register_error_handler(HTTPException, _for_reader(_from_http))
    app.register_error_handler(Exception, _for_reader(_unexpected))
