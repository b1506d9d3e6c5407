"""GET /metrics for Prometheus, and the per-request hook that counts and times every answer.

Who may scrape: a client presenting `Authorization: Bearer` with XINYONG_METRICS_TOKEN, or one whose
address is in XINYONG_METRICS_NETWORKS (by default loopback in development, nobody in production).
The metrics hold no personal data (see gateway/metrics.py), but they do show how the service is used
and when, so they are not for everyone; behind a reverse proxy on the same machine every request
comes from loopback, which is why production trusts no address unless told to.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import cast

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway import metrics
from gateway.config import Settings
from gateway.errors import Forbidden, Unauthenticated
from gateway.runtime import Runtime

bp = Blueprint("metrics", __name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_EXTENSION = "xinyong.metrics"


def init_app(app: Flask, rt: Runtime) -> None:
    """Serve /metrics, time every request, and count the audit entries the service commits.

    Call it before the app's other request hooks: its `before_request` then runs first and its
    `after_request` last, so the time covers theirs.
    """
    app.extensions[_EXTENSION] = (metrics.registry(rt), _parsed(rt.settings))
    rt.uow.appended = metrics.count_appended
    app.register_blueprint(bp)

    @app.before_request
    def _started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observed(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            rule = request.url_rule
            metrics.observe_request(metrics.NO_ROUTE if rule is None else rule.rule, request.method,
                                    response.status_code, time.perf_counter() - started)
        return response


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
