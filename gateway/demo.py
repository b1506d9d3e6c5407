"""Demo data: agencies, institutions, an auditor and about twenty people with records.

Created once; running `xinyong demo seed` again prints the saved logins and changes nothing.
The logins file lives in XINYONG_HOME (never in git) with mode 0600.
"""

from __future__ import annotations

import json
import os
import random
from datetime import date, timedelta
from typing import Any

from stdnum.cn import ric, uscc

from audit.tx import AccessContext
from consent import entry
from consent.catalogue import Catalogue, Category
from consent.durations import Duration
from consent.fields import FieldFormat, FieldType
from gateway.runtime import Runtime
from gateway.usecases import clients, consents, people
from vault.errors import InvalidCitizenId
from vault.identity import birth_date, normalise_citizen_id
from vault.types import Document, NewRecord, Provider

# (name, agency role, administrative level, categories): each files only what its role may (谁主管、谁认定、
# 谁负责); the serious-dishonesty list is determined by a city-level department, not by the credit office.
AGENCIES = [
    ("市市场监督管理局 Market Regulation Bureau", "any_competent_authority", "city",
     ["ADMINISTRATIVE_LICENCE", "ADMINISTRATIVE_PENALTY_MINOR", "ADMINISTRATIVE_PENALTY_GENERAL",
      "ADMINISTRATIVE_PENALTY_SERIOUS", "SERIOUS_DISHONESTY_LIST", "CREDIT_COMMITMENT_BREACH"]),
    ("市中级人民法院 Intermediate People's Court", "court", "city", ["COURT_ENFORCEMENT_DEFAULT"]),
    ("市税务局 Tax Bureau", "tax", "city", ["TAX_ARREARS"]),
    ("市人力资源和社会保障局 Human Resources and Social Security Bureau", "human_resources_social_security", "city",
     ["SOCIAL_INSURANCE_ARREARS", "OCCUPATIONAL_MISCONDUCT"]),
    ("市民政局 Civil Affairs Bureau", "civil_affairs", "city",
     ["COMMENDATION", "VOLUNTEER_SERVICE", "CHARITABLE_DONATION"]),
    ("市教育局 Education Bureau", "education", "city", ["ACADEMIC_MISCONDUCT", "STUDENT_LOAN_DEFAULT"]),
    ("市发展改革委 (信用办) Credit Office", "credit_office", "city", ["CREDIT_COMMITMENT", "COMMENDATION"]),
]
INSTITUTIONS = [
    ("星海科技有限公司 Xinghai Technology (employer)", "employer"),
    ("安居房屋租赁 Anju Rentals (landlord)", "landlord"),
    ("城市商业银行 City Commercial Bank (lender)", "lender"),
]
NAMES = ["王芳", "李伟", "张秀英", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷", "吴强",
         "徐丽", "孙杰", "胡军", "朱琳", "高峰", "林娜", "何涛", "郭霞", "马超", "罗艳",
         "梁斌", "宋佳", "郑浩", "谢颖"]
DIVISIONS = ["110105", "310104", "440305", "450403", "320402", "620102", "450103"]


def citizen_id(rng: random.Random, today: date) -> str:
    """Return a valid ID for a person aged 18 to 70 (division codes valid in their birth year)."""
    while True:
        born = today - timedelta(days=rng.randint(18 * 366, 70 * 365))
        body = f"{rng.choice(DIVISIONS)}{born:%Y%m%d}{rng.randint(1, 999):03d}"
        candidate = body + ric.calc_check_digit(body + "0")
        try:
            return normalise_citizen_id(candidate, today)
        except InvalidCitizenId:
            continue


def sample_payload(catalogue: Catalogue, category: Category, rng: random.Random, decided: date) -> dict[str, Any]:
    """Return a payload that satisfies the category's fields, built from their types."""
    payload: dict[str, Any] = {}
    notice = category.notice
    for spec in category.fields:
        if not spec.required and rng.random() < 0.4:
            continue
        if notice is not None and spec.name == notice.field:
            # Told well before the decision: the window's working days, with every day off between them.
            payload[spec.name] = (decided - timedelta(days=3 * notice.working_days + rng.randint(10, 60))).isoformat()
        elif spec.format is FieldFormat.UNIFIED_SOCIAL_CREDIT_CODE:
            body = f"9132{rng.choice(DIVISIONS)[2:]}{rng.randint(0, 10**9 - 1):09d}"
            payload[spec.name] = body + uscc.calc_check_digit(body)
        elif spec.type is FieldType.ENUM:
            payload[spec.name] = rng.choice(list(spec.enum or ()))
        elif spec.type is FieldType.CODE:
            payload[spec.name] = rng.choice([g.code for g in catalogue.occupational_groups])
        elif spec.type is FieldType.DATE:
            payload[spec.name] = (decided - timedelta(days=rng.randint(0, 90))).isoformat()
        elif spec.type is FieldType.DECIMAL:
            payload[spec.name] = f"{rng.randint(100, 50000)}.00"
        elif spec.type is FieldType.INTEGER:
            payload[spec.name] = rng.randint(1, 40)
        elif spec.type is FieldType.BOOLEAN:
            payload[spec.name] = rng.random() < 0.5
        else:
            payload[spec.name] = f"{spec.zh}（示例）"[: spec.max_length or 200]
    return payload


