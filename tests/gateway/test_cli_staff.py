"""`xinyong staff add|list|disable|reset`: members of staff of registered organisations."""

from __future__ import annotations

import json

from tests.gateway.conftest import Invoke


def _org(xinyong: Invoke) -> str:
    made = xinyong("clients", "add", "--role", "institution", "--kind", "employer", "--name", "某公司", "--json")
    return str(json.loads(made.output)["client_id"])


def test_staff_add_prints_the_staff_id_and_a_one_time_enrolment_code(initialised: Invoke) -> None:
    org = _org(initialised)
    added = initialised("staff", "add", "--org", org, "--name", "王经办", "--json")
    assert added.exit_code == 0, added.output
    doc = json.loads(added.output)
    assert doc["staff_id"].startswith("stf_")
    assert doc["org_id"] == org
    assert doc["role"] == "officer"
    assert len(doc["enrolment_code"]) == 14
    assert doc["enrol_at"] == "/staff/enrol"
    listed = json.loads(initialised("staff", "list", "--org", org, "--json").output)["staff"]
    assert listed == [{"staff_id": doc["staff_id"], "org_id": org, "name": "王经办", "role": "officer",
                       "state": "awaiting_enrolment"}]
    assert "enrolment_code" not in initialised("staff", "list", "--json").output


def test_staff_add_refuses_an_unknown_organisation_or_role(initialised: Invoke) -> None:
    refused = initialised("staff", "add", "--org", "inst_nobody", "--name", "王五")
    assert refused.exit_code == 1
    assert "not an enabled organisation" in refused.output
    wrong_role = initialised("staff", "add", "--org", _org(initialised), "--name", "王五", "--role", "boss")
    assert wrong_role.exit_code == 1
    assert "officer, viewer" in wrong_role.output


def test_staff_disable_and_reset(initialised: Invoke) -> None:
    org = _org(initialised)
    staff_id = json.loads(initialised("staff", "add", "--org", org, "--name", "王五", "--json").output)["staff_id"]
    reset = json.loads(initialised("staff", "reset", staff_id, "--json").output)
    assert reset["staff_id"] == staff_id
    assert reset["enrolment_code"]
    assert initialised("staff", "disable", staff_id).exit_code == 0
    assert json.loads(initialised("staff", "list", "--json").output)["staff"][0]["state"] == "disabled"
    assert initialised("staff", "reset", staff_id).exit_code == 1
    assert initialised("staff", "disable", "stf_nobody").exit_code == 1
