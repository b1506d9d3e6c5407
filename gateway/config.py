"""Configuration from the environment, with defaults that run on a fresh machine."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from gateway import limits
from gateway.limits import Limits

N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    keyring_path: Path
    development: bool = False
    token_ttl_seconds: int = 3600
    public_url: str | None = None
    activation_ttl_days: int = 14
    session_max_hours: int = 12
    # Failed logins and client authentications: counts and windows with their reasons (gateway/data/limits.json).
    failure_limits: Limits = field(default_factory=limits.shipped)
    # How many reverse proxies in front of the service to believe about the client's address, scheme and host.
    trusted_proxies: int = 0
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    import_batch_size: int = 500
    # Processes that prepare an import's lines while this one stores them (None: one per CPU, at most 4; 0:
    # none, all in this process). See gateway/usecases/records.py.
    import_workers: int | None = None
    # Auditors' anomaly report (GET /api/v1/audit/anomalies); see README.md.
    anomaly_volume_factor: float = 5.0
    anomaly_min_queries: int = 20
    anomaly_refusal_rate: float = 0.3
    anomaly_off_hours_share: float = 0.25
    anomaly_window_days: int = 30
    audit_export_max_entries: int = 100_000
    # Who may read GET /metrics: a bearer token, or a client address in these networks (see README.md).
    metrics_token: str | None = None
    metrics_networks: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with `changes` applied."""
        return replace(self, **changes)


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """Read XINYONG_* variables; see README.md for each."""
    env = os.environ if environ is None else environ
    home = Path(env.get("XINYONG_HOME", "./var")).resolve()
    development = env.get("XINYONG_ENV", "production") == "development"
    return Settings(
        home=home,
        database_url=env.get("XINYONG_DATABASE_URL") or f"sqlite:///{home / 'xinyong.db'}",
        keyring_path=Path(env.get("XINYONG_KEYRING") or home / "keyring.json").resolve(),
        development=development,
        token_ttl_seconds=int(env.get("XINYONG_TOKEN_TTL", "3600")),
        session_max_hours=_number(env, "XINYONG_SESSION_MAX_HOURS", "12", int, low=1),
        trusted_proxies=_number(env, "XINYONG_TRUSTED_PROXIES", "0", int, low=0, high=10),
        public_url=(env.get("XINYONG_PUBLIC_URL") or "").rstrip("/") or None,
        argon2_time_cost=int(env.get("XINYONG_ARGON2_TIME_COST", "3")),
        argon2_memory_kib=int(env.get("XINYONG_ARGON2_MEMORY_KIB", "65536")),
        anomaly_volume_factor=_number(env, "XINYONG_ANOMALY_VOLUME_FACTOR", "5", float, low=1.0),
        anomaly_min_queries=_number(env, "XINYONG_ANOMALY_MIN_QUERIES", "20", int, low=1),
        anomaly_refusal_rate=_number(env, "XINYONG_ANOMALY_REFUSAL_RATE", "0.3", float, low=0.0, high=1.0),
        anomaly_off_hours_share=_number(env, "XINYONG_ANOMALY_OFF_HOURS_SHARE", "0.25", float, low=0.0, high=1.0),
        anomaly_window_days=_number(env, "XINYONG_ANOMALY_WINDOW_DAYS", "30", int, low=1, high=3660),
        audit_export_max_entries=_number(env, "XINYONG_AUDIT_EXPORT_MAX", "100000", int, low=1),
        metrics_token=_metrics_token(env),
        metrics_networks=_networks(env, "XINYONG_METRICS_NETWORKS",
                                   LOOPBACK if development else ""),
    )


LOOPBACK = "127.0.0.0/8,::1/128"
METRICS_TOKEN_MIN_LENGTH = 32


def _metrics_token(env: Mapping[str, str]) -> str | None:
    """Return XINYONG_METRICS_TOKEN, or None; raise ValueError if it is too short to resist guessing."""
    token = env.get("XINYONG_METRICS_TOKEN", "").strip()
    if token and len(token) < METRICS_TOKEN_MIN_LENGTH:
        raise ValueError(f"XINYONG_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters "
                         "(for example the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return token or None


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    """Return the comma-separated networks in variable `name` (`none` or empty: none), each checked and normalised."""
    raw = env.get(name, default).strip()
    if raw.lower() == "none":
        return ()
    found = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{name}: {part!r} is not an IP address or network (such as 10.0.0.0/8)") from None
    return tuple(found)


def _number(env: Mapping[str, str], name: str, default: str, kind: Callable[[str], N], *,
            low: N | None = None, high: N | None = None) -> N:
    """Return the variable as a number within [low, high]; raise ValueError naming it otherwise."""
    raw = env.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, not {raw!r}")
    return value
