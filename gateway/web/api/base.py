"""The flask-smorest Api with problem+json error responses, and helpers the blueprints share."""

from __future__ import annotations

import http
import ipaddress
import re
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import BasePlugin
from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from flask_wtf.csrf import ValidationError, validate_csrf  # WTForms' error, re-exported (WTForms has no hints)
from webargs.flaskparser import FlaskParser, abort

from audit.tx import AccessContext
from gateway.errors import CsrfFailed, Unauthenticated
from gateway.web import sessions
from gateway.web.oauth.bearer import bearer
from gateway.web.problems import PROBLEM
from gateway.web.schemas import (
    TEXT_PATTERNS,
    OAuthErrorOut,
    ProblemSchema,
    RevocationRequestIn,
    TokenOut,
    TokenRequestIn,
)
from vault.types import Provider

F = TypeVar("F", bound=Callable[..., Any])


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_BODY_PROBLEMS = {
    "400": "Bad Request: the body is not JSON that can be read",
    "413": "Content Too Large: the body is over MAX_CONTENT_LENGTH",
}


class _BodyProblems(BasePlugin):
    """Document what any operation with a request body can answer before its view runs."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **_: Any) -> None:
        for operation in (operations or {}).values():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _BODY_PROBLEMS.items():
                if status not in responses and int(status) not in responses:
                    responses[status] = {"description": description, "content": {PROBLEM: {"schema": _PROBLEM_REF}}}


def _text_rules(converter: Any, field: Any, ret: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Describe what the API's text validators refuse as a `pattern`, and a mapping's keys as `propertyNames`."""
    found: dict[str, Any] = {}
    pattern = next((TEXT_PATTERNS[v] for v in getattr(field, "validators", ()) if v in TEXT_PATTERNS), None)
    if pattern and "pattern" not in (ret or {}):
        found["pattern"] = pattern
    keys = getattr(field, "key_field", None)
    if keys is not None:
        found["propertyNames"] = converter.field2property(keys)
    return found


class XinyongApi(Api):  # type: ignore[misc]  # flask-smorest ships partial hints
    ERROR_SCHEMA = ProblemSchema
    # Each view lists its own error statuses with problems(); a catch-all "default" response would
    # make every status look documented, so clients (and schemathesis) could not tell a surprise.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _init_spec(self, *, extra_plugins: list[Any] | None = None, **kwargs: Any) -> None:
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), _BodyProblems()], **kwargs)
        self.ma_plugin.converter.add_attribute_function(_text_rules)

    def _register_responses(self) -> None:
        self.spec.components.schema("Problem", schema=self.ERROR_SCHEMA)
        # flask-smorest documents errors as application/json; ours are RFC 9457 problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        default: dict[str, Any] = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: Any) -> bool:
    """Return whether any string (key or value) in parsed JSON holds a lone surrogate."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


class _Parser(FlaskParser):
    def load_json(self, req: Any, schema: Any) -> Any:
        try:
            found = super().load_json(req, schema)
        except (RecursionError, ValueError) as exc:
            # Well-formed JSON that json.loads still refuses (nesting deeper than the recursion limit,
            # an integer longer than sys.get_int_max_str_digits()) is a bad body, not a server fault.
            abort(400, exc=exc, messages={"json": ["Invalid JSON body."]})
        if has_lone_surrogate(found):
            # An escaped lone surrogate ("\ud800") parses, but is no character: nothing can encode or store it.
            abort(400, messages={"json": ["The body holds a lone surrogate (\\ud800-\\udfff): not a character."]})
        return found


class XinyongBlueprint(Blueprint):  # type: ignore[misc]  # flask-smorest ships partial hints
    """A flask-smorest Blueprint whose unreadable JSON bodies are always a 400 problem."""

    ARGUMENTS_PARSER = _Parser()


SERVER_ERROR = "5XX"
_PROBLEM_HEADERS: dict[int | str, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "how to authenticate", "required": True,
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}},
}


def problems(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Document each status, and any server error (5XX), as a problem+json response of the view."""

    def decorate(view: F) -> F:
        codes: tuple[int | str, ...] = (*statuses, SERVER_ERROR)
        documented = view
        for status in codes:
            description = (http.HTTPStatus(status).phrase if isinstance(status, int)
                           else "Server error: 503 when the access could not be audited, 500 otherwise")
            documented = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM,
                                          description=description, headers=_PROBLEM_HEADERS.get(status))(documented)
        # The documentation only: each alt_response wraps the view in a function that looks up the app and
        # calls the next, five or six a request for nothing (a few per cent of a bare endpoint's time).
        view._apidoc = documented._apidoc  # type: ignore[attr-defined]
        return view

    return decorate


