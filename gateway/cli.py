"""The `xinyong` command: set-up, service, clients, people, records and keys."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from tqdm import tqdm

from audit.tags import Tag
from consent.catalogue import load_default
from consent.models import Catalogue as CatalogueRow
from gateway.config import Settings, from_environ
from gateway.database import make_engine, upgrade
from gateway.runtime import Runtime, build_runtime
from vault.errors import KeyringError, SubjectNotFound, VaultError
from vault.vault import Vault

if TYPE_CHECKING:
    from gateway.usecases.clients import ClientView


def _settings() -> Settings:
    return from_environ()


def _runtime() -> Runtime:
    try:
        return build_runtime(_settings())
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else text)


@click.group()
def main() -> None:
    """Xinyong (信用): personal public credit information service."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init(as_json: bool) -> None:
    """Create or upgrade the schema, load the catalogue, and create the keyring if missing."""
    settings = _settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    created_keyring = Vault.create_keyring(settings.keyring_path)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    catalogue = load_default()
    from audit.clock import SystemClock

    with engine.begin() as conn:
        migrated = _migrated_providers(conn)
        loaded = conn.execute(
            select(CatalogueRow.version).where(CatalogueRow.version == catalogue.version)
        ).scalar_one_or_none()
        if loaded is None:
            conn.execute(insert(CatalogueRow).values(
                version=catalogue.version, document=catalogue.raw, loaded_at=SystemClock().now()))
    engine.dispose()
    _emit(as_json, {
        "home": str(settings.home),
        "database": engine.url.render_as_string(hide_password=True),
        "keyring": str(settings.keyring_path),
        "keyring_created": created_keyring,
        "catalogue_version": catalogue.version,
        "providers_migrated": migrated,
    }, f"initialised {settings.home} (catalogue {catalogue.version}, keyring "
       f"{'created' if created_keyring else 'kept'} at {settings.keyring_path})"
       + (f"\n{migrated['derived'] + migrated['legacy']} providers registered before agency roles were migrated: "
          f"{migrated['derived']} given the role that files what they file, {migrated['legacy']} marked legacy; "
          "see `xinyong clients list`, and confirm or change a role with `xinyong clients set-agency`"
          if migrated["derived"] or migrated["legacy"] else ""))


def _migrated_providers(conn: Connection) -> dict[str, int]:
    """Return how many providers migration 0008 gave a role (derived) or marked legacy, still unconfirmed."""
    from consent.catalogue import LEGACY_AGENCY
    from gateway.models import Client

    rows = conn.execute(select(Client.agency, func.count()).where(
        Client.role == "provider", Client.agency_migrated.is_(True)).group_by(Client.agency)).all()
    legacy = sum(int(n) for agency, n in rows if agency == LEGACY_AGENCY)
    return {"derived": sum(int(n) for _agency, n in rows) - legacy, "legacy": legacy}


