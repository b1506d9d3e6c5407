"""Staff accounts of organisations: enrolment with a one-time code and a TOTP seed, login with a password then
a TOTP code (each code good once), limits on failures, disabling, and entries that name the member and the
organisation. On SQLite and PostgreSQL both (the `rt` fixture)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from audit import review
from audit.clock import FrozenClock
from audit.entries import AuditEntry
from audit.review import EntryFilter
from audit.tags import Outcome, Tag
from consent.durations import parse_duration
from consent.grants import RequestView
from gateway.errors import Forbidden, LoginRanOut, RateLimited, Unauthenticated
from gateway.models import Staff
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import consents
from gateway.usecases import staff as use
from gateway.usecases.staff import StaffMember
from tests.conftest import Auth, People

PASSWORD = "a staff passphrase, long enough"
HERE = "198.51.100.7"


@dataclass
class Enrolled:
    staff_id: str
    org_id: str
    secret: str


def _org(rt: Runtime, role: str = "institution") -> str:
    return client_use.add_client(rt, role=role, name=f"某{role}", categories=[],
                                 kind="employer" if role == "institution" else None).client_id


def _enrol(rt: Runtime, clock: FrozenClock, org_id: str, role: str | None = None) -> Enrolled:
    added = use.add_staff(rt, org_id, "王经办", role)
    started = use.start_enrolment(rt, added.staff_id, added.enrolment_code, PASSWORD, HERE)
    use.confirm_enrolment(rt, added.staff_id, started.token, use.code_at(started.secret, clock.now()), HERE)
    clock.advance(seconds=30)  # the enrolment's code is spent; the login uses the next one
    return Enrolled(added.staff_id, org_id, started.secret)


def _log_in(rt: Runtime, clock: FrozenClock, who: Enrolled) -> use.StaffLogin:
    pending = use.check_password(rt, who.staff_id, PASSWORD, HERE)
    return use.check_code(rt, pending.token, use.code_at(who.secret, clock.now()), HERE)


@pytest.fixture
def officer(rt: Runtime, clock: FrozenClock) -> Enrolled:
    return _enrol(rt, clock, _org(rt))


def _entries(rt: Runtime, **conditions: str) -> list[review.EntryView]:
    with rt.sessions() as session, session.begin():
        return review.newest_first(session, EntryFilter(**conditions), before=None, limit=100)


def test_a_member_enrolled_with_the_code_and_a_first_totp_code_logs_in_with_password_then_code(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    done = _log_in(rt, clock, officer)
    assert done.member.staff_id == officer.staff_id
    assert done.member.org_id == officer.org_id
    assert done.member.org_role == "institution"
    assert use.session_member(rt, done.session_token) == done.member


def test_the_enrolment_shows_an_otpauth_uri_and_seals_the_seed(rt: Runtime, officer: Enrolled) -> None:
    with rt.sessions() as session, session.begin():
        row = session.get(Staff, officer.staff_id)
        assert row is not None
        assert row.totp_sealed is not None
        assert officer.secret.encode() not in row.totp_sealed
        assert officer.secret not in str(row.password_hash)


def test_the_enrolment_code_is_good_once(rt: Runtime, clock: FrozenClock) -> None:
    added = use.add_staff(rt, _org(rt), "李审核")
    use.start_enrolment(rt, added.staff_id, added.enrolment_code, PASSWORD, HERE)
    with pytest.raises(Unauthenticated):
        use.start_enrolment(rt, added.staff_id, added.enrolment_code, PASSWORD, HERE)


def test_an_enrolment_code_past_its_validity_is_refused(rt: Runtime, clock: FrozenClock) -> None:
    added = use.add_staff(rt, _org(rt), "李审核")
    clock.advance(seconds=use.rules().enrolment_code_valid.total_seconds() + 1)
    with pytest.raises(Unauthenticated):
        use.start_enrolment(rt, added.staff_id, added.enrolment_code, PASSWORD, HERE)


def test_a_member_who_has_not_confirmed_the_first_code_cannot_log_in(rt: Runtime, clock: FrozenClock) -> None:
    added = use.add_staff(rt, _org(rt), "李审核")
    use.start_enrolment(rt, added.staff_id, added.enrolment_code, PASSWORD, HERE)
    with pytest.raises(Unauthenticated):
        use.check_password(rt, added.staff_id, PASSWORD, HERE)


def test_a_totp_code_is_accepted_once_and_its_replay_is_refused(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    code = use.code_at(officer.secret, clock.now())
    first = use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    use.check_code(rt, first.token, code, HERE)
    second = use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    with pytest.raises(Unauthenticated):
        use.check_code(rt, second.token, code, HERE)
    # An older code within the window is refused too: only codes newer than the last one accepted count.
    earlier = use.code_at(officer.secret, clock.now() - timedelta(seconds=30))
    with pytest.raises(Unauthenticated):
        use.check_code(rt, second.token, earlier, HERE)
    clock.advance(seconds=30)
    assert use.check_code(rt, second.token, use.code_at(officer.secret, clock.now()), HERE).member


def test_a_wrong_code_or_password_is_refused_and_audited_under_the_member_and_organisation(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    with pytest.raises(Unauthenticated):
        use.check_password(rt, officer.staff_id, "not the passphrase", HERE)
    pending = use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    wrong = f"{(int(use.code_at(officer.secret, clock.now())) + 1) % 1_000_000:06d}"
    with pytest.raises(Unauthenticated):
        use.check_code(rt, pending.token, wrong, HERE)
    denied = _entries(rt, action=Tag.STAFF_LOGIN_DENIED, staff=officer.staff_id)
    assert [(e.reason, e.actor, e.outcome) for e in denied] == [
        ("bad_totp_code", officer.org_id, Outcome.DENIED), ("bad_password", officer.org_id, Outcome.DENIED)]


def test_an_unknown_staff_id_is_the_same_refusal_and_is_not_kept(rt: Runtime) -> None:
    with pytest.raises(Unauthenticated, match="staff id or password"):
        use.check_password(rt, "11010519491231002X", PASSWORD, HERE)
    with rt.sessions() as session, session.begin():
        texts = [str(e.detail) + str(e.actor) for e in session.scalars(select(AuditEntry))]
    assert not any("11010519491231002X" in text for text in texts)


@pytest.mark.parametrize("typed", ["stf_\x00", "x" * 500, "stf_0123456789abcdef\n"])
def test_a_staff_id_of_no_possible_member_is_the_same_refusal(rt: Runtime, typed: str) -> None:
    with pytest.raises(Unauthenticated, match="staff id or password"):
        use.check_password(rt, typed, PASSWORD, HERE)
    with pytest.raises(Unauthenticated):
        use.start_enrolment(rt, typed, "ABCD-EFGH-JKMN", PASSWORD, HERE)


def test_wrong_codes_and_passwords_count_together_against_the_staff_limit(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    limit = next(x for x in rt.settings.failure_limits.staff_login if x.scope == "account_at_address")
    pending = use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    for _ in range(limit.failures - 2):
        with pytest.raises(Unauthenticated):
            use.check_code(rt, pending.token, "000000" if use.code_at(officer.secret, clock.now()) != "000000"
                           else "111111", HERE)
    with pytest.raises(Unauthenticated):
        use.check_password(rt, officer.staff_id, "wrong", HERE)
    with pytest.raises(RateLimited):
        use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    # Another address is not held back by these failures.
    assert use.check_password(rt, officer.staff_id, PASSWORD, "203.0.113.9").token


def test_a_disabled_member_cannot_log_in_and_their_sessions_end(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    done = _log_in(rt, clock, officer)
    clock.advance(seconds=30)
    pending = use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    use.disable_staff(rt, officer.staff_id)
    assert use.session_member(rt, done.session_token) is None
    with pytest.raises(Unauthenticated):
        use.check_code(rt, pending.token, use.code_at(officer.secret, clock.now()), HERE)
    with pytest.raises(Unauthenticated):
        use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    assert [v.state for v in use.list_staff(rt, officer.org_id)] == ["disabled"]


def test_a_member_of_a_disabled_organisation_is_refused(rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    done = _log_in(rt, clock, officer)
    client_use.disable_client(rt, officer.org_id)
    assert use.session_member(rt, done.session_token) is None
    with pytest.raises(Unauthenticated):
        use.check_password(rt, officer.staff_id, PASSWORD, HERE)


def test_logout_ends_the_session_and_a_session_ends_at_its_absolute_end(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    done = _log_in(rt, clock, officer)
    use.logout(rt, done.session_token)
    assert use.session_member(rt, done.session_token) is None
    clock.advance(seconds=30)
    again = _log_in(rt, clock, officer)
    clock.advance(hours=rt.settings.session_max_hours, seconds=1)
    assert use.session_member(rt, again.session_token) is None


def test_half_a_login_is_no_session_and_runs_out(rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    pending = use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    assert use.session_member(rt, pending.token) is None
    clock.advance(seconds=use.rules().second_factor.total_seconds() + 1)
    with pytest.raises(LoginRanOut):
        use.check_code(rt, pending.token, use.code_at(officer.secret, clock.now()), HERE)


def test_what_a_member_does_is_audited_under_the_member_and_the_organisation(
        rt: Runtime, clock: FrozenClock, officer: Enrolled, people: People) -> None:
    member = _log_in(rt, clock, officer).member
    acting = use.acting(rt, member)
    made: RequestView = consents.request_consent(acting.uow, acting.vault, acting.policy, consents.RequestConsent(
        institution_id=member.org_id, kind=member.org_kind, citizen_id=people.new(), purpose="employment_screening",
        categories=None, reason="会计岗位应聘", valid_for=parse_duration("P7D"), max_uses=None))
    assert made.status == "pending"
    mine = _entries(rt, staff=officer.staff_id)
    assert {e.action for e in mine} >= {Tag.CONSENT_REQUESTED, Tag.STAFF_LOGIN, Tag.STAFF_ENROLLED}
    assert all(e.actor == officer.org_id and e.detail["staff"] == officer.staff_id for e in mine)
    # The organisation's own filter (actor) finds them too; another member's filter does not.
    assert {e.seq for e in mine} <= {e.seq for e in _entries(rt, actor=officer.org_id)}
    assert _entries(rt, staff="stf_0000000000000000") == []


def test_the_api_s_own_entries_for_an_organisation_name_no_member(rt: Runtime, officer: Enrolled,
                                                                  people: People) -> None:
    consents.request_consent(rt.uow, rt.vault, rt.policy, consents.RequestConsent(
        institution_id=officer.org_id, kind="employer", citizen_id=people.new(), purpose="employment_screening",
        categories=None, reason="会计岗位应聘", valid_for=parse_duration("P7D"), max_uses=None))
    made = _entries(rt, action=Tag.CONSENT_REQUESTED, actor=officer.org_id)
    assert len(made) == 1
    assert "staff" not in made[0].detail


def test_a_viewer_may_view_but_not_act(rt: Runtime, clock: FrozenClock) -> None:
    viewer = _enrol(rt, clock, _org(rt, "auditor"), role="viewer")
    member: StaffMember = _log_in(rt, clock, viewer).member
    assert member.may("view")
    assert not member.may("act")
    with pytest.raises(Forbidden):
        use.require_act(member)


def test_staff_are_added_only_to_an_enabled_organisation_with_a_known_role(rt: Runtime) -> None:
    with pytest.raises(use.StaffInvalid, match="not an enabled organisation"):
        use.add_staff(rt, "inst_nobody", "王五")
    with pytest.raises(use.StaffInvalid, match="not a staff role"):
        use.add_staff(rt, _org(rt), "王五", "boss")
    with pytest.raises(use.StaffInvalid, match="name"):
        use.add_staff(rt, _org(rt), "  ")


def test_a_reset_spends_the_old_seed_and_password_and_gives_a_new_code(
        rt: Runtime, clock: FrozenClock, officer: Enrolled) -> None:
    done = _log_in(rt, clock, officer)
    again = use.reset_staff(rt, officer.staff_id)
    assert use.session_member(rt, done.session_token) is None
    with pytest.raises(Unauthenticated):
        use.check_password(rt, officer.staff_id, PASSWORD, HERE)
    started = use.start_enrolment(rt, officer.staff_id, again.enrolment_code, "another passphrase", HERE)
    assert started.secret != officer.secret


def test_an_auditor_filters_the_log_by_member_of_staff_and_the_filter_is_recorded(
        rt: Runtime, clock: FrozenClock, officer: Enrolled, auth: Auth, client: FlaskClient) -> None:
    auditor = auth.register("auditor")
    _log_in(rt, clock, officer)
    response = client.get(f"/api/v1/audit/entries?staff={officer.staff_id}", headers=auditor.headers)
    assert response.status_code == 200, response.json
    found = response.json["entries"]  # type: ignore[index]
    assert {e["action"] for e in found} == {Tag.STAFF_ENROLMENT_STARTED, Tag.STAFF_ENROLLED, Tag.STAFF_LOGIN}
    assert {(e["actor"], e["detail"]["staff"]) for e in found} == {(officer.org_id, officer.staff_id)}
    read = _entries(rt, action=Tag.AUDIT_READ, actor=auditor.client_id)
    assert read[0].detail["filters"] == {"staff": officer.staff_id}
