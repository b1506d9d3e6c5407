"""The limits on failed authentication are data: each with its scope, count, window and reason."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest

from gateway.limits import load, shipped


def _doc() -> dict[str, Any]:
    return dict(json.loads((resources.files("gateway") / "data" / "limits.json").read_text(encoding="utf-8")))


def test_the_shipped_limits_cover_each_scope_of_each_kind_with_a_reason() -> None:
    limits = shipped()
    for kind in (limits.login, limits.client_authentication):
        assert {limit.scope for limit in kind} == {"account_at_address", "address", "account_across_addresses"}
        assert all(limit.reason.strip() and limit.failures >= 1 for limit in kind)
    login = {limit.scope: limit for limit in limits.login}
    assert (login["account_at_address"].failures, login["account_at_address"].window) == (5, timedelta(minutes=15))
    # Spread guessing must take more failures than one address may make, or it would hold back one address.
    assert login["account_across_addresses"].failures > login["account_at_address"].failures


@pytest.mark.parametrize(("change", "message"), [
    ({"scope": "account"}, r"login.limits\[0\].scope"),
    ({"failures": 0}, r"login.limits\[0\].failures"),
    ({"failures": True}, r"login.limits\[0\].failures"),
    ({"window_seconds": 86401}, r"login.limits\[0\].window_seconds"),
    ({"window_seconds": 1.5}, r"login.limits\[0\].window_seconds"),
    ({"reason": " "}, r"login.limits\[0\].reason"),
])
def test_a_limit_without_a_known_scope_a_count_a_window_or_a_reason_is_refused(
        change: dict[str, Any], message: str) -> None:
    doc = _doc()
    doc["login"]["limits"][0].update(change)
    with pytest.raises(ValueError, match=message):
        load(json.dumps(doc))
