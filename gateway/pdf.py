"""Signed reports as PDF: the person's own report and a report released to an institution.

Plain functions from a use case's `SignedReport` to the bytes of a PDF; nothing here reads storage or
knows HTTP, so a PDF says exactly what the audited read that produced the JWS returned. As a report
in the manner of RPT-1 and RPT-4 should, each PDF carries its report id, its issue time in Beijing time,
every record in words from the catalogue, a QR code of its verification link with the verification code,
and the JWS itself in an appendix: the JWS is the report; the pages are its reading.

Chinese is set in reportlab's built-in CID font STSong-Light, which a PDF reader supplies, so no font file
ships with the service; the JWS and the ids are set in Courier and Helvetica.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Protocol
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from gateway.usecases.consents import SignedReport
from gateway.verification import digest


class Words(Protocol):
    """Words for codes and times in one language, as the portal shows them (gateway/web/labels.py): the
    catalogue's and purposes' names, gateway/data/labels.json's for enum values and statuses, Beijing time."""

    @property
    def locale(self) -> str:
        """`zh` or `en`."""

    def category(self, code: str) -> str:
        """A category's name."""

    def field(self, category: str, name: str) -> str:
        """A payload field's name."""

    def value(self, category: str, name: str, raw: object) -> str:
        """A payload value in words."""

    def document_type(self, code: str) -> str:
        """A document type's name."""

    def purpose(self, code: str) -> str:
        """A purpose's name."""

    def label(self, kind: str, code: str) -> str:
        """A code of labels.json's section `kind` (statuses, outcomes, effects, ...)."""

    def moment(self, at: str) -> str:
        """An ISO 8601 moment as Beijing time to the minute, with the zone in words."""

    def day(self, on: str) -> str:
        """An ISO 8601 date as the reader writes it."""


CJK = "STSong-Light"
JWS_LINE = 96  # characters of the JWS a line: Courier 6.5 pt fits the text width of A4 with 18 mm margins

