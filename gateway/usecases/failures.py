"""Forgetting failed attempts to authenticate once no limit counts them any more."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from audit.tx import AccessContext
from gateway.limits import Limit, Limits
from gateway.models import ClientAuthFailure, LoginFailure
from gateway.uow import UnitOfWork


def purge_failures(uow: UnitOfWork, limits: Limits) -> int:
    """Delete the failures older than the longest window of their kind; return how many.

    They hold the addresses people and clients came from, which are kept no longer than a limit needs them.
    """
    with uow.begin(AccessContext(actor="xinyong", role="system")) as tx:
        logins = tx.session.execute(delete(LoginFailure).where(LoginFailure.at <= tx.now - _longest(limits.login)))
        clients = tx.session.execute(delete(ClientAuthFailure).where(
            ClientAuthFailure.at <= tx.now - _longest(limits.client_authentication)))
        return int(getattr(logins, "rowcount", 0) or 0) + int(getattr(clients, "rowcount", 0) or 0)


def _longest(limits: tuple[Limit, ...]) -> timedelta:
    return max((limit.window for limit in limits), default=timedelta(0))
