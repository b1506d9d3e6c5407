"""gateway/pdf.py without Flask: a signed report in, a PDF out, in the words it is given."""

from __future__ import annotations

import io

from pypdf import PdfReader

from gateway import demo, pdf
from gateway.runtime import Runtime
from gateway.usecases import people


class PlainWords:
    """Chinese words straight from the catalogue and purposes (what the portal's labels give, minus labels.json)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @property
    def locale(self) -> str:
        return "zh"

    def category(self, code: str) -> str:
        return self.rt.catalogue.category(code).name.zh

    def field(self, category: str, name: str) -> str:
        return next(f.zh for f in self.rt.catalogue.category(category).fields if f.name == name)

    def value(self, category: str, name: str, raw: object) -> str:
        return str(raw)

    def document_type(self, code: str) -> str:
        return code

    def purpose(self, code: str) -> str:
        return self.rt.purposes.purpose(code).name.zh

    def label(self, kind: str, code: str) -> str:
        return f"{kind}:{code}"

    def moment(self, at: str) -> str:
        return at

    def day(self, on: str) -> str:
        return on


def _text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_persons_pdf_names_the_report_their_records_and_a_listing_proposed_after_notice(rt: Runtime) -> None:
    seeded = demo.seed(rt, len(demo.SCENARIOS))
    listed = next(p for p in seeded["people"] if "serious-dishonesty list" in p["shows"])
    signed = people.signed_self_report(rt, rt.vault.subject_ref(listed["citizen_id"]), None)
    text = _text(pdf.person_report(signed, PlainWords(rt), "https://credit.example/verify?report=x"))
    assert signed.report["report_id"] in text
    assert listed["name"] in text
    assert "严重行政处罚" in text or "行政处罚信息(严重失信)" in text
    assert "名单" in text
    assert "拟列入，已告知本人" in text
    assert "https://credit.example/verify?report=x" in text