# The PDF's own words (the catalogue's and purposes' come from Labels).
WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "self_title": "个人公共信用信息报告（本人查询）", "institution_title": "个人公共信用信息报告（授权查询）",
        "report_id": "报告编号", "generated_at": "生成时间", "subject": "信息主体",
        "citizen_id": "身份证号（部分隐藏）",
        "catalogue_version": "目录版本", "purpose": "查询用途", "consent": "授权编号",
        "deadline": "可取回至", "verify": "验证", "verify_how":
            "扫描二维码或访问验证页面，粘贴附录中的签名报告（JWS），即可核对报告是否由本服务签发且未被改动。",
        "verification_code": "验证码（JWS 的 SHA-256）", "records": "信用记录", "no_records": "没有记录。",
        "provider": "提供单位", "decided_at": "认定日期", "shown": "展示期限", "until_ended": "至提供单位终止",
        "status": "状态", "visible": "第三方经授权可见", "document": "决定文书",
        "objection": "异议", "objection_open": "异议处理中，自 {since} 起", "objection_deadline": "，期限 {deadline}",
        "dispute": "本人已提出异议，提供单位正在核实（自 {since} 起）",
        "repaired": "已信用修复（{on}，{effect}）", "repair_from": "可申请信用修复，自 {date} 起，免费",
        "repair_now": "可申请信用修复，免费", "superseded": "已被更正记录 {id} 取代",
        "queries": "查询记录（近两年）", "no_queries": "近两年没有机构查询。", "institution": "机构", "at": "时间",
        "outcome": "结果", "records_released": "条记录",
        "incentive": "守信激励（仅用于激励，EVAL-1）：{attribute}：{value}；正面记录 {n} 条", "yes": "是", "no": "否",
        "appendix": "附录：签名报告（JWS，EdDSA）", "appendix_how":
            "以下为报告的紧凑 JWS，分行打印；验证时去掉换行即可。公钥见 /.well-known/jwks.json。",
        "page": "第 {n} 页", "listings": "名单", "objection_until": "可提出异议至 {day}",
        "listing_until": "至 {day}", "proposed": "拟列入，已告知本人", "in_effect": "已生效", "suspended": "暂停",
        "dropped": "已撤销", "ended": "已移出",
    },
    "en": {
        "self_title": "Personal public credit report (own copy)",
        "institution_title": "Personal public credit report (released with consent)",
        "report_id": "Report id", "generated_at": "Generated", "subject": "Person",
        "citizen_id": "Citizen ID (masked)", "catalogue_version": "Catalogue version", "purpose": "Purpose",
        "consent": "Consent", "deadline": "Retrievable until", "verify": "Verify", "verify_how":
            "Scan the QR code or open the verification page and paste the signed report (JWS) from the appendix "
            "to check that this service signed it and that it is unaltered.",
        "verification_code": "Verification code (SHA-256 of the JWS)", "records": "Records",
        "no_records": "No records.", "provider": "Provided by", "decided_at": "Decided", "shown": "Shown",
        "until_ended": "until the provider ends it", "status": "Status", "visible": "Third parties may see it with "
        "consent", "document": "Document", "objection": "Objection",
        "objection_open": "objection under way since {since}", "objection_deadline": ", due {deadline}",
        "dispute": "The person objected; the provider is verifying the record (since {since})",
        "repaired": "repaired ({on}, {effect})", "repair_from": "may be repaired from {date}, free of charge",
        "repair_now": "may be repaired, free of charge", "superseded": "superseded by its correction {id}",
        "queries": "Who looked (last two years)", "no_queries": "No institution looked in the last two years.",
        "institution": "Institution", "at": "When", "outcome": "Outcome", "records_released": "records",
        "incentive": "Incentive (for incentives only, EVAL-1): {attribute}: {value}; {n} positive records",
        "yes": "yes", "no": "no",
        "appendix": "Appendix: the signed report (JWS, EdDSA)", "appendix_how":
            "The report's compact JWS, printed over several lines; join the lines to verify it. The public keys "
            "are at /.well-known/jwks.json.",
        "page": "Page {n}", "listings": "Lists", "objection_until": "may object until {day}",
        "listing_until": "until {day}", "proposed": "proposed, the person told", "in_effect": "in effect",
        "suspended": "suspended", "dropped": "dropped", "ended": "ended",
    },
}


@lru_cache(maxsize=1)
def _register_font() -> None:
    # Registered once per process: reportlab keeps fonts in a module-level registry.
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))


def _styles() -> dict[str, ParagraphStyle]:
    _register_font()  # before any Paragraph: each resolves its font when it is made
    base = ParagraphStyle("body", fontName=CJK, fontSize=9.5, leading=13, wordWrap="CJK")
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#333333")),
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=16, spaceBefore=10, spaceAfter=4),
        "h3": ParagraphStyle("h3", parent=base, fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=2),
        "mono": ParagraphStyle("mono", fontName="Courier", fontSize=6.5, leading=8),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _latin(text: str) -> str:
    # Ids in Helvetica: extractable and unambiguous (0/O, 1/l) whatever the reader's CJK font.
    return f'<font name="Helvetica">{escape(text)}</font>'


def _qr(url: str, size: float = 32 * mm) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0])
    drawing.add(widget)
    return drawing


