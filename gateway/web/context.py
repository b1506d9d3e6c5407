"""Per-request access to the runtime and the request's database session."""

from __future__ import annotations

from typing import cast

from flask import current_app, g
from sqlalchemy.orm import Session

from gateway.runtime import Runtime


def runtime() -> Runtime:
    """Return the runtime of the current app."""
    return cast(Runtime, current_app.extensions["xinyong"])


def db() -> Session:
    """Return the request's session (one per request, closed at teardown)."""
    if "db" not in g:
        g.db = runtime().sessions()
    return cast(Session, g.db)
