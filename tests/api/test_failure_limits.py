"""Failed logins and activations: limits per account at an address, per address and per account across
addresses, none of which lets someone else's wrong guesses lock the right password out; and the client's
address, scheme and host behind trusted proxies (XINYONG_TRUSTED_PROXIES)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from gateway.config import from_environ
from gateway.limits import Limit
from gateway.runtime import Runtime
from gateway.usecases import people as people_use
from gateway.web.app import create_app
from tests.conftest import People

PASSWORD = "correct horse battery"
ATTACKER = "203.0.113.66"
HOME = "198.51.100.20"


def _limit(rt: Runtime, scope: str) -> Limit:
    return next(limit for limit in rt.settings.failure_limits.login if limit.scope == scope)


def _activate(client: FlaskClient, citizen_id: str, code: str, address: str | None = None,
              headers: dict[str, str] | None = None) -> TestResponse:
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post("/api/v1/subjects/activate", environ_base=environ, headers=headers or {},
                       json={"citizen_id": citizen_id, "activation_code": code, "password": PASSWORD})


def _login(client: FlaskClient, citizen_id: str, password: str = PASSWORD, address: str | None = None,
           headers: dict[str, str] | None = None) -> TestResponse:
    environ = {"REMOTE_ADDR": address} if address else {}
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return client.post("/login", environ_base=environ, headers=headers or {},
                       data={"citizen_id": citizen_id, "password": password, "csrf_token": token.group(1)})


@pytest.fixture
def activated(rt: Runtime, client: FlaskClient, people: People) -> str:
    """An activated person's citizen ID (activated from HOME); the password is PASSWORD."""
    citizen_id = people.new()
    code = people_use.enroll(rt, citizen_id, "李小红", "counter-7").activation_code
    assert _activate(client, citizen_id, code, HOME).status_code == 200
    return citizen_id


def test_wrong_activation_codes_sent_anonymously_do_not_lock_the_person_out(
        client: FlaskClient, rt: Runtime, activated: str) -> None:
    for _ in range(_limit(rt, "account_at_address").failures):
        assert _activate(client, activated, "AAAA-BBBB-CCCC", ATTACKER).status_code == 401
    # The sender is held back, even with the right password ...
    assert _login(client, activated, address=ATTACKER).status_code == 429
    # ... the person, from their own address, is not.
    assert _login(client, activated, address=HOME).status_code == 302


def test_wrong_passwords_from_another_address_do_not_lock_the_right_password_out(
        app: Flask, rt: Runtime, activated: str) -> None:
    for _ in range(_limit(rt, "account_at_address").failures):
        assert _login(app.test_client(), activated, "not the password", ATTACKER).status_code == 401
    assert _login(app.test_client(), activated, address=ATTACKER).status_code == 429
    assert _login(app.test_client(), activated, address=HOME).status_code == 302


def test_guessing_spread_over_many_addresses_holds_back_only_the_addresses_that_guessed(
        client: FlaskClient, rt: Runtime, activated: str) -> None:
    spread = _limit(rt, "account_across_addresses")
    guessers = [f"203.0.{n // 250}.{n % 250 + 1}" for n in range(spread.failures)]
    for address in guessers:
        # One failure each: no address comes near its own limit of five.
        assert _activate(client, activated, "AAAA-BBBB-CCCC", address).status_code == 401
    held = _activate(client, activated, "AAAA-BBBB-CCCC", guessers[0])
    assert held.status_code == 429
    assert held.headers["Retry-After"] == str(int(spread.window.total_seconds()))
    assert _login(client, activated, address=HOME).status_code == 302


def test_below_the_spread_limit_an_address_with_one_failure_may_try_again(
        client: FlaskClient, rt: Runtime, activated: str) -> None:
    for n in range(_limit(rt, "account_across_addresses").failures - 1):
        _activate(client, activated, "AAAA-BBBB-CCCC", f"203.0.113.{n + 1}")
    assert _login(client, activated, address="203.0.113.1").status_code == 302


def test_a_login_forgives_only_the_failures_from_its_own_address(
        app: Flask, rt: Runtime, activated: str) -> None:
    failures = _limit(rt, "account_at_address").failures
    for _ in range(failures - 1):
        assert _login(app.test_client(), activated, "typo", HOME).status_code == 401
        assert _login(app.test_client(), activated, "guess", ATTACKER).status_code == 401
    assert _login(app.test_client(), activated, address=HOME).status_code == 302
    # The guesser's count was not reset by the person's login: one more failure and it waits.
    assert _login(app.test_client(), activated, "guess", ATTACKER).status_code == 401
    assert _login(app.test_client(), activated, address=ATTACKER).status_code == 429
    # The person starts afresh.
    for _ in range(failures - 1):
        assert _login(app.test_client(), activated, "typo", HOME).status_code == 401
    assert _login(app.test_client(), activated, address=HOME).status_code == 302


