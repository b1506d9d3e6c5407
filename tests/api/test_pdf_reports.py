"""Signed reports as PDF: the person's own (portal and API) and an institution's stored report.

Each PDF is read back with pypdf: it must be a PDF, name its report id, and speak in the catalogue's words.
Every download is one audited access, the same entry its JSON form records; someone else's report is refused.
"""

from __future__ import annotations

import io
from datetime import date

from flask.testing import FlaskClient
from pypdf import PdfReader

from gateway import verification
from tests.api.test_consent_api import _entries, _granted, _query, _serious, _submit, rt_of
from tests.conftest import Auth, Person, Registered


def _text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _jws_in(text: str) -> str:
    """Return the JWS printed over lines in the appendix, joined back together."""
    lines = text.split("/.well-known/jwks.json", 1)[1].splitlines()
    return "".join(line.strip() for line in lines if line.strip() and set(line.strip()) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."))


def test_a_person_downloads_their_report_as_a_pdf_that_names_its_id_and_is_audited(
    client: FlaskClient, auth: Auth, person: Person
) -> None:
    provider = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS")
    _submit(client, provider, _serious(person.citizen_id, date(2026, 6, 1)))
    before = len(_entries(rt_of(client), "vault:report:self"))
    response = person.client.get("/me/report.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    report_id = response.headers["Content-Disposition"].split('filename="')[1].split(".pdf")[0]
    assert report_id.startswith("sr_")
    text = _text(response.data)
    assert report_id in text
    assert "严重行政处罚信息" in text or "行政处罚" in text  # the category in the catalogue's words
    assert "北京时间" in text
    assert len(_entries(rt_of(client), "vault:report:self")) == before + 1


def test_the_pdf_carries_a_jws_that_verifies_and_a_link_with_its_verification_code(
    client: FlaskClient, auth: Auth, person: Person
) -> None:
    provider = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS")
    _submit(client, provider, _serious(person.citizen_id))
    text = _text(person.client.get("/api/v1/me/report/pdf").data)
    token = _jws_in(text)
    verdict = verification.check(token, client.get("/.well-known/jwks.json").json)  # type: ignore[arg-type]
    assert verdict.valid, verdict.reason
    assert verdict.claims is not None
    assert verdict.claims["report_id"] in text
    assert verification.digest(token) in text.replace("\n", "")


def test_the_pdf_speaks_english_when_asked(client: FlaskClient, auth: Auth, person: Person) -> None:
    provider = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS")
    _submit(client, provider, _serious(person.citizen_id))
    english = _text(person.client.get("/api/v1/me/report/pdf?lang=en").data)
    assert "Beijing time" in english
    assert "Records" in english
    accepted = _text(person.client.get("/me/report.pdf", headers={"Accept-Language": "en-GB,en;q=0.9"}).data)
    assert "Beijing time" in accepted
    assert person.client.get("/api/v1/me/report/pdf?lang=fr").status_code == 422


def test_without_a_session_there_is_no_pdf(client: FlaskClient) -> None:
    page = client.get("/me/report.pdf")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
    assert client.get("/api/v1/me/report/pdf").status_code == 401


def test_an_institution_downloads_its_report_as_a_pdf_audited_as_a_retrieval(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    provider = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS")
    _submit(client, provider, _serious(person.citizen_id))
    report_id = _query(client, employer, _granted(client, employer, person)).json["report"]["report_id"]
    before = len(_entries(rt_of(client), "consent:report:retrieved"))
    response = client.get(f"/api/v1/reports/{report_id}/pdf", headers=employer.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = _text(response.data)
    assert report_id in text
    assert "入职信用核查" in text  # the purpose in the purposes file's words
    retrieved = _entries(rt_of(client), "consent:report:retrieved")
    assert len(retrieved) == before + 1
    assert retrieved[-1].detail["report_id"] == report_id


def test_another_institution_cannot_download_the_report(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    report_id = _query(client, employer, _granted(client, employer, person)).json["report"]["report_id"]
    other = auth.register("institution", kind="employer")
    refused = client.get(f"/api/v1/reports/{report_id}/pdf", headers=other.headers)
    assert refused.status_code == 404
    assert refused.mimetype == "application/problem+json"
    assert [e.detail["report_id"] for e in _entries(rt_of(client), "consent:report:retrieved")] == []
    assert client.get(f"/api/v1/reports/{report_id}/pdf").status_code == 401
