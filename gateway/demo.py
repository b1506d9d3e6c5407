"""Demo data that tells a story: agencies, institutions, an auditor and people, each there for a reason.

Each of the first people plays a scenario (a function in SCENARIOS): one has a consent request waiting,
one was queried by an employer and then had a record corrected (so the employer was told), one has an
objection open, one had a record repaired, one has only good records, one is proposed for the
serious-dishonesty list after notice; everyone else has a few ordinary
records. Every record lies inside its display period (dates counted back from today, China Standard Time)
and was filed on time, so an institution with consent sees what the person sees. A new scenario is one
more function appended to SCENARIOS, returning what its login shows.

Created once. The database decides whether the demo exists, not the logins file: run again on the same
database, `xinyong demo seed` prints the saved logins and changes nothing; on a database that was reset it
seeds afresh and replaces the stale file, whose logins would not work. The logins file lives in
XINYONG_HOME (never in git) with mode 0600.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from stdnum.cn import ric, uscc

from audit.clock import CST
from audit.tx import AccessContext
from consent import entry
from consent.catalogue import Catalogue, Category
from consent.durations import Duration, add_duration
from consent.errors import PayloadInvalid
from consent.fields import FieldFormat, FieldType
from gateway.errors import GatewayError
from gateway.models import Account, Client, Staff
from gateway.runtime import Runtime
from gateway.usecases import clients, consents, listings, objections, people, repairs, staff
from gateway.usecases import records as records_use
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
AUDITOR = "市信用办审计 Credit Office audit"
# One member of staff each for the portal's three areas (issue 12): the employer, the agency that files serious
# penalties and proposes the listing of the `listing_proposed` story, and the auditor.
STAFF = ["人事专员 Personnel officer", "执法科科员 Enforcement officer", "审计员 Auditor"]
LOGINS_FILE = "demo-logins.json"


class DemoMismatch(GatewayError):
    """The database holds demo data whose logins are not in the logins file (lost, or from another seed)."""


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


# --- the stage: what every scenario acts with ------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """A demo person: the login printed, and the reference the use cases take."""

    citizen_id: str
    name: str
    password: str
    subject_ref: str


@dataclass
class Stage:
    """The runtime, the registered agencies and institutions, and today (CST), for the scenarios."""

    rt: Runtime
    rng: random.Random
    today: date
    providers: list[clients.NewClient]
    institutions: dict[str, clients.NewClient]
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # record id -> payload, for corrections

    def provider(self, category: str) -> clients.NewClient:
        """Return the demo agency that files `category` (the first whose role may)."""
        return next(c for c in self.providers if category in c.categories)

    def record(self, actor: Actor, category: str, days_ago: int) -> str:
        """File a record decided `days_ago` days ago, on time and inside its display period; return its id."""
        client = self.provider(category)
        found = self.rt.catalogue.category(category)
        decided = self.today - timedelta(days=days_ago)
        if found.minimum_age is not None:  # a student-integrity record only from the day the person is of age
            decided = max(decided, found.minimum_age.reached_on(birth_date(actor.citizen_id)))
        for _ in range(20):  # a random payload may break a rule between its fields: draw again
            payload = sample_payload(self.rt.catalogue, found, self.rng, decided)
            try:
                ingested = _file(self.rt, client, actor, found, decided, payload, self.today,
                                 self.rng.randint(1, 999))
            except PayloadInvalid:
                continue
            self.payloads[ingested] = payload
            return ingested
        raise AssertionError(f"no valid demo payload for {category}")

    def ask(self, actor: Actor, kind: str, purpose: str, reason: str) -> str:
        """Have the institution of `kind` ask the person for consent; return the request id."""
        institution = self.institutions[kind]
        return consents.request_consent(self.rt.uow, self.rt.vault, self.rt.policy, consents.RequestConsent(
            institution_id=institution.client_id, kind=institution.kind, citizen_id=actor.citizen_id,
            purpose=purpose, categories=None, reason=reason, valid_for=Duration(days=7), max_uses=None)).id

    def as_provider(self, category: str) -> Provider:
        """Return the agency filing `category` as the use cases take it."""
        client = self.provider(category)
        assert client.agency is not None
        return Provider(client.client_id, frozenset(client.categories), client.agency, client.level)


def _file(rt: Runtime, client: clients.NewClient, actor: Actor, category: Category, decided: date,
          payload: dict[str, Any], today: date, number: int) -> str:
    document = Document(
        type=category.document_types[0] if category.document_types else "administrative_penalty_decision",
        number=f"示例〔{decided.year}〕{number}号",
        authority=client.name.split(" ")[0],
        effective_at=decided,
    )
    new = NewRecord(actor.citizen_id, actor.name, category.code, decided, document, payload)
    assert client.agency is not None
    provider = Provider(client.client_id, frozenset(client.categories), client.agency, client.level)
    # Filed the day after the decision, as an agency that keeps its publication deadline does (DISC-4): a record
    # filed late is kept for the auditors and never shown to third parties, which would spoil every demo query.
    prepared = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, new, min(today, decided + timedelta(1)))
    with rt.uow.begin(AccessContext(actor=client.client_id, role="provider", basis="demo data")) as tx:
        [stored] = rt.vault.ingest(tx, provider, [prepared])
    return stored.id


def _inside(category: Category, rng: random.Random, today: date) -> int:
    """Return how many days ago a record may have been decided and still be shown today, well inside."""
    period = (add_duration(today, category.display_period) - today).days
    return rng.randint(max(1, period // 10), max(2, period // 2))


# --- the scenarios: each plays one person's story and says what their login shows -------------------------

Scenario = Callable[[Stage, Actor], str]
EMPLOYMENT_REASON = "应聘会计岗位 Applicant for an accountant post"


def waiting_for_consent(stage: Stage, actor: Actor) -> str:
    """A serious penalty and a broken commitment; an employer's request waits for the person's answer."""
    stage.record(actor, "ADMINISTRATIVE_PENALTY_SERIOUS", 400)
    stage.record(actor, "CREDIT_COMMITMENT_BREACH", 60)
    stage.ask(actor, "employer", "employment_screening", EMPLOYMENT_REASON)
    return ("一项授权请求待处理（星海科技，入职信用核查），可缩小范围后同意或拒绝 · A consent request waits "
            "(employer, employment screening): approve with narrowing, or deny")


def queried_then_corrected(stage: Stage, actor: Actor) -> str:
    """The employer queried with consent; then the agency corrected a record it had received (OBJ-5)."""
    penalty = stage.record(actor, "ADMINISTRATIVE_PENALTY_SERIOUS", 200)
    stage.record(actor, "OCCUPATIONAL_MISCONDUCT", 90)
    rt = stage.rt
    request = stage.ask(actor, "employer", "employment_screening", EMPLOYMENT_REASON)
    grant = consents.approve(rt.uow, rt.vault, rt.policy, consents.Answer(actor.subject_ref, request)).views[0]
    consents.serve_query(rt.uow, rt.vault, rt.policy, consents.Query(stage.institutions["employer"].client_id,
                                                                     grant.id))
    provider = stage.as_provider("ADMINISTRATIVE_PENALTY_SERIOUS")
    corrected = {**stage.payloads[penalty], "penalty_content": "罚款人民币1500元（更正）"}
    records_use.correct(rt, provider, records_use.Correction(penalty, corrected, "主动更正罚款金额 amount corrected"),
                        AccessContext(actor=provider.client_id, role="provider", basis="demo data"))
    return ("雇主已凭授权查询；其后一条记录被更正，雇主已收到更正通知，本人收到通知 · Queried by the employer with "
            "consent; a record was then corrected, the employer was told and the person notified")


def objection_open(stage: Stage, actor: Actor) -> str:
    """Tax arrears the person says were paid: an objection waits for the tax office to accept it."""
    arrears = stage.record(actor, "TAX_ARREARS", 45)
    stage.record(actor, "ADMINISTRATIVE_PENALTY_MINOR", 20)
    objections.file_objection(stage.rt, objections.FileObjection(
        actor.subject_ref, arrears, "税款已于决定前缴清 The tax was paid before the decision"))
    return ("一项异议处理中（欠税记录），可看到受理期限 · An objection is open (tax arrears), with its deadline")


def repaired(stage: Stage, actor: Actor) -> str:
    """A general penalty repaired after the fine was paid: no longer shared (REP-8, REP-9)."""
    penalty = stage.record(actor, "ADMINISTRATIVE_PENALTY_GENERAL", 150)
    stage.record(actor, "CREDIT_COMMITMENT", 30)
    applied = repairs.apply(stage.rt, repairs.ApplyForRepair(
        actor.subject_ref, penalty, ["performance"], "罚款已缴清 The fine is paid",
        "本人承诺守法 I will abide by the law"))
    repairs.decide(stage.rt, repairs.DecideRepair(
        stage.as_provider("ADMINISTRATIVE_PENALTY_GENERAL"), applied["id"], "repaired",
        "已履行处罚决定 The decision was carried out", "stop_sharing"))
    return "一条记录已信用修复，不再向第三方提供 · A record was repaired and is no longer shared"


def listing_proposed(stage: Stage, actor: Actor) -> str:
    """A serious penalty on which the agency proposes a black listing: told first, may object (LIST-4, LIST-5)."""
    penalty = stage.record(actor, "ADMINISTRATIVE_PENALTY_SERIOUS", 120)
    kind = stage.rt.policy.lists.kinds["black"]
    listings.propose(stage.rt, listings.ProposeListing(
        stage.as_provider("ADMINISTRATIVE_PENALTY_SERIOUS"), penalty, "black",
        "拒不履行行政处罚决定 Refused to carry out a penalty decision",
        "严重失信主体名单认定标准 The national standard for the serious-dishonesty list",
        [next(iter(kind.measures))]))
    return ("市场监管局拟将其列入严重失信主体名单：已告知事由、依据和权利，可在期限内提出异议 · Proposed for the "
            "serious-dishonesty list: told the reason, basis and rights, and may object within the window")


def good_records(stage: Stage, actor: Actor) -> str:
    """Only good records: a commendation, volunteer service and a donation (incentives, EVAL-1)."""
    for category in ("COMMENDATION", "VOLUNTEER_SERVICE", "CHARITABLE_DONATION"):
        stage.record(actor, category, _inside(stage.rt.catalogue.category(category), stage.rng, stage.today))
    return "只有正面记录（表彰、志愿服务、捐赠）· Only good records (commendation, volunteering, a donation)"


def ordinary(stage: Stage, actor: Actor) -> str:
    """One to four records of the kinds the agencies file, each inside its display period."""
    count = stage.rng.randint(1, 4)
    for _ in range(count):
        client = stage.rng.choice(stage.providers)
        category = stage.rt.catalogue.category(stage.rng.choice(client.categories))
        stage.record(actor, category.code, _inside(category, stage.rng, stage.today))
    return f"{count} 条记录 · {count} records"


# The people's stories, in the order of the logins; everyone after them is `ordinary`.
SCENARIOS: list[Scenario] = [waiting_for_consent, queried_then_corrected, objection_open, repaired, good_records,
                             listing_proposed]


# --- seeding once, checked against the database ----------------------------------------------------------


def seed(rt: Runtime, count: int) -> dict[str, Any]:
    """Create the demo data unless the database holds it; return the logins (with what each shows)."""
    path = rt.settings.home / LOGINS_FILE
    if _seeded(rt):
        return _saved(rt, path)
    rng = random.Random(20261122)
    today = rt.clock.now().astimezone(CST).date()
    providers = [clients.add_client(rt, role="provider", name=n, categories=c, kind=None, agency=a, level=lv)
                 for n, a, lv, c in AGENCIES]
    institutions = [clients.add_client(rt, role="institution", name=n, categories=[], kind=k)
                    for n, k in INSTITUTIONS]
    auditor = clients.add_client(rt, role="auditor", name=AUDITOR, categories=[], kind=None)
    members = [staff.add_staff(rt, org.client_id, name) for org, name in zip(
        (institutions[0], providers[0], auditor), STAFF, strict=True)]
    stage = Stage(rt, rng, today, providers, {c.kind or "": c for c in institutions})
    logins: list[dict[str, str]] = []
    for index in range(count):
        actor = _enrol(rt, citizen_id(rng, today), NAMES[index % len(NAMES)], f"demo-pass-{index + 1:02d}")
        play = SCENARIOS[index] if index < len(SCENARIOS) else ordinary
        shows = play(stage, actor)
        logins.append({"citizen_id": actor.citizen_id, "name": actor.name, "password": actor.password,
                       "shows": shows})
    result = {
        "people": logins,
        "providers": [c.as_dict() for c in providers],
        "institutions": [c.as_dict() for c in institutions],
        "auditor": auditor.as_dict(),
        "staff": [{"staff_id": m.staff_id, "enrolment_code": m.enrolment_code, "name": m.name,
                   "org_id": m.org_id, "role": m.role, "enrolment_expires_at": m.expires_at} for m in members],
    }
    _write(path, result)
    return result


def _enrol(rt: Runtime, cid: str, name: str, password: str) -> Actor:
    enrolment = people.enroll(rt, cid, name, "demo")
    people.activate(rt, cid, enrolment.activation_code, password, "demo")
    return Actor(cid, name, password, rt.vault.subject_ref(cid))


def _seeded(rt: Runtime) -> bool:
    """Return whether the database holds the demo (its auditor, registered by the first seed)."""
    with rt.sessions() as session, session.begin():
        return session.execute(select(Client.client_id).where(Client.role == "auditor", Client.name == AUDITOR)
                               .limit(1)).first() is not None


def _saved(rt: Runtime, path: Path) -> dict[str, Any]:
    """Return the saved logins if every client and person in them is in the database; else DemoMismatch."""
    saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    ids = {c["client_id"] for c in [*saved.get("providers", []), *saved.get("institutions", [])]}
    ids |= {saved["auditor"]["client_id"]} if "auditor" in saved else set()
    refs = {rt.vault.subject_ref(p["citizen_id"]) for p in saved.get("people", [])}
    members = {m["staff_id"] for m in saved.get("staff", [])}
    with rt.sessions() as session, session.begin():
        clients_found = set(session.execute(select(Client.client_id).where(Client.client_id.in_(ids))).scalars())
        accounts = set(session.execute(select(Account.subject_ref).where(
            Account.subject_ref.in_(refs), Account.password_hash.is_not(None))).scalars())
        staff_found = set(session.execute(select(Staff.staff_id).where(Staff.staff_id.in_(members))).scalars())
    if not saved or clients_found != ids or accounts != refs or staff_found != members:
        raise DemoMismatch(f"the database already holds demo data, but {path} does not hold its logins (lost, or "
                           "from another database); reset the database (xinyong init on an empty one) to seed again")
    return saved


def _write(path: Path, result: dict[str, Any]) -> None:
    """Replace the logins file (mode 0600 from its creation; a stale one from a reset database goes)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(result, handle, ensure_ascii=False, indent=2)


def describe(logins: dict[str, Any]) -> str:
    """Return the logins as text for the terminal: each person with what their login shows."""
    lines = ["Demo logins (also in XINYONG_HOME/demo-logins.json):", "",
             "People (log in at http://127.0.0.1:8000/login):"]
    for person in logins["people"]:
        lines.append(f"  {person['citizen_id']}  {person['password']}  {person['name']}")
        lines.append(f"      {person.get('shows', '')}")
    for title, key in (("Source agencies", "providers"), ("Institutions", "institutions")):
        lines += ["", f"{title} (client_credentials at POST /oauth/token):"]
        lines += [f"  {c['client_id']}  {c['client_secret']}  {c['name']}" for c in logins[key]]
    a = logins["auditor"]
    lines += ["", "Auditor:", f"  {a['client_id']}  {a['client_secret']}  {a['name']}"]
    if logins.get("staff"):
        lines += ["", "Staff (enrol once at http://127.0.0.1:8000/staff/enrol with the code, then log in at "
                  "/staff/login; the code works until it is used or expires):"]
        lines += [f"  {m['staff_id']}  {m['enrolment_code']}  {m['name']}  ({m['org_id']})" for m in logins["staff"]]
    return "\n".join(lines)
