"""The one place that knows HTTP for errors: RFC 9457 problem details for every failure.

    GatewayError
    ├── Unauthenticated     no valid credentials (401)
    ├── Forbidden           authenticated, but not allowed (403), with a `code`
    ├── NotFound            nothing there the caller may know about (404)
    ├── Gone                it existed and is gone (410)
    ├── RateLimited         too many attempts (429), with Retry-After
    └── InvalidInput        a field failed a check (422), with the field and the reason
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json
from werkzeug.exceptions import HTTPException

from audit.errors import AuditAppendFailed
from consent import errors as consent_errors
from vault import errors as vault_errors

log = logging.getLogger("xinyong.gateway")

PROBLEM = "application/problem+json"
TYPE_BASE = "https://xinyong.example/problems/"


class GatewayError(Exception):
    status = 500
    code = "error"
    title = "Error"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra


class Unauthenticated(GatewayError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(GatewayError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(GatewayError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(GatewayError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(GatewayError):
    status, code, title = 410, "gone", "Gone"


class RateLimited(GatewayError):
    status, code, title = 429, "rate_limited", "Too many attempts"


class InvalidInput(GatewayError):
    status, code, title = 422, "invalid_input", "Invalid input"

    def __init__(self, field: str, reason: str, **extra: Any) -> None:
        super().__init__(f"{field}: {reason}", errors=[{"field": field, "reason": reason}], field=field, **extra)


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
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
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM)


def _from_vault(exc: vault_errors.VaultError) -> Response:
    if isinstance(exc, vault_errors.InvalidCitizenId):
        return problem(422, "invalid_citizen_id", "Invalid citizen ID", f"{exc.field}: {exc.message}",
                       field=exc.field, check=exc.check,
                       errors=[{"field": exc.field, "reason": exc.message, "check": exc.check}])
    if isinstance(exc, vault_errors.RecordNotFound | vault_errors.SubjectNotFound):
        return problem(404, "not_found", "Not found", "no such resource")
    if isinstance(exc, vault_errors.RecordConflict):
        return problem(409, "conflict", "Conflict", str(exc))
    if isinstance(exc, vault_errors.SubjectShredded):
        return problem(410, "erased", "Erased", "this person's data has been erased")
    log.error("vault error %s on request %s", type(exc).__name__, g.get("request_id"), exc_info=exc)
    return problem(500, "internal", "Internal error", "the request could not be completed")


def _from_consent(exc: consent_errors.ConsentError) -> Response:
    if isinstance(exc, consent_errors.PayloadInvalid):
        field = exc.field if exc.field.startswith(("payload", "document", "decided_at")) else f"payload.{exc.field}"
        return problem(422, "invalid_field", "Invalid input", f"{field}: {exc.reason}", field=field,
                       errors=[{"field": field, "reason": exc.reason}])
    if isinstance(exc, consent_errors.UnknownCategory):
        return problem(422, "unknown_category", "Unknown category", str(exc), field="category",
                       errors=[{"field": "category", "reason": "not in the catalogue"}])
    if isinstance(exc, consent_errors.CategoryNotAllowed):
        return problem(403, "category_not_allowed", "Category not allowed", str(exc))
    if isinstance(exc, consent_errors.QueryRefused):
        return problem(403, exc.code, exc.code.replace("_", " ").capitalize(), str(exc))
    if isinstance(exc, consent_errors.CategoriesOutsidePurpose):
        return problem(422, "categories_outside_purpose", "Categories outside the purpose", str(exc),
                       field="categories", categories=exc.categories,
                       errors=[{"field": "categories", "reason": exc.reason}])
    if isinstance(exc, consent_errors.CeilingExceeded):
        return problem(422, "ceiling_exceeded", "Above the purpose's ceiling", str(exc), field=exc.field,
                       errors=[{"field": exc.field, "reason": exc.reason}])
    if isinstance(exc, consent_errors.RequestInvalid):
        return problem(422, "invalid_input", "Invalid input", str(exc), field=exc.field,
                       errors=[{"field": exc.field, "reason": exc.reason}])
    if isinstance(exc, consent_errors.UnknownPurpose):
        return problem(422, "unknown_purpose", "Unknown purpose", str(exc), field="purpose",
                       errors=[{"field": "purpose", "reason": "not a registered purpose"}])
    if isinstance(exc, consent_errors.KindNotAllowed):
        return problem(403, "kind_not_allowed", "Purpose not allowed for this institution", str(exc))
    if isinstance(exc, consent_errors.RequestNotPending):
        return problem(409, "not_pending", "Already answered", str(exc))
    if isinstance(exc, consent_errors.ReportGone):
        return problem(410, "report_gone", "Report gone", str(exc))
    if isinstance(exc, consent_errors.RequestNotFound | consent_errors.GrantNotFound
                  | consent_errors.ReportNotFound):
        return problem(404, "not_found", "Not found", "no such resource")
    log.error("consent error %s on request %s", type(exc).__name__, g.get("request_id"), exc_info=exc)
    return problem(500, "internal", "Internal error", "the request could not be completed")


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


def register(app: Flask) -> None:
    """Install the error table on `app`."""

    @app.errorhandler(GatewayError)
    def _gateway(exc: GatewayError) -> Response:
        response = problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
        if isinstance(exc, Unauthenticated):
            response.headers["WWW-Authenticate"] = 'Bearer realm="xinyong"'
        if isinstance(exc, RateLimited) and "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response

    app.register_error_handler(vault_errors.VaultError, _from_vault)
    app.register_error_handler(consent_errors.ConsentError, _from_consent)
    app.register_error_handler(HTTPException, _from_http)

    @app.errorhandler(AuditAppendFailed)
    def _audit(exc: AuditAppendFailed) -> Response:
        # Fail closed: the access was rolled back because it could not be recorded.
        log.error("audit append failed on request %s", g.get("request_id"), exc_info=exc)
        return problem(503, "audit_unavailable", "Service unavailable",
                       "the access could not be recorded, so nothing was released")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unexpected error on request %s", g.get("request_id"), exc_info=exc)
        return problem(500, "internal", "Internal error", "the request could not be completed")
