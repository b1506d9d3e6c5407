"""Per-request access to the runtime and the request's database session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from flask import current_app, g
from sqlalchemy.orm import Session

from audit.tx import AccessContext, Tx
from gateway.runtime import Runtime


def runtime() -> Runtime:
    """Return the runtime of the current app."""
    return cast(Runtime, current_app.extensions["xinyong"])


@contextmanager
def request_tx(actor: str, role: str) -> Iterator[Tx]:
    """Open the request's unit of work for code driven by a library (Authlib) that reaches it through `db()`."""
    with runtime().uow.begin(AccessContext(actor=actor, role=role, request_id=g.get("request_id"))) as tx:
        g.tx = tx
        try:
            yield tx
        finally:
            g.pop("tx", None)


def current_tx() -> Tx:
    """Return the transaction `request_tx` opened."""
    return cast(Tx, g.tx)


def db() -> Session:
    """Return the session of the transaction `request_tx` opened."""
    return current_tx().session
