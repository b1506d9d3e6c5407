"""GET /metrics for Prometheus, and the WSGI wrapper that counts and times every answer.

Who may scrape: a client presenting `Authorization: Bearer` with XINYONG_METRICS_TOKEN, or one whose
address is in XINYONG_METRICS_NETWORKS (by default loopback in development, nobody in production).
The metrics hold no personal data (see gateway/metrics.py), but they do show how the service is used
and when, so they are not for everyone. Behind a reverse proxy on the same machine every request
comes from loopback (unless XINYONG_TRUSTED_PROXIES names the proxies, see app.py's ProxyFix), which
is why production trusts no address unless told to.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway import metrics
from gateway.config import Settings
from gateway.errors import Forbidden, Unauthenticated
from gateway.runtime import Runtime

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

bp = Blueprint("metrics", __name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_EXTENSION = "xinyong.metrics"
RULE = "xinyong.url_rule"


def init_app(app: Flask, rt: Runtime) -> None:
    """Serve /metrics, time and count every request, and count the audit entries the service commits."""
    app.extensions[_EXTENSION] = (metrics.registry(rt), _parsed(rt.settings))
    rt.uow.appended = metrics.count_appended
    app.register_blueprint(bp)
    app.wsgi_app = timed(app.wsgi_app)  # type: ignore[method-assign,assignment]  # how Flask says to add middleware

    @app.after_request
    def _rule(response: Response) -> Response:
        # Flask clears the request from the environ when it is done, so the rule is left there for `timed`.
        rule = request.url_rule
        if rule is not None:
            request.environ[RULE] = rule.rule
        return response


def timed(wsgi_app: WSGIApplication) -> WSGIApplication:
    """Return `wsgi_app` counting and timing each request by its URL rule, method and status.

    A WSGI wrapper rather than a pair of Flask hooks: it needs no context-local lookups but the one that
    leaves the URL rule in the environ, so it costs a few microseconds; its time covers every hook.
    """

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status = 500

        def starting(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = int(line[:3])
            return start_response(line, headers, exc_info)

        try:
            return wsgi_app(environ, starting)
        finally:
            metrics.observe_request(environ.get(RULE, metrics.NO_ROUTE), environ.get("REQUEST_METHOD", ""), status,
                                    time.perf_counter() - started)

    return app


def _parsed(settings: Settings) -> tuple[bytes | None, tuple[Network, ...]]:
    token = settings.metrics_token.encode() if settings.metrics_token else None
    return token, tuple(ipaddress.ip_network(n) for n in settings.metrics_networks)


@bp.get("/metrics")
def scrape() -> Response:
    """Return the metrics in Prometheus's text format; 401 or 403 unless the token or the address allows it."""
    registry, (token, networks) = cast(tuple[CollectorRegistry, tuple[bytes | None, tuple[Network, ...]]],
                                       current_app.extensions[_EXTENSION])
    if not (_token_matches(token) or _address_in(networks)):
        if token is not None:
            raise Unauthenticated("GET /metrics needs the bearer token configured in XINYONG_METRICS_TOKEN")
        raise Forbidden("GET /metrics answers only addresses in XINYONG_METRICS_NETWORKS")
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _token_matches(token: bytes | None) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return token is not None and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def _address_in(networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False  # a unix socket, or nothing: no address to trust
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