def test_the_wait_counts_down_from_the_oldest_failure_that_must_leave_the_window(
        client: FlaskClient, rt: Runtime, activated: str, clock: FrozenClock) -> None:
    limit = _limit(rt, "account_at_address")
    window = int(limit.window.total_seconds())
    for _ in range(limit.failures):
        _activate(client, activated, "AAAA-BBBB-CCCC", ATTACKER)
        clock.advance(seconds=60)
    # The oldest of the five is 300 s old; it leaves the window in (window - 300) s, and the limit with it.
    assert _activate(client, activated, "AAAA-BBBB-CCCC", ATTACKER).headers["Retry-After"] == str(window - 300)
    clock.advance(seconds=window - 300)
    assert _activate(client, activated, "AAAA-BBBB-CCCC", ATTACKER).status_code == 401


def test_ipv6_addresses_of_one_network_count_together(client: FlaskClient, rt: Runtime, activated: str) -> None:
    for n in range(_limit(rt, "account_at_address").failures):
        assert _activate(client, activated, "AAAA-BBBB-CCCC", f"2001:db8:1:2::{n + 1:x}").status_code == 401
    assert _login(client, activated, address="2001:db8:1:2:ffff::1").status_code == 429
    assert _login(client, activated, address="2001:db8:1:3::1").status_code == 302


# --- behind reverse proxies ---------------------------------------------------------------------------------


@pytest.fixture
def behind_proxy(rt: Runtime) -> FlaskClient:
    """A client of the app configured with XINYONG_TRUSTED_PROXIES=1."""
    trusting = replace(rt, settings=rt.settings.with_overrides(trusted_proxies=1))
    return create_app({"TESTING": True}, runtime=trusting).test_client()


def _forwarded(address: str, **more: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **more}


def test_without_trusted_proxies_a_forwarded_address_is_ignored(
        client: FlaskClient, rt: Runtime, activated: str) -> None:
    for n in range(_limit(rt, "account_at_address").failures):
        # Anyone can send the header: a guesser must not start afresh by changing it.
        assert _activate(client, activated, "AAAA-BBBB-CCCC", ATTACKER,
                         _forwarded(f"192.0.2.{n + 1}")).status_code == 401
    assert _login(client, activated, address=ATTACKER, headers=_forwarded("192.0.2.200")).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_limited(
        behind_proxy: FlaskClient, rt: Runtime, activated: str) -> None:
    proxy = "10.0.0.2"
    for _ in range(_limit(rt, "account_at_address").failures):
        assert _activate(behind_proxy, activated, "AAAA-BBBB-CCCC", proxy, _forwarded(ATTACKER)).status_code == 401
    assert _login(behind_proxy, activated, address=proxy, headers=_forwarded(ATTACKER)).status_code == 429
    # Everyone else behind the same proxy still logs in.
    assert _login(behind_proxy, activated, address=proxy, headers=_forwarded(HOME)).status_code == 302


def test_behind_one_trusted_proxy_only_the_address_it_saw_counts(
        behind_proxy: FlaskClient, rt: Runtime, activated: str) -> None:
    # The client writes a false address first; the proxy appends the one it saw.
    for n in range(_limit(rt, "account_at_address").failures):
        spoofed = _forwarded(f"192.0.2.{n + 1}, {ATTACKER}")
        assert _activate(behind_proxy, activated, "AAAA-BBBB-CCCC", "10.0.0.2", spoofed).status_code == 401
    assert _login(behind_proxy, activated, address="10.0.0.2",
                  headers=_forwarded(f"192.0.2.99, {ATTACKER}")).status_code == 429


def _client_credentials(client: FlaskClient, auth: Any, **kwargs: Any) -> TestResponse:
    made = auth.register("institution", kind="employer")
    return client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(made.client_id, made.secret), **kwargs)


def test_behind_a_trusted_tls_proxy_the_token_endpoint_takes_the_forwarded_scheme_and_host(
        behind_proxy: FlaskClient, auth: Any) -> None:
    response = _client_credentials(behind_proxy, auth, base_url="http://10.0.0.5:8000", headers=_forwarded(
        "192.0.2.7", **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "credit.example.gov.cn"}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_without_trusted_proxies_a_forwarded_scheme_is_ignored(client: FlaskClient, auth: Any) -> None:
    response = _client_credentials(client, auth, base_url="http://credit.example.gov.cn", headers=_forwarded(
        "192.0.2.7", **{"X-Forwarded-Proto": "https"}))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_trusted_proxies_are_read_from_the_environment() -> None:
    assert from_environ({}).trusted_proxies == 0
    assert from_environ({"XINYONG_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    for wrong in ("-1", "one", "1.5"):
        with pytest.raises(ValueError, match="XINYONG_TRUSTED_PROXIES"):
            from_environ({"XINYONG_TRUSTED_PROXIES": wrong})


def test_behind_a_trusted_proxy_a_forwarded_address_with_control_characters_is_refused_not_a_500(
        behind_proxy: FlaskClient, activated: str) -> None:
    # A forged X-Forwarded-For that is no address (here a NUL, which PostgreSQL's text refuses) is still counted.
    response = _login(behind_proxy, activated, password="wrong", address="10.0.0.2",
                      headers=_forwarded("192.0.2.1\x00"))
    assert response.status_code == 401
