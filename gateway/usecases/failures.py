"""Forgetting failed attempts to authenticate once no limit counts them any more."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from audit.tx import AccessContext
from gateway.limits import Limit, Limits
from gateway.models import ClientAuthFailure, LoginFailure, StaffLoginFailure
from gateway.uow import UnitOfWork


def purge_failures(uow: UnitOfWork, limits: Limits) -> int:
    """Delete the failures older than the longest window of their kind; return how many.

    They hold the addresses people, clients and staff came from, which are kept no longer than a limit needs them.
    """
    with uow.begin(AccessContext(actor="xinyong", role="system")) as tx:
        logins = tx.session.execute(delete(LoginFailure).where(LoginFailure.at <= tx.now - _longest(limits.login)))
        clients = tx.session.execute(delete(ClientAuthFailure).where(
            ClientAuthFailure.at <= tx.now - _longest(limits.client_authentication)))
        staff = tx.session.execute(delete(StaffLoginFailure).where(
            StaffLoginFailure.at <= tx.now - _longest(limits.staff_login)))
        return sum(int(getattr(done, "rowcount", 0) or 0) for done in (logins, clients, staff))


def _longest(limits: tuple[Limit, ...]) -> timedelta:
    return max((limit.window for limit in limits), default=timedelta(0))
