"""The application factory: refusing to start half set up, the error envelope, request ids."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from gateway.runtime import Runtime
from gateway.web.app import create_app
from vault.vault import Vault

PROBLEM = "application/problem+json"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XINYONG_HOME with nothing else of the environment leaking in."""
    for name in ("XINYONG_DATABASE_URL", "XINYONG_KEYRING", "XINYONG_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XINYONG_HOME", str(tmp_path))
    return tmp_path


def test_the_app_refuses_to_start_without_a_keyring_and_names_xinyong_init(home: Path) -> None:
    with pytest.raises(Exception, match="xinyong init") as caught:
        create_app()
    assert str(home / "keyring.json") in str(caught.value)


def test_the_app_refuses_to_start_on_an_uninitialised_database_and_names_xinyong_init(home: Path) -> None:
    assert Vault.create_keyring(home / "keyring.json")
    with pytest.raises(Exception, match="xinyong init"):
        create_app()


@pytest.fixture
def failing_app(rt: Runtime) -> Flask:
    app = create_app({"TESTING": True}, runtime=rt)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret-detail: password=hunter2 at /srv/xinyong")

    return app


def test_an_unexpected_error_is_a_generic_500_that_hides_the_exception(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="xinyong")
    response = failing_app.test_client().get("/boom", headers={"X-Request-ID": "req-boom-1"})
    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    body = response.get_data(as_text=True)
    for leak in ("secret-detail", "hunter2", "RuntimeError", "/srv/xinyong", "Traceback"):
        assert leak not in body
    assert response.json["code"] == "internal"
    assert response.json["request_id"] == "req-boom-1"
    # The operator still finds it, by request id, in the log.
    [logged] = [r for r in caplog.records if r.name == "xinyong.gateway"]
    assert "req-boom-1" in logged.getMessage()
    assert logged.exc_info is not None


def test_an_unknown_path_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 404
    assert response.json["type"].startswith("https://xinyong.example/problems/")


def test_a_wrong_method_is_a_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.get("/api/v1/subjects/activate")
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 405
    assert "POST" in response.headers["Allow"]


def test_the_catalogue_is_served_with_every_category(client: FlaskClient, rt: Runtime) -> None:
    response = client.get("/api/v1/catalogue")
    assert response.status_code == 200
    body = response.json
    assert body["version"] == rt.catalogue.version
    codes = [c["code"] for c in body["categories"]]
    assert len(codes) >= 15
    assert len(set(codes)) == len(codes)
    penalty = next(c for c in body["categories"] if c["code"] == "ADMINISTRATIVE_PENALTY_GENERAL")
    assert penalty["display_period"] == "P1Y"
    assert penalty["share_scope"] in {"public", "authorised_query", "self_only"}
    assert penalty["name"]["zh"]


def test_a_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/api/v1/catalogue", headers={"X-Request-ID": "abc-123.x_y"})
    assert response.headers["X-Request-ID"] == "abc-123.x_y"


def test_a_request_id_is_made_when_none_or_a_malformed_one_is_given(client: FlaskClient) -> None:
    made = client.get("/api/v1/catalogue").headers["X-Request-ID"]
    assert len(made) == 16
    hostile = client.get("/api/v1/catalogue", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert hostile.headers["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(hostile.headers["X-Request-ID"]) == 16


def test_problems_carry_the_request_id(client: FlaskClient) -> None:
    response = client.get("/api/v1/me/report", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 401
    assert response.json["request_id"] == "req-42"


def test_the_public_url_fixes_the_audience_of_client_assertions(rt: Runtime) -> None:
    rt.settings = replace(rt.settings, public_url="https://credit.example.gov.cn")
    app = create_app({"TESTING": True}, runtime=rt)
    assert app.config["XINYONG_TOKEN_ENDPOINT"] == "https://credit.example.gov.cn/oauth/token"


def test_pages_forbid_framing_and_scripts_and_allow_our_stylesheet_and_a_style_by_nonce(
        rt: Runtime) -> None:
    import re

    app = create_app({"TESTING": True}, runtime=rt)

    @app.get("/test-styled")
    def styled() -> str:
        return render_template_string('{% extends "base.html" %}{% block style %}p{color:red}{% endblock %}')

    client = app.test_client()
    page = client.get("/test-styled")  # a page with a style block of its own
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # so no script runs at all
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f'<style nonce="{nonce.group(1)}">' in page.get_data(as_text=True)
    assert "style-src 'self' 'nonce-" in policy  # the stylesheet of gateway/web/static
    assert '<link rel="stylesheet" href="/static/site.css">' in page.get_data(as_text=True)
    sheet = client.get("/static/site.css")
    assert sheet.status_code == 200
    sheet.close()
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in page.headers  # plain http: HSTS would be ignored
    other = client.get("/test-styled")
    assert other.headers["Content-Security-Policy"] != policy  # a nonce per response


def test_over_https_browsers_are_told_to_stay_on_https(client: FlaskClient) -> None:
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_server_error_is_logged_as_a_json_line_with_its_request_id_and_no_personal_data(
        rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.conftest import People

    citizen_id = People(11).new()
    app = create_app({"TESTING": True}, runtime=rt)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"failed for {citizen_id} 张三 payload=罚款人民币2000元")

    response = app.test_client().get(f"/boom?person={citizen_id}", headers={"X-Request-ID": "req-log-1"})
    assert response.status_code == 500
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "req-log-1"]
    assert {line["logger"] for line in mine} == {"xinyong.gateway", "xinyong.responses"}
    [failure] = [line for line in mine if line["logger"] == "xinyong.gateway"]
    assert failure["level"] == "error"
    assert failure["error"] == "RuntimeError"
    assert any("in boom" in frame for frame in failure["frames"])
    [served] = [line for line in mine if line["logger"] == "xinyong.responses"]
    assert (served["status"], served["method"], served["path"]) == (500, "GET", "/boom")
    for leak in (citizen_id, "张三", "罚款"):
        assert leak not in err


def test_healthz_answers_while_the_process_runs(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_is_200_with_every_check_ok(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "keyring": "ok"}}


def test_readyz_is_503_naming_a_schema_behind_the_code(client: FlaskClient, rt: Runtime) -> None:
    from sqlalchemy import text

    with rt.sessions() as session, session.begin():
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "run `xinyong init`" in response.json["checks"]["schema"]
    assert response.json["checks"]["database"] == "ok"


def test_readyz_is_503_when_the_database_does_not_answer(client: FlaskClient, rt: Runtime,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def down(*_: Any, **__: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(rt.uow, "begin", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "the database does not answer (OperationalError)"
    assert "connection refused" not in response.get_data(as_text=True)