def _head(title: str, rows: Sequence[tuple[str, str]], url: str, signed: SignedReport,
          w: dict[str, str], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Return the title, the report's particulars beside the QR code, and how to verify."""
    facts = Table([[_p(label, st["small"]), Paragraph(value, st["body"])] for label, value in rows],
                  colWidths=[38 * mm, 96 * mm])
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    side = Table([[facts, _qr(url)]], colWidths=[138 * mm, 36 * mm])
    side.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [
        _p(title, st["title"]), side,
        Paragraph(f'{escape(w["verify"])}: {_latin(url)}', st["small"]),
        Paragraph(f'{escape(w["verification_code"])}: {_latin(digest(signed.jws))}', st["small"]),
        _p(w["verify_how"], st["small"]),
    ]


def _fields(category: str, values: dict[str, Any], words: Words, st: dict[str, ParagraphStyle]) -> Table | None:
    if not values:
        return None
    table = Table([[_p(words.field(category, k), st["small"]), _p(words.value(category, k, v), st["body"])]
                   for k, v in values.items()], colWidths=[48 * mm, 126 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc"))]))
    return table


def _period(record: dict[str, Any], words: Words, w: dict[str, str]) -> str:
    start = words.day(record.get("display_from") or record["decided_at"])
    until = record.get("display_until")
    return f"{start} – {words.day(until) if until is not None else w['until_ended']}"


def _own_states(record: dict[str, Any], words: Words, w: dict[str, str]) -> list[str]:
    """Return what the person's report says beside a record: visibility, objection, repair, correction."""
    visible = words.label("yes_no", "yes" if record.get("visible_to_third_parties") else "no")
    lines = [f"{w['status']}: {words.label('statuses', record['status'])}; {w['visible']}: {visible}"]
    objection = record.get("objection")
    if objection:
        text = w["objection_open"].format(since=words.day(objection["since"]))
        if objection.get("deadline"):
            text += w["objection_deadline"].format(deadline=words.day(objection["deadline"]))
        lines.append(f"{w['objection']}: {text}")
    if "repaired" in record:
        lines.append(w["repaired"].format(on=words.day(record["repaired"]["on"]),
                                          effect=words.label("effects", record["repaired"]["effect"])))
    elif record.get("repair", {}).get("repairable"):
        since = record["repair"].get("from")
        lines.append(w["repair_from"].format(date=words.day(since)) if since else w["repair_now"])
    if record.get("superseded_by"):
        lines.append(w["superseded"].format(id=record["superseded_by"]))
    return lines


def _record(record: dict[str, Any], words: Words, w: dict[str, str], st: dict[str, ParagraphStyle],
            own: bool) -> Flowable:
    parts: list[Flowable] = [_p(words.category(record["category"]), st["h3"])]
    facts = [f"{w['decided_at']}: {words.day(record['decided_at'])}", f"{w['shown']}: {_period(record, words, w)}"]
    if own:
        facts.insert(0, f"{w['provider']}: {record['provider']['name']}")
    parts.append(_p("；".join(facts) if words.locale == "zh" else "; ".join(facts), st["body"]))
    document = record.get("document")
    if own and document:
        parts.append(_p(f"{w['document']}: {words.document_type(document.get('type', ''))} "
                        f"{document.get('number', '')}", st["small"]))
    for line in _own_states(record, words, w) if own else []:
        parts.append(_p(line, st["small"]))
    if not own and record.get("dispute"):
        parts.append(_p(w["dispute"].format(since=words.day(record["dispute"]["since"])), st["small"]))
    table = _fields(record["category"], record.get("payload" if own else "fields") or {}, words, st)
    if table is not None:
        parts.append(table)
    return KeepTogether(parts)


def _queries(queries: Iterable[dict[str, Any]], words: Words, w: dict[str, str],
             st: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows = [[_p(w["institution"], st["small"]), _p(w["purpose"], st["small"]), _p(w["at"], st["small"]),
             _p(w["outcome"], st["small"])]]
    for q in queries:
        allowed = q["outcome"] == "allowed"
        outcome = words.label("outcomes", q["outcome"] if allowed else "denied")
        if allowed:
            outcome += f" ({q['records_released']} {w['records_released']})"
        rows.append([_p(q["institution"], st["small"]), _p(words.purpose(q["purpose"]), st["small"]),
                     _p(words.moment(q["at"]), st["small"]), _p(outcome, st["small"])])
    if len(rows) == 1:
        return [_p(w["queries"], st["h2"]), _p(w["no_queries"], st["body"])]
    table = Table(rows, colWidths=[60 * mm, 38 * mm, 44 * mm, 32 * mm], repeatRows=1)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black)]))
    return [_p(w["queries"], st["h2"]), table]


