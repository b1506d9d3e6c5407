"""Names of clients, cached for display: shown to people, never used to decide access."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Client


class ClientDirectory:
    """A per-process map of client id -> name, reloaded when stale or when an id is missing.

    Reports show agency and institution names; reading them from the cache keeps a round trip
    out of every report's transaction (and out of the time the audit sequence lock is held).
    """

    def __init__(self, ttl: float = 60.0, min_reload: float = 1.0) -> None:
        self.ttl = ttl
        self.min_reload = min_reload
        self._names: dict[str, str] = {}
        self._loaded = float("-inf")
        self._lock = threading.Lock()

    def names(self, session: Session, ids: Iterable[str]) -> dict[str, str]:
        """Return {id: name} for `ids` (an unknown id maps to itself)."""
        wanted = set(ids)
        now = time.monotonic()
        stale = now - self._loaded > self.ttl
        missing = not wanted <= self._names.keys() and now - self._loaded > self.min_reload
        if stale or missing:
            rows = session.execute(select(Client.client_id, Client.name))
            with self._lock:
                self._names = {client_id: name for client_id, name in rows}
                self._loaded = now
        return {i: self._names.get(i, i) for i in wanted}