# The path without its query string (%(U)s): a query string may carry a citizen ID (an auditor's
# person filter), and nothing may log one.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API and the portal with gunicorn."""
    rt = _runtime()  # fail here, with the message naming `xinyong init`, rather than in every worker
    if not rt.settings.development and not rt.settings.public_url:
        # Client assertions name the token endpoint they are for; without the public URL the service cannot
        # tell one minted for it from one minted for another server (RFC 7523 §3).
        raise click.ClickException("set XINYONG_PUBLIC_URL to the service's public base URL (for example "
                                   "https://credit.example.gov.cn), or XINYONG_ENV=development on your own machine")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # Forwarded headers are believed only as XINYONG_TRUSTED_PROXIES says (the app's ProxyFix), never because
    # gunicorn trusts a proxy on this machine by default: one setting decides. The workers count their metrics
    # into files in PROMETHEUS_MULTIPROC_DIR, summed at each scrape (prometheus-client's multiprocess mode).
    args = [str(gunicorn), "--bind", f"{host}:{port}", "--workers", str(workers), "--forwarded-allow-ips", "",
            "--env", f"{METRICS_DIR_VARIABLE}={_fresh_metrics_dir(rt.settings)}",
            "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT, "gateway.web.app:create_app()"]
    os.execv(args[0], args)  # noqa: S606 - replaces this process with gunicorn; no shell, fixed argv


METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _fresh_metrics_dir(settings: Settings) -> Path:
    """Return the directory where gunicorn's workers keep their metrics, emptied of a previous run's files.

    prometheus-client's multiprocess mode sums the files of every worker there; files left by an earlier
    run would be counted again, so they go (only its `*.db` files: the directory may be the operator's).
    """
    chosen = os.environ.get(METRICS_DIR_VARIABLE) or str(settings.home / "metrics")
    path = Path(chosen)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


@main.group()
def clients() -> None:
    """OAuth clients: source agencies, institutions, auditors."""


@clients.command("add")
@click.option("--role", type=click.Choice(["provider", "institution", "auditor"]), required=True)
@click.option("--name", required=True)
@click.option("--categories", default="", help="Comma-separated category codes (providers).")
@click.option("--kind", default=None, help="Institution kind (employer, landlord, lender, agency).")
@click.option("--agency", default=None,
              help="Providers: the agency role, a code of the catalogue's provider_roles (court, tax, ...).")
@click.option("--level", default=None,
              help="Providers: the agency's administrative level (township, county, city, province, national); "
                   "needed for serious-dishonesty lists (county or above).")
@click.option("--jwks", "jwks_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Institutions: a JSON file with the client's public JWK Set; it then authenticates with "
                   "private_key_jwt and gets no secret.")
@click.option("--json", "as_json", is_flag=True)
def clients_add(role: str, name: str, categories: str, kind: str | None, agency: str | None, level: str | None,
                jwks_file: Path | None, as_json: bool) -> None:
    """Register a client; its secret is printed once and only its hash is kept."""
    from gateway.usecases import clients as use

    jwks = _read_jwks(jwks_file) if jwks_file is not None else None
    rt = _runtime()
    try:
        created = use.add_client(rt, role=role, name=name,
                                 categories=[c for c in categories.split(",") if c], kind=kind, jwks=jwks,
                                 agency=agency, level=level)
    except use.ClientInvalid as exc:
        raise click.ClickException(str(exc)) from None
    credential = (f"client_secret: {created.client_secret}\n" if created.client_secret is not None
                  else "auth method:   private_key_jwt (no secret)\n")
    _emit(as_json, created.as_dict(),
          f"client_id:     {created.client_id}\n{credential}"
          f"scope:         {created.scope}\n"
          + (f"agency:        {created.agency}{f' ({created.level} level)' if created.level else ''}\n"
             if created.agency else "")
          + ("(the secret is shown only now)" if created.client_secret else ""))


@clients.command("disable")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def clients_disable(client_id: str, as_json: bool) -> None:
    """Disable a client: it gets no new token and its tokens are revoked (workers that cached one: within 30 s)."""
    from gateway.usecases import clients as use

    rt = _runtime()
    try:
        revoked = use.disable_client(rt, client_id)
    except use.ClientInvalid as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, {"client_id": client_id, "disabled": True, "tokens_revoked": revoked},
          f"{client_id} disabled; {revoked} tokens revoked (a worker may honour a cached one for up to 30 s)")


@clients.command("list")
@click.option("--role", type=click.Choice(["provider", "institution", "auditor"]), default=None)
@click.option("--json", "as_json", is_flag=True)
def clients_list(role: str | None, as_json: bool) -> None:
    """List the registered clients; for providers their agency role and level, flagging migrated ones."""
    from gateway.usecases import clients as use

    found = use.list_clients(_runtime(), role)
    _emit(as_json, {"clients": [c.as_dict() for c in found]}, "\n".join(_client_line(c) for c in found)
          or "no clients")


def _client_line(c: ClientView) -> str:
    state = " (disabled)" if c.disabled else ""
    if c.role != "provider":
        return f"{c.client_id}  {c.role}{f' {c.kind}' if c.kind else ''}  {c.name}{state}"
    where = f"{c.agency}/{c.level}" if c.level else str(c.agency)
    if c.legacy:
        note = ("  [legacy, migrated: files its registered categories unchecked by role and level; "
                f"give it a role with `xinyong clients set-agency {c.client_id} --agency ... --level ...`]")
    elif c.migrated:
        note = "  [migrated: role derived from its registered categories; confirm with `clients set-agency`]"
    else:
        note = ""
    return f"{c.client_id}  provider {where}  {','.join(c.categories)}  {c.name}{state}{note}"


@clients.command("set-agency")
@click.argument("client_id")
@click.option("--agency", required=True, help="The agency role, a code of the catalogue's provider_roles.")
@click.option("--level", default=None, help="The agency's administrative level (township ... national).")
@click.option("--json", "as_json", is_flag=True)
def clients_set_agency(client_id: str, agency: str, level: str | None, as_json: bool) -> None:
    """Give a provider (one migrated as legacy, say) an agency role and level that may file its categories."""
    from gateway.usecases import clients as use

    try:
        view = use.set_agency(_runtime(), client_id, agency, level)
    except use.ClientInvalid as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, view.as_dict(), _client_line(view))