def _listings(listings: Iterable[dict[str, Any]], words: Words, w: dict[str, str],
              st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Return the person's listings (LIST-4, LIST-5): which list, where it stands, until when one may object."""
    lines = []
    for item in listings:
        name = item["list_name"]["en" if words.locale == "en" else "zh"]
        facts = [name, w.get(item["status"], item["status"])]
        if item["status"] == "proposed" and item.get("objection_until"):
            facts.append(w["objection_until"].format(day=words.day(item["objection_until"])))
        if item.get("until"):
            facts.append(w["listing_until"].format(day=words.day(item["until"])))
        lines.append(_p(" · ".join(facts), st["body"]))
    return [_p(w["listings"], st["h2"]), *lines] if lines else []


def _appendix(jws: str, w: dict[str, str], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    lines = [jws[i:i + JWS_LINE] for i in range(0, len(jws), JWS_LINE)]
    return [PageBreak(), _p(w["appendix"], st["h2"]), _p(w["appendix_how"], st["small"]), Spacer(1, 4),
            Paragraph("<br/>".join(escape(line) for line in lines), st["mono"])]


def _build(story: list[Flowable], title: str, report_id: str, w: dict[str, str]) -> bytes:
    buffer = io.BytesIO()

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(18 * mm, 10 * mm, report_id)
        canvas.setFont(CJK, 7)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, w["page"].format(n=doc.page))
        canvas.restoreState()

    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=f"{title} {report_id}", author="Xinyong 信用",
                            subject=report_id, creator="Xinyong")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def person_report(signed: SignedReport, words: Words, verify_url: str) -> bytes:
    """Return the person's own signed report (`people.signed_self_report`) as a PDF."""
    w, st, report = WORDS[words.locale], _styles(), signed.report
    subject = report["subject"]
    rows = [(w["report_id"], _latin(report["report_id"])),
            (w["generated_at"], escape(words.moment(report["generated_at"]))),
            (w["subject"], escape(subject["name"])),
            (w["citizen_id"], _latin(subject["citizen_id_masked"])),
            (w["catalogue_version"], _latin(report["catalogue_version"]))]
    story = _head(w["self_title"], rows, verify_url, signed, w, st)
    story.append(_p(w["records"], st["h2"]))
    story += [_record(r, words, w, st, own=True) for r in report["records"]] or [_p(w["no_records"], st["body"])]
    story += _listings(report.get("listings", []), words, w, st)
    story += _queries(report.get("queries", []), words, w, st)
    story += _appendix(signed.jws, w, st)
    return _build(story, w["self_title"], report["report_id"], w)


def institution_report(signed: SignedReport, words: Words, verify_url: str) -> bytes:
    """Return a report released to an institution (`consents.serve_query` / `get_report`) as a PDF."""
    w, st, report = WORDS[words.locale], _styles(), signed.report
    rows = [(w["report_id"], _latin(report["report_id"])),
            (w["generated_at"], escape(words.moment(report["generated_at"]))),
            (w["citizen_id"], _latin(report["subject"]["masked_citizen_id"])),
            (w["purpose"], escape(words.purpose(report["purpose"]))),
            (w["consent"], _latin(report["consent_id"])),
            (w["deadline"], escape(words.moment(report["retrieval_deadline"]))),
            (w["catalogue_version"], _latin(report["catalogue_version"]))]
    story = _head(w["institution_title"], rows, verify_url, signed, w, st)
    evaluation = report.get("evaluation")  # an incentive purpose's report only (EVAL-1)
    if evaluation is not None:
        attribute = evaluation["no_adverse_record"]
        story.append(_p(w["incentive"].format(attribute=attribute["name"][words.locale],
                                              value=w["yes" if attribute["value"] else "no"],
                                              n=sum(group["count"] for group in evaluation["positive"])),
                        st["body"]))
    story.append(_p(w["records"], st["h2"]))
    story += [_record(r, words, w, st, own=False) for r in report["records"]] or [_p(w["no_records"], st["body"])]
    story += _appendix(signed.jws, w, st)
    return _build(story, w["institution_title"], report["report_id"], w)
