"""/verify and POST /api/v1/verify: anyone checks a report's JWS against the published keys, with a reason.

A valid report says what it is; an altered one is "not valid" naming why; garbage is an answer, never a 500.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway import verification
from tests.api.test_consent_api import _granted, _query, _serious, _submit, rt_of
from tests.conftest import Auth, Person, Registered


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _api(client: FlaskClient, token: str, **extra: str) -> dict[str, Any]:
    response = client.post("/api/v1/verify", json={"jws": token, **extra})
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.json)  # type: ignore[arg-type]


def _own(person: Person) -> dict[str, Any]:
    return dict(person.client.get("/api/v1/me/report/signed").json)  # type: ignore[arg-type]


def _tampered(token: str) -> str:
    """Return the JWS with its payload changed (a record dropped) and the signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims["records"] = claims["records"][1:]
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


@pytest.fixture
def released(client: FlaskClient, auth: Auth, employer: Registered, person: Person) -> dict[str, Any]:
    provider = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS")
    _submit(client, provider, _serious(person.citizen_id))
    return dict(_query(client, employer, _granted(client, employer, person)).json)


def test_an_institutions_report_verifies_and_says_what_it_is(client: FlaskClient, released: dict[str, Any]) -> None:
    found = _api(client, released["jws"])
    assert found["valid"] is True
    assert found["reason"] is None
    assert found["kind"] == "institution"
    assert found["report"] == released["report"]


def test_a_persons_own_report_verifies_as_their_own(client: FlaskClient, released: dict[str, Any],
                                                    person: Person) -> None:
    signed = _own(person)
    assert signed["report"]["report_id"].startswith("sr_")
    found = _api(client, signed["jws"])
    assert (found["valid"], found["kind"], found["report"]) == (True, "self", signed["report"])


def test_a_tampered_report_is_not_valid_because_its_signature_does_not_match(
    client: FlaskClient, released: dict[str, Any], person: Person
) -> None:
    for token in (released["jws"], _own(person)["jws"]):
        found = _api(client, _tampered(token))
        assert found["valid"] is False
        assert found["reason"] == "bad_signature"
        assert "altered" in found["explanation"]["en"]
        assert found["report"] is None


def test_a_jws_copied_from_paper_over_several_lines_still_verifies(
    client: FlaskClient, released: dict[str, Any]
) -> None:
    token = released["jws"]
    wrapped = "\n".join(token[i:i + 96] for i in range(0, len(token), 96))
    assert _api(client, f"  {wrapped}\r\n")["valid"] is True


@pytest.mark.parametrize(("pasted", "reason"), [
    ("", "empty"), ("   \n ", "empty"), ("hello", "malformed"), ("a.b.c", "malformed"), ("..", "malformed"),
    (f"{_b64(b'[1]')}.e30.AA", "malformed"), (f"{_b64(b'{}')}.e30.AA", "unsupported_algorithm"),
    (f"{_b64(json.dumps({'alg': 'none', 'kid': 'k'}).encode())}.e30.", "malformed"),
    (f"{_b64(json.dumps({'alg': 'HS256'}).encode())}.e30.AA", "unsupported_algorithm"),
    (f"{_b64(json.dumps({'alg': 'EdDSA', 'kid': 'nobody'}).encode())}.e30.AA", "unknown_key"),
])
def test_garbage_is_not_valid_with_its_reason_never_an_error(
    client: FlaskClient, pasted: str, reason: str
) -> None:
    found = _api(client, pasted)
    assert (found["valid"], found["reason"]) == (False, reason)


def test_a_paste_far_longer_than_any_report_is_refused_unread(client: FlaskClient) -> None:
    huge = "x" * (verification.MAX_JWS_CHARS + 1)
    refused = client.post("/api/v1/verify", json={"jws": huge})
    assert refused.status_code == 422
    assert refused.json["field"] == "jws"  # type: ignore[index]
    page = client.post("/verify", data={"jws": huge})
    assert page.status_code == 200
    assert verification.REASONS["too_long"]["zh"] in page.get_data(as_text=True)