def _read_jwks(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: not a readable JSON file ({exc})") from None


@main.group()
def staff() -> None:
    """Members of staff of organisations: human portal accounts with a password and a TOTP code."""


@staff.command("add")
@click.option("--org", "org_id", required=True, help="The organisation: a registered client id (institution, "
                                                     "provider or auditor).")
@click.option("--name", required=True, help="The member's name, as their organisation knows them.")
@click.option("--role", default=None, help="A role of gateway/data/staff.json: officer (the default) or viewer.")
@click.option("--json", "as_json", is_flag=True)
def staff_add(org_id: str, name: str, role: str | None, as_json: bool) -> None:
    """Add a member of staff; print their staff id and a one-time enrolment code for /staff/enrol."""
    from gateway.usecases import staff as use

    try:
        added = use.add_staff(_runtime(), org_id, name, role)
    except use.StaffInvalid as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, added.as_dict(), _enrolment_text(added))


def _enrolment_text(added: Any) -> str:
    return (f"staff_id:        {added.staff_id}\n"
            f"enrolment code:  {added.enrolment_code} (valid until {added.expires_at})\n"
            f"the member enrols at {added.enrol_at}: the code, a password, then the QR code in an authenticator app\n"
            "(the code is shown only now)")


@staff.command("reset")
@click.argument("staff_id")
@click.option("--json", "as_json", is_flag=True)
def staff_reset(staff_id: str, as_json: bool) -> None:
    """Start a member's enrolment again (lost phone, code ran out): new code; password, TOTP and sessions end."""
    from gateway.usecases import staff as use

    try:
        added = use.reset_staff(_runtime(), staff_id)
    except use.StaffInvalid as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, added.as_dict(), _enrolment_text(added))


@staff.command("list")
@click.option("--org", "org_id", default=None, help="Only this organisation's members.")
@click.option("--json", "as_json", is_flag=True)
def staff_list(org_id: str | None, as_json: bool) -> None:
    """List the members of staff: id, organisation, role, state (awaiting_enrolment, enrolled, disabled)."""
    from gateway.usecases import staff as use

    found = use.list_staff(_runtime(), org_id)
    _emit(as_json, {"staff": [v.as_dict() for v in found]},
          "\n".join(f"{v.staff_id}  {v.org_id}  {v.role}  {v.state}  {v.name}" for v in found) or "no staff")


@staff.command("disable")
@click.argument("staff_id")
@click.option("--json", "as_json", is_flag=True)
def staff_disable(staff_id: str, as_json: bool) -> None:
    """Disable a member of staff: no more logins, and their sessions end at once (audited)."""
    from gateway.usecases import staff as use

    try:
        view = use.disable_staff(_runtime(), staff_id)
    except use.StaffInvalid as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, view.as_dict(), f"{view.staff_id} disabled; their sessions ended")


@main.group()
def subjects() -> None:
    """People: enrolment at a service counter, and erasure."""


@subjects.command("enroll")
@click.argument("citizen_id")
@click.option("--name", default=None, help="Name as on the identity document.")
@click.option("--operator", default="counter", show_default=True, help="Who checked the identity.")
@click.option("--json", "as_json", is_flag=True)
def subjects_enroll(citizen_id: str, name: str | None, operator: str, as_json: bool) -> None:
    """Print a one-time activation code for a person whose identity was checked in person."""
    from gateway.usecases import people

    rt = _runtime()
    try:
        enrolment = people.enroll(rt, citizen_id, name, operator)
    except VaultError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, {"activation_code": enrolment.activation_code, "expires_at": enrolment.expires_at},
          f"activation code: {enrolment.activation_code} (valid until {enrolment.expires_at})")


@subjects.command("erase")
@click.argument("citizen_id")
@click.option("--basis", required=True,
              help="The legal basis of the erasure (kept in the audit log: no names, no IDs).")