def seed(rt: Runtime, count: int) -> dict[str, Any]:
    """Create the demo data unless it exists; return the logins."""
    path = rt.settings.home / "demo-logins.json"
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        return saved
    rng = random.Random(20261122)
    today = rt.clock.now().date()
    ids = [citizen_id(rng, today) for _ in range(count)]
    providers = [clients.add_client(rt, role="provider", name=n, categories=c, kind=None, agency=a, level=lv)
                 for n, a, lv, c in AGENCIES]
    institutions = [clients.add_client(rt, role="institution", name=n, categories=[], kind=k)
                    for n, k in INSTITUTIONS]
    auditor = clients.add_client(rt, role="auditor", name="市信用办审计 Credit Office audit", categories=[],
                                 kind=None)
    logins: list[dict[str, str]] = []
    for index in range(count):
        cid = ids[index]
        name = NAMES[index % len(NAMES)]
        password = f"demo-pass-{index + 1:02d}"
        enrolment = people.enroll(rt, cid, name, "demo")
        people.activate(rt, cid, enrolment.activation_code, password, "demo")
        logins.append({"citizen_id": cid, "name": name, "password": password})
        for _ in range(rng.randint(1, 5)):
            _add_record(rt, rng, providers, cid, name, today)
    _consents(rt, ids, institutions[0])
    result = {
        "people": logins,
        "providers": [c.as_dict() for c in providers],
        "institutions": [c.as_dict() for c in institutions],
        "auditor": auditor.as_dict(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(result, handle, ensure_ascii=False, indent=2)
    return result


def _add_record(rt: Runtime, rng: random.Random, providers: list[clients.NewClient],
                cid: str, name: str, today: date) -> None:
    client = rng.choice(providers)
    category = rt.catalogue.category(rng.choice(client.categories))
    decided = today - timedelta(days=rng.randint(0, 4 * 365))
    if category.minimum_age is not None:  # a student-integrity record only from the day the person is of age
        decided = max(decided, category.minimum_age.reached_on(birth_date(cid)))
    document = Document(
        type=category.document_types[0] if category.document_types else "administrative_penalty_decision",
        number=f"示例〔{decided.year}〕{rng.randint(1, 999)}号",
        authority=client.name.split(" ")[0],
        effective_at=decided,
    )
    new = NewRecord(cid, name, category.code, decided, document, sample_payload(rt.catalogue, category, rng, decided))
    assert client.agency is not None
    provider = Provider(client.client_id, frozenset(client.categories), client.agency, client.level)
    prepared = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, new, today)
    with rt.uow.begin(AccessContext(actor=client.client_id, role="provider", basis="demo data")) as tx:
        rt.vault.ingest(tx, provider, [prepared])


def _consents(rt: Runtime, ids: list[str], employer: clients.NewClient) -> None:
    """The first person has a request waiting; the second approved one, and the employer queried once."""
    def ask(citizen_id: str) -> consents.RequestConsent:
        return consents.RequestConsent(
            institution_id=employer.client_id, kind=employer.kind, citizen_id=citizen_id,
            purpose="employment_screening", categories=None, reason="应聘会计岗位 Applicant for an accountant post",
            valid_for=Duration(days=7), max_uses=None)

    consents.request_consent(rt.uow, rt.vault, rt.policy, ask(ids[0]))
    if len(ids) > 1:
        request = consents.request_consent(rt.uow, rt.vault, rt.policy, ask(ids[1]))
        answer = consents.Answer(subject_ref=rt.vault.subject_ref(ids[1]), request_id=request.id)
        grant = consents.approve(rt.uow, rt.vault, rt.policy, answer).views[0]
        consents.serve_query(rt.uow, rt.vault, rt.policy, consents.Query(employer.client_id, grant.id))


def describe(logins: dict[str, Any]) -> str:
    """Return the logins as text for the terminal."""
    lines = ["Demo logins (also in XINYONG_HOME/demo-logins.json):", "", "People (log in at http://127.0.0.1:8000/login):"]
    lines += [f"  {p['citizen_id']}  {p['password']}  {p['name']}" for p in logins["people"][:5]]
    lines.append(f"  ... {len(logins['people'])} people in all")
    for title, key in (("Source agencies", "providers"), ("Institutions", "institutions")):
        lines += ["", f"{title} (client_credentials at POST /oauth/token):"]
        lines += [f"  {c['client_id']}  {c['client_secret']}  {c['name']}" for c in logins[key]]
    a = logins["auditor"]
    lines += ["", "Auditor:", f"  {a['client_id']}  {a['client_secret']}  {a['name']}"]
    return "\n".join(lines)