def test_a_signature_under_a_published_key_over_garbage_is_not_a_valid_report(
    client: FlaskClient, released: dict[str, Any]
) -> None:
    vault = rt_of(client).vault
    assert _api(client, vault.sign({"anything": 1}, "xinyong-report+jws"))["reason"] == "not_a_report"
    assert _api(client, vault.sign({"report_id": "rp_x"}, "xinyong-receipt+jws"))["reason"] == "not_a_report"
    kid = json.loads(_unb64(released["jws"].split(".")[0]))["kid"]
    forged = f"{_b64(json.dumps({'alg': 'EdDSA', 'kid': kid}).encode())}.e30.{'A' * 86}"
    assert _api(client, forged)["reason"] == "bad_signature"


def test_the_qr_codes_verification_code_must_match_the_pasted_report(
    client: FlaskClient, released: dict[str, Any], person: Person
) -> None:
    token = released["jws"]
    assert _api(client, token, sha256=verification.digest(token))["valid"] is True
    other = _api(client, _own(person)["jws"], sha256=verification.digest(token))
    assert (other["valid"], other["reason"]) == (False, "digest_mismatch")
    assert client.post("/api/v1/verify", json={"jws": token, "sha256": "short"}).status_code == 422


def test_reports_signed_before_a_key_rotation_still_verify(client: FlaskClient, released: dict[str, Any]) -> None:
    rt_of(client).vault.add_signing_key()
    assert _api(client, released["jws"])["valid"] is True


def test_the_api_refuses_what_is_not_a_verify_request(client: FlaskClient) -> None:
    assert client.post("/api/v1/verify", json={"jws": 1}).status_code == 422
    assert client.post("/api/v1/verify", json={"jws": "a", "more": 1}).status_code == 422
    assert client.post("/api/v1/verify", data=b"\xff\xfe", content_type="application/json").status_code == 400


# --- the page ---------------------------------------------------------------------------------------


def test_the_page_says_a_good_report_is_valid_and_what_it_says(
    client: FlaskClient, released: dict[str, Any]
) -> None:
    report_id = released["report"]["report_id"]
    code = verification.digest(released["jws"])
    form = client.get(f"/verify?report={report_id}&sha256={code}")
    assert form.status_code == 200
    assert report_id in form.get_data(as_text=True)
    page = client.post("/verify", data={"jws": released["jws"], "report": report_id, "sha256": code})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "有效" in html
    assert "无效" not in html
    assert "入职信用核查" in html  # the purpose in words
    assert "严重" in html  # the category in words


def test_the_page_says_a_tampered_report_is_not_valid_and_why(
    client: FlaskClient, released: dict[str, Any]
) -> None:
    page = client.post("/verify", data={"jws": _tampered(released["jws"])})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "无效" in html
    assert verification.REASONS["bad_signature"]["zh"] in html


def test_the_page_speaks_english_to_an_english_reader(client: FlaskClient, released: dict[str, Any]) -> None:
    english = {"Accept-Language": "en"}
    good = client.post("/verify", data={"jws": released["jws"]}, headers=english).get_data(as_text=True)
    assert "Valid" in good
    assert "Employment screening" in good
    bad = client.post("/verify", data={"jws": _tampered(released["jws"])}, headers=english).get_data(as_text=True)
    assert "Not valid" in bad
    assert verification.REASONS["bad_signature"]["en"] in bad


def test_the_page_answers_garbage_with_a_reason_never_an_error(client: FlaskClient) -> None:
    for pasted in ("", "<script>alert(1)</script>", "\x00\x01", "a.b", "é.é.é"):
        page = client.post("/verify", data={"jws": pasted, "report": "../../etc", "sha256": "<b>"})
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "无效" in html
        assert "<script>alert" not in html
        assert "../../etc" not in html
    assert client.get("/verify?report=%00&sha256=%ff").status_code == 200