@click.option("--operator", default="operator", show_default=True, help="Who erases.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.option("--json", "as_json", is_flag=True)
def subjects_erase(citizen_id: str, basis: str, operator: str, yes: bool, as_json: bool) -> None:
    """Erase a person for good by crypto-shredding: their data key, identity, records, consents and login."""
    from gateway.errors import InvalidInput
    from gateway.usecases import retention

    try:
        retention.check_basis(basis)
    except InvalidInput as exc:
        raise click.BadParameter(exc.reason, param_hint="--basis") from None
    if not yes:
        click.confirm("Erase this person for good? Their data key is destroyed: nothing of their file can be "
                      "read again, by anyone", abort=True, err=True)
    rt = _runtime()
    try:
        erased = retention.erase_subject(rt, retention.EraseSubject(citizen_id, basis, operator))
    except VaultError as exc:
        message = "no person with this citizen ID (never known, or erased already)" if isinstance(
            exc, SubjectNotFound) else str(exc)
        raise click.ClickException(message) from None
    _checkpoint_after(rt)
    data = erased.to_public()
    _emit(as_json, data, f"erased: {erased.records} records made tombstones, {erased.grants_revoked} grants revoked, "
                         f"{erased.requests_lapsed} requests lapsed, {erased.reports_purged} reports purged")


@main.group()
def records() -> None:
    """Credit records."""


@records.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--provider", "provider_id", required=True, help="Client id of the source agency.")
@click.option("--json", "as_json", is_flag=True)
def records_import(file: Path, provider_id: str, as_json: bool) -> None:
    """Import a JSON Lines file of records; bad lines are reported with their number and reason."""
    from audit.tx import AccessContext
    from gateway.forked import WorkerFailed
    from gateway.usecases import clients as client_use
    from gateway.usecases import records as use

    rt = _runtime()
    try:
        provider = client_use.provider(rt, provider_id)
    except client_use.ClientInvalid as exc:
        raise click.ClickException(str(exc)) from None
    access = AccessContext(actor=provider_id, role="provider", basis="bulk import")
    try:
        with tqdm(total=file.stat().st_size, unit="B", unit_scale=True, desc="import", file=sys.stderr,
                  disable=None) as bar:
            report = use.import_file(rt, provider, file, access, progress=bar.update)
    except WorkerFailed as exc:
        raise click.ClickException(f"{exc}: the batches before it are stored, and importing the file again "
                                   "skips them") from None
    except (UnicodeDecodeError, OSError) as exc:  # met reading on, after the lines before were done
        raise click.ClickException(f"the file could not be read on as UTF-8 text ({type(exc).__name__}): the "
                                   "batches before it are stored, and importing the file again skips them") from None
    _checkpoint_after(rt)
    data = {"lines": report.lines, "created": report.created, "duplicates": report.duplicates,
            "errors": [{"line": n, "reason": r} for n, r in report.errors]}
    text = "\n".join([f"line {n}: {r}" for n, r in report.errors]
                     + [f"{report.lines} lines: {report.created} created, {report.duplicates} already present, "
                        f"{len(report.errors)} rejected"])
    _emit(as_json, data, text)
    if report.errors:
        sys.exit(1)


@records.command("reapply-periods")
@click.option("--json", "as_json", is_flag=True)
def records_reapply_periods(as_json: bool) -> None:
    """Give records still shown the longer end the catalogue's display rules now set (each change audited)."""
    from audit.tx import AccessContext
    from gateway.usecases import records as use

    rt = _runtime()
    changed = use.reapply_periods(rt, AccessContext(actor="operator", role="operator",
                                                    basis="catalogue display rules"))
    _checkpoint_after(rt)
    _emit(as_json, {"changed": changed}, f"{len(changed)} records given the end their category's rules set")


@records.command("expire")
@click.option("--dry-run", is_flag=True, help="Only count, per category, the records past retention.")
@click.option("--json", "as_json", is_flag=True)
def records_expire(dry_run: bool, as_json: bool) -> None:
    """Erase the records past their category's retention period after display, leaving tombstones (audited)."""
    from audit.tx import AccessContext
    from gateway.usecases import retention

    rt = _runtime()
    if dry_run:
        run = retention.preview(rt)
    else:
        run = retention.expire(rt, AccessContext(actor="operator", role="operator",
                                                 basis="catalogue retention periods"))
        _checkpoint_after(rt)
    lines = [f"{c.category}: {c.due} past retention"
             + (f", {c.held} held by an open objection or repair" if c.held else "")
             + ("" if dry_run else f", {run.erased.get(c.category, 0)} erased") for c in run.counts]
    total = ("nothing is past retention" if not run.counts else
             "dry run: nothing erased" if dry_run else f"{sum(run.erased.values())} records erased")
    _emit(as_json, run.to_public(), "\n".join([*lines, total]))


@main.group()
def objections() -> None:
    """Objections (异议) to an agency's records: its queue and its answers (as the API does)."""


def _agency_provider(rt: Runtime, provider_id: str) -> Any:
    from gateway.usecases import clients as client_use

    try:
        return client_use.provider(rt, provider_id)
    except client_use.ClientInvalid as exc:
        raise click.ClickException(str(exc)) from None


def _refused_as_click(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Return what an agency's step returns; a refusal (a step out of order, not found) is the command's error."""
    from consent.errors import ConsentError

    try:
        return call()
    except (ConsentError, VaultError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


def _objection_line(o: dict[str, Any]) -> str:
    late = " OVERDUE" if o["overdue"] else ""
    return f"{o['id']}  {o['status']:<9}  record {o['record_id']}  step {o['open_step'] or '-'} by " \
           f"{o['deadline'] or '-'}{late}"


@objections.command("list")
@click.option("--provider", "provider_id", required=True, help="Client id of the agency that produced the records.")
@click.option("--status", type=click.Choice(["submitted", "accepted", "refused", "corrected", "revoked", "upheld"]),
              help="Default: the open ones.")
@click.option("--json", "as_json", is_flag=True)
def objections_list(provider_id: str, status: str | None, as_json: bool) -> None:
    """List the objections to the agency's records, the oldest deadline first."""
    from gateway.usecases import objections as use

    rt = _runtime()
    found = use.agency_queue(rt, _agency_provider(rt, provider_id), status, None)
    _emit(as_json, {"objections": found}, "\n".join(map(_objection_line, found)) or "no objections")


@objections.command("answer")
@click.argument("objection_id")
@click.option("--provider", "provider_id", required=True, help="Client id of the agency that produced the record.")
@click.option("--step", type=click.Choice(["accept", "refuse", "decide"]), required=True)
@click.option("--outcome", type=click.Choice(["revoked", "upheld"]),
              help="decide: revoked or upheld (a correction, with its payload, goes through the API).")
@click.option("--reason", help="refuse and decide: the words the person is told.")
@click.option("--json", "as_json", is_flag=True)
def objections_answer(objection_id: str, provider_id: str, step: str, outcome: str | None, reason: str | None,
                      as_json: bool) -> None:
    """Accept, refuse or decide one of the agency's objections; a step out of order names the current status."""
    from gateway.usecases import objections as use

    if step != "accept" and not reason:
        raise click.UsageError(f"--reason is required to {step}")
    if step == "decide" and outcome is None:
        raise click.UsageError("--outcome is required to decide")
    rt = _runtime()
    cmd = use.AgencyStep(_agency_provider(rt, provider_id), objection_id, step, reason=reason, outcome=outcome)
    found = _refused_as_click(lambda: use.agency_step(rt, cmd))
    _emit(as_json, found, _objection_line(found))


@objections.command("sweep")
@click.option("--json", "as_json", is_flag=True)
def objections_sweep(as_json: bool) -> None:
    """Record an audit entry for every objection step past its deadline (the service also does this)."""
    from gateway.usecases import objections as use

    recorded = use.record_overdue(_runtime())
    _emit(as_json, {"recorded": recorded}, f"{recorded} overdue steps recorded")


@main.group()
def repairs() -> None:
    """Credit repair (信用修复) of an agency's records: its queue and its decisions (as the API does)."""


def _repair_line(r: dict[str, Any]) -> str:
    late = " OVERDUE" if r["overdue"] else ""
    return f"{r['id']}  {r['status']:<9}  record {r['record_id']}  decide by {r['decide_by']}{late}"


@repairs.command("list")
@click.option("--provider", "provider_id", required=True, help="Client id of the agency that produced the records.")
@click.option("--status", type=click.Choice(["submitted", "repaired", "refused"]), help="Default: the open ones.")
@click.option("--json", "as_json", is_flag=True)
def repairs_list(provider_id: str, status: str | None, as_json: bool) -> None:
    """List the repair applications for the agency's records, the oldest deadline first."""
    from gateway.usecases import repairs as use

    rt = _runtime()
    found = use.agency_queue(rt, _agency_provider(rt, provider_id), status, None)
    _emit(as_json, {"repairs": found}, "\n".join(map(_repair_line, found)) or "no repair applications")


@repairs.command("decide")
@click.argument("repair_id")
@click.option("--provider", "provider_id", required=True, help="Client id of the agency that produced the record.")
@click.option("--outcome", type=click.Choice(["repaired", "refused"]), required=True)
@click.option("--effect", type=click.Choice(["stop_sharing", "mask", "delete", "mark"]),
              help="repaired: what the repair does (REP-8); no third party receives the record any more.")
@click.option("--reason", required=True, help="The words the person is told.")
@click.option("--json", "as_json", is_flag=True)
def repairs_decide(repair_id: str, provider_id: str, outcome: str, effect: str | None, reason: str,
                   as_json: bool) -> None:
    """Decide one of the agency's repair applications; one already decided names its status."""
    from gateway.usecases import repairs as use

    if (outcome == "repaired") != (effect is not None):
        raise click.UsageError("--effect is required to repair, and only then")
    rt = _runtime()
    cmd = use.DecideRepair(_agency_provider(rt, provider_id), repair_id, outcome, reason, effect)
    found = _refused_as_click(lambda: use.decide(rt, cmd))
    _emit(as_json, found, _repair_line(found))


@repairs.command("sweep")
@click.option("--json", "as_json", is_flag=True)
def repairs_sweep(as_json: bool) -> None:
    """Record an audit entry for every repair decision past its deadline (the service also does this)."""
    from gateway.usecases import repairs as use

    recorded = use.record_overdue(_runtime())
    _emit(as_json, {"recorded": recorded}, f"{recorded} overdue repair decisions recorded")


@main.group()
def listings() -> None:
    """Lists (名单): an agency's listings and the clocks that put them into effect and end them."""


def _listing_line(x: dict[str, Any]) -> str:
    clock = f"objection until {x['objection_until']}" if x["status"] == "proposed" else f"until {x['until'] or '-'}"
    waiting = " OBJECTION WAITING" if x["objection_open"] else ""
    return f"{x['id']}  {x['list']:<5}  {x['status']:<9}  record {x['record_id']}  {clock}{waiting}"


@listings.command("list")
@click.option("--provider", "provider_id", required=True, help="Client id of the agency that proposed them.")
@click.option("--status", type=click.Choice(["proposed", "in_effect", "suspended", "dropped", "ended"]),
              help="Default: those not ended.")
@click.option("--json", "as_json", is_flag=True)
def listings_list(provider_id: str, status: str | None, as_json: bool) -> None:
    """List the agency's listings with their clocks, the nearest first."""
    from gateway.usecases import listings as use

    rt = _runtime()
    found = use.agency_queue(rt, _agency_provider(rt, provider_id), status, None)
    _emit(as_json, {"listings": found}, "\n".join(map(_listing_line, found)) or "no listings")


@listings.command("run")
@click.option("--json", "as_json", is_flag=True)
def listings_run(as_json: bool) -> None:
    """Put into effect the proposed listings whose objection window has passed with no objection waiting, and
    end the listings whose period is over (the service also does this)."""
    from gateway.usecases import listings as use

    done = use.run_clock(_runtime())
    _emit(as_json, done, f"{len(done['took_effect'])} listings took effect, {len(done['ended'])} ended")


@main.group()
def declarations() -> None:
    """Voluntary registration (自愿注册): the declarations a competent agency verifies (as the API does)."""


def _declaration_line(d: dict[str, Any]) -> str:
    late = " OVERDUE" if d["overdue"] else ""
    became = f"  record {d['record_id']}" if d["record_id"] else ""
    return f"{d['id']}  {d['status']:<10}  {d['category']}  verify by {d['verify_by']}{late}{became}"


@declarations.command("list")
@click.option("--provider", "provider_id", required=True, help="Client id of the verifying agency.")
@click.option("--status", type=click.Choice(["unverified", "verified", "false"]), help="Default: those waiting.")
@click.option("--json", "as_json", is_flag=True)
def declarations_list(provider_id: str, status: str | None, as_json: bool) -> None:
    """List the declarations in the categories the agency may verify, the oldest deadline first."""
    from gateway.usecases import declarations as use

    rt = _runtime()
    found = use.agency_queue(rt, _agency_provider(rt, provider_id), status, None)
    _emit(as_json, {"declarations": found}, "\n".join(map(_declaration_line, found)) or "no declarations")


@declarations.command("verify")
@click.argument("declaration_id")
@click.option("--provider", "provider_id", required=True, help="Client id of the verifying agency.")
@click.option("--outcome", type=click.Choice(["verified", "false"]), required=True,
              help="verified: a record of its category; false: a broken-commitment record about the person.")
@click.option("--reason", required=True, help="The words the person is told (found false: the finding recorded).")
@click.option("--json", "as_json", is_flag=True)
def declarations_verify(declaration_id: str, provider_id: str, outcome: str, reason: str, as_json: bool) -> None:
    """Verify a waiting declaration; one already decided names its status."""
    from gateway.usecases import declarations as use

    rt = _runtime()
    cmd = use.VerifyDeclaration(_agency_provider(rt, provider_id), declaration_id, outcome, reason)
    found = _refused_as_click(lambda: use.verify(rt, cmd))
    _emit(as_json, found, _declaration_line(found))


@declarations.command("sweep")
@click.option("--json", "as_json", is_flag=True)
def declarations_sweep(as_json: bool) -> None:
    """Record an audit entry for every verification past its deadline (the service also does this)."""
    from gateway.usecases import declarations as use

    recorded = use.record_overdue(_runtime())
    _emit(as_json, {"recorded": recorded}, f"{recorded} overdue verifications recorded")


@main.group()
def keys() -> None:
    """Keys: rotate the key-encryption key."""


@keys.command("rotate")
@click.option("--batch-size", default=1000, show_default=True, type=int)
@click.option("--resume", is_flag=True, help="Only finish an interrupted rotation; add no new key.")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(batch_size: int, resume: bool, as_json: bool) -> None:
    """Add a key-encryption key version and re-wrap every data key under it (payloads untouched)."""
    from audit.tx import AccessContext

    rt = _runtime()
    operator = AccessContext(actor="operator", role="operator")
    if not resume:
        # Saved before any row changes: a kill from here on leaves every row readable.
        rt.vault.add_kek()
    with rt.uow.begin(operator, readonly=True) as tx:
        pending = rt.vault.pending_rewrap(tx)
    done = 0
    with tqdm(total=pending, unit="key", desc="re-wrap", file=sys.stderr, disable=None) as bar:
        while True:
            with rt.uow.begin(operator) as tx:
                n = rt.vault.rewrap(tx, batch_size)
            if n == 0:
                break
            done += n
            bar.update(n)
    with rt.uow.begin(operator) as tx:
        tx.record(Tag.KEYS_ROTATED, detail={"kek_version": rt.vault.current_kek, "rewrapped": done,
                                            "resumed": resume})
    _emit(as_json, {"kek_version": rt.vault.current_kek, "rewrapped": done},
          f"key-encryption key version {rt.vault.current_kek}; {done} data keys re-wrapped")


@keys.command("rotate-signing")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate_signing(as_json: bool) -> None:
    """Add an Ed25519 signing key and sign with it from now on; old keys stay published and verifiable."""
    rt = _runtime()
    kid = rt.vault.add_signing_key()
    _emit(as_json, {"kid": kid, "keys": rt.vault.signing_kids},
          f"signing key {kid} added; {len(rt.vault.signing_kids)} keys published at /.well-known/jwks.json")


@main.group()
def reports() -> None:
    """Reports released to institutions."""


@reports.command("purge")
@click.option("--json", "as_json", is_flag=True)
def reports_purge(as_json: bool) -> None:
    """Erase the contents of every report past its retrieval deadline (the service also does this each minute)."""
    from gateway.usecases import consents

    purged = consents.purge_expired_reports(_runtime().uow)
    _emit(as_json, {"purged": purged}, f"{purged} expired reports purged")


@main.group()
def demo() -> None:
    """Demo data for trying the service."""


@demo.command("seed")
@click.option("--people", default=20, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def demo_seed(people: int, as_json: bool) -> None:
    """Create demo agencies, institutions, an auditor and people with stories (once), and print the logins.

    Whether the demo exists is the database's to say: after a reset it is seeded afresh.
    """
    from gateway import demo as demo_data

    rt = _runtime()
    try:
        logins = demo_data.seed(rt, people)
    except demo_data.DemoMismatch as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, logins, demo_data.describe(logins))


@main.group("audit")
def audit_log() -> None:
    """The audit log: signed Merkle tree heads, and verifying the whole log."""


@audit_log.command("checkpoint")
@click.option("--json", "as_json", is_flag=True)
def audit_checkpoint(as_json: bool) -> None:
    """Add every committed entry to the Merkle tree and sign a tree head if the tree grew."""
    from audit.errors import AuditError
    from gateway.usecases import ledger

    try:
        done = ledger.checkpoint(_runtime())
    except AuditError as exc:
        raise click.ClickException(f"the tree cannot grow: {exc}; run `xinyong audit verify`") from None
    head = done.head.as_dict()
    _emit(as_json, {**head, "created": done.created},
          f"{'new' if done.created else 'unchanged'} tree head: {head['tree_size']} entries, "
          f"root {head['root_hash']} at {head['timestamp']}\n{head['jws']}")


@audit_log.command("verify")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes checking the log's chunks of 65,536 entries (default: one per CPU).")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(workers: int | None, as_json: bool) -> None:
    """Recompute every leaf, the tree and every signed head; exit 1 naming the first index that differs."""
    import time

    from gateway.usecases import ledger

    rt = _runtime()
    started = time.perf_counter()
    with tqdm(total=ledger.entry_count(rt), unit="entry", unit_scale=True, desc="verify", file=sys.stderr,
              disable=None) as bar:
        report = ledger.verify_log(rt, progress=bar.update, workers=workers)
    rate = report.entries / max(time.perf_counter() - started, 1e-9)
    first = report.first
    data = {"ok": report.ok, "entries": report.entries, "tree_size": report.tree_size, "heads": report.heads,
            "entries_per_second": round(rate), "differences": report.total_differences,
            "first": None if first is None else first.as_dict(),
            "listed": [d.as_dict() for d in report.differences]}
    summary = (f"{report.entries} entries, a tree of {report.tree_size} leaves and {report.heads} signed heads "
               f"checked ({rate:,.0f} entries/s)")
    if first is None:
        text = f"OK: {summary}"
    else:
        text = "\n".join([f"index {d.index} (entry {d.index + 1}): {d.kind}: {d.detail}" for d in report.differences]
                         + [f"DIFFERS at index {first.index} (entry {first.index + 1}): {first.detail}",
                            f"{report.total_differences} differences; {summary}"])
    _emit(as_json, data, text)
    if not report.ok:
        sys.exit(1)


def _checkpoint_after(rt: Runtime) -> None:
    """Sign a tree head over what a command just logged; a failure is reported, never fatal."""
    from audit.errors import AuditError
    from gateway.usecases import ledger

    try:
        ledger.checkpoint(rt)
    except AuditError as exc:
        click.echo(f"warning: no tree head signed: {exc}; run `xinyong audit verify`", err=True)


@main.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--keyring-to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also copy the keyring (0600) here: a place apart from DEST, never the same directory.")
@click.option("--json", "as_json", is_flag=True)
def backup_command(dest: Path, keyring_to: Path | None, as_json: bool) -> None:
    """Copy the database to DEST while the service runs (SQLite: online backup; PostgreSQL: pg_dump)."""
    from gateway import backup

    try:
        done = backup.backup(_settings(), dest, keyring_to)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    keyring = (f"keyring copied to {done.keyring_to}; keep it apart from the database copy"
               if done.keyring_to else "the keyring was NOT copied: back it up separately (--keyring-to)")
    _emit(as_json, {"backend": done.backend, "path": str(done.path), "bytes": done.size,
                    **done.contents.as_dict(), "keyring_to": None if done.keyring_to is None else str(done.keyring_to)},
          f"{done.backend} database copied to {done.path} ({done.size:,} bytes): {done.contents.describe()}\n{keyring}")


@main.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keyring-from", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Install this keyring backup as XINYONG_KEYRING (needed when the keyring was lost too).")
@click.option("--force", is_flag=True, help="Replace a database that holds data (and a different keyring).")
@click.option("--json", "as_json", is_flag=True)
def restore_command(source: Path, keyring_from: Path | None, force: bool, as_json: bool) -> None:
    """Put a `xinyong backup` copy back into the configured database (stop the service first)."""
    from gateway import backup

    try:
        done = backup.restore(_settings(), source, force=force, keyring_from=keyring_from)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    keyring = {"installed": f"keyring installed from {keyring_from}", "kept": "keyring in place kept"}[done.keyring]
    after = ("next: `xinyong audit verify`" if done.schema_current
             else "next: `xinyong init` (the copy's schema is older than this version), then `xinyong audit verify`")
    _emit(as_json, {"backend": done.backend, "database": done.database, "source": str(done.source),
                    "replaced": done.replaced, "keyring": done.keyring, "schema_current": done.schema_current,
                    **done.contents.as_dict()},
          f"{'replaced' if done.replaced else 'restored'} {done.database} from {done.source}: "
          f"{done.contents.describe()}\n{keyring}; it signed the newest tree head and holds every data key's "
          f"wrapping key\n{after}")