def document_token_endpoint(app: Flask, api: XinyongApi) -> None:
    """Describe POST /oauth/token, a plain Flask view (Authlib answers it), in the OpenAPI document."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "oauth.issue_token")
    api.spec.components.security_scheme("client_basic", {
        "type": "http", "scheme": "basic", "description": "client_id and client_secret (client_secret_basic)"})
    api.spec.tag({"name": "oauth", "description": "OAuth 2.0 token endpoint (RFC 6749)"})

    def oauth_error(description: str) -> dict[str, Any]:
        # RFC 6749 §5.2 errors are plain JSON, as OAuth client libraries expect, not problem+json.
        return {"description": description, "content": {"application/json": {"schema": OAuthErrorOut}}}

    api.spec.path(rule=rule, operations={"post": {
        "tags": ["oauth"],
        "operationId": "issue_token",
        "summary": "Issue a bearer token (RFC 6749): client credentials, or the app's code and refresh grants.",
        # Basic for registered clients with a secret; none for a private_key_jwt assertion in the body or
        # for the public app.
        "security": [{"client_basic": []}, {}],
        "requestBody": {"required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": TokenRequestIn}}},
        "responses": {
            "200": {"description": "A bearer token", "content": {"application/json": {"schema": TokenOut}}},
            "400": oauth_error("invalid_request, unsupported_grant_type, unauthorized_client or invalid_scope"),
            "401": oauth_error("invalid_client: unknown or disabled client, or a wrong secret"),
            "429": {**oauth_error("invalid_client: too many failed client authentications from this address "
                                  "(gateway/data/limits.json); the secret was not checked"),
                    "headers": _PROBLEM_HEADERS[429]},
            SERVER_ERROR: {"description": "Server error", "content": {PROBLEM: {"schema": ProblemSchema}}},
        },
    }})


def document_revocation_endpoint(app: Flask, api: XinyongApi) -> None:
    """Describe POST /oauth/revoke (RFC 7009), a plain Flask view (Authlib answers it), in the OpenAPI document."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "oauth.revoke_token")

    def oauth_error(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": OAuthErrorOut}}}

    api.spec.path(rule=rule, operations={"post": {
        "tags": ["oauth"],
        "operationId": "revoke_token",
        "summary": "Revoke an access or refresh token (RFC 7009), authenticated as at the token endpoint.",
        "security": [{"client_basic": []}, {}],
        "requestBody": {"required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": RevocationRequestIn}}},
        "responses": {
            "200": {"description": "Revoked, or no such token (RFC 7009 §2.2): an empty JSON object",
                    "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}}},
            "400": oauth_error("invalid_request, unsupported_token_type, or invalid_grant (another client's token)"),
            "401": oauth_error("invalid_client: unknown or disabled client, or a wrong secret or assertion"),
            "429": {**oauth_error("invalid_client: too many failed client authentications from this address "
                                  "(as at the token endpoint)"), "headers": _PROBLEM_HEADERS[429]},
            SERVER_ERROR: {"description": "Server error", "content": {PROBLEM: {"schema": ProblemSchema}}},
        },
    }})


def access_for(actor: str, role: str, purpose: str | None = None, basis: str | None = None) -> AccessContext:
    """Return the access context of this request."""
    return AccessContext(actor=actor, role=role, purpose=purpose, basis=basis, request_id=g.get("request_id"))


def provider_of(caller: Any) -> Provider:
    """Return the vault's view of a provider caller (one without an agency role may file nothing)."""
    return Provider(client_id=caller.client_id, categories=frozenset(caller.categories),
                    agency=caller.agency or "", level=caller.agency_level)


def client_address() -> str:
    """Return the client's address, as failures are counted by it.

    Behind reverse proxies this is the address the nearest trusted proxy saw (`XINYONG_TRUSTED_PROXIES`,
    werkzeug's ProxyFix); without it, the peer's. An IPv6 client is its /64 network: one subscriber gets at
    least that many addresses, and could otherwise start afresh from each.
    """
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        # Not an address (a misconfigured proxy, or a forged header): still counted, and it fits its column;
        # without control characters, which PostgreSQL's text refuses (a NUL would otherwise be a 500).
        return "".join(c for c in raw if c.isprintable())[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
SESSION: list[dict[str, list[str]]] = [{"session": []}]
PERSON: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}]


NOT_LOGGED_IN = "log in at /login, or use a bearer token with scope 'me'"


def portal_token() -> str | None:
    """Return the portal session's token for a use case to check in its own transaction: None when the request
    carries a bearer token (which `person` prefers), no session, or one already checked (then call `person`)."""
    return None if request.headers.get("Authorization") else sessions.unchecked_token()


def person(write: bool = False) -> str:
    """Return the blind index of the person calling: an app's bearer token with scope `me`, or the
    portal session (whose unsafe requests must carry the CSRF token in X-CSRF-Token)."""
    if request.headers.get("Authorization"):
        caller = bearer("me", ("person",))
        assert caller.subject_ref is not None
        return caller.subject_ref
    ref = sessions.person()
    if ref is None:
        raise Unauthenticated(NOT_LOGGED_IN)
    if write:
        try:
            validate_csrf(request.headers.get("X-CSRF-Token", ""))
        except ValidationError:
            raise CsrfFailed("a session request that changes something needs the X-CSRF-Token header") from None
    return ref


def created(body: Any) -> Response:
    """Return `body` as JSON with 201 Created."""
    response = jsonify(body)
    response.status_code = 201
    return response
