"""The flask-smorest Api with problem+json error responses, and helpers the blueprints share."""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response

from gateway.errors import PROBLEM
from gateway.schemas import ProblemSchema
from vault.access import AccessContext
from vault.records import Provider

F = TypeVar("F", bound=Callable[..., Any])


class XinyongApi(Api):  # type: ignore[misc]  # flask-smorest ships partial hints
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
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


def problems(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Document each status as a problem+json response of the view."""

    def decorate(view: F) -> F:
        for status in statuses:
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM,
                                    description=http.HTTPStatus(status).phrase)(view)
        return view

    return decorate


def access_for(actor: str, role: str, purpose: str | None = None, basis: str | None = None) -> AccessContext:
    """Return the access context of this request."""
    return AccessContext(actor=actor, role=role, purpose=purpose, basis=basis, request_id=g.get("request_id"))


def provider_of(caller: Any) -> Provider:
    """Return the vault's view of a provider caller."""
    return Provider(client_id=caller.client_id, categories=frozenset(caller.categories))


def client_address() -> str:
    """Return the peer address (behind a proxy, configure ProxyFix so this is the real one)."""
    return request.remote_addr or "unknown"


BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
SESSION: list[dict[str, list[str]]] = [{"session": []}]
