"""A person downloads their signed report as a PDF from their page, and anyone checks a report at /verify."""

from __future__ import annotations

import base64
import io
import json

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import PASSWORD, SCREENSHOTS, Live, look


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["records"] = []
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _jws_in(text: str) -> str:
    """Return the JWS printed over lines in the PDF's appendix, joined back together."""
    lines = text.split("/.well-known/jwks.json", 1)[1].splitlines()
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    return "".join(line.strip() for line in lines if line.strip() and set(line.strip()) <= alphabet)


def _log_in(page: Page, citizen_id: str) -> None:
    page.goto("/login")
    page.get_by_label("公民身份号码").fill(citizen_id)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/me")


def test_a_person_downloads_the_signed_pdf_and_checks_it_at_verify_with_a_tampered_copy_refused(
        page: Page, live: Live) -> None:
    citizen_id = live.activated("赵小燕")
    live.record(live.provider(), citizen_id, category="ADMINISTRATIVE_PENALTY_GENERAL")
    _log_in(page, citizen_id)
    look(page, "me-with-pdf-link")
    with page.expect_download() as info:
        page.get_by_role("link", name="下载签名 PDF").click()
    download = info.value
    path = SCREENSHOTS.parent / "downloads" / f"{download.suggested_filename}"
    path.parent.mkdir(parents=True, exist_ok=True)
    download.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    report_id = download.suggested_filename.removesuffix(".pdf")
    assert report_id.startswith("sr_")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert report_id in text
    assert "一般行政处罚" in text or "行政处罚" in text

    # The QR code's link names the report; the JWS printed in the appendix, pasted there, is that report.
    link = next(line for line in text.splitlines() if "/verify?report=" in line)
    page.goto(link[link.index("/verify?"):].strip())
    look(page, "verify-from-qr")
    jws = _jws_in(text)
    page.get_by_label("签名报告（JWS）").fill(jws)
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.get_by_role("heading", name="有效", exact=True)).to_be_visible()
    expect(page.locator("section.card.pos")).to_contain_text(report_id)
    look(page, "verify-valid")

    # Another report of hers (a fresh download) is valid too, but not the report this QR code names.
    other = page.request.get("/api/v1/me/report/signed").json()["jws"]
    page.goto(link[link.index("/verify?"):].strip())
    page.get_by_label("签名报告（JWS）").fill(other)
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator("section.card.neg")).to_contain_text("不是二维码所指的那份报告")

    page.goto("/verify")
    look(page, "verify-empty")
    page.get_by_label("签名报告（JWS）").fill(_tampered(jws))
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.get_by_role("heading", name="无效", exact=True)).to_be_visible()
    expect(page.locator("section.card.neg")).to_contain_text("报告在签发后被改动过")
    look(page, "verify-tampered")

    page.get_by_label("签名报告（JWS）").fill("not a report at all")
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.get_by_role("heading", name="无效", exact=True)).to_be_visible()
    look(page, "verify-garbage")
