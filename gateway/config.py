"""Configuration from the environment, with defaults that run on a fresh machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    keyring_path: Path
    development: bool = False
    token_ttl_seconds: int = 3600
    activation_ttl_days: int = 14
    login_window_seconds: int = 900
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    import_batch_size: int = 500
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with `changes` applied."""
        return replace(self, **changes)


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """Read XINYONG_* variables; see README.md for each."""
    env = os.environ if environ is None else environ
    home = Path(env.get("XINYONG_HOME", "./var")).resolve()
    return Settings(
        home=home,
        database_url=env.get("XINYONG_DATABASE_URL") or f"sqlite:///{home / 'xinyong.db'}",
        keyring_path=Path(env.get("XINYONG_KEYRING") or home / "keyring.json").resolve(),
        development=env.get("XINYONG_ENV", "production") == "development",
        token_ttl_seconds=int(env.get("XINYONG_TOKEN_TTL", "3600")),
        argon2_time_cost=int(env.get("XINYONG_ARGON2_TIME_COST", "3")),
        argon2_memory_kib=int(env.get("XINYONG_ARGON2_MEMORY_KIB", "65536")),
    )
