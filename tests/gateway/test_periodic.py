"""Housekeeping after responses: runs when due, once per interval, and never breaks a request."""

from __future__ import annotations

from flask import Flask

from gateway.web.periodic import Periodic


def test_a_periodic_job_runs_after_the_response_when_due_and_not_again_at_once() -> None:
    runs: list[int] = []
    app = Flask(__name__)
    job = Periodic("test job", 0.0, lambda: runs.append(1))
    job.install(app)
    app.add_url_rule("/", "index", lambda: "ok")
    with app.test_client() as client:
        response = client.get("/")
        response.close()
    assert runs == [1]
    job.every = 3600.0
    with app.test_client() as client:
        client.get("/").close()
    assert runs == [1]


def test_a_failing_job_is_logged_and_the_request_still_succeeds() -> None:
    def boom() -> None:
        raise RuntimeError("disk on fire")

    app = Flask(__name__)
    Periodic("failing job", 0.0, boom).install(app)
    app.add_url_rule("/", "index", lambda: "ok")
    with app.test_client() as client:
        response = client.get("/")
        assert response.status_code == 200
        response.close()


def test_every_job_installed_on_an_app_runs_when_due_through_its_one_hook() -> None:
    runs: list[str] = []
    app = Flask(__name__)
    for name, every in (("first", 0.0), ("second", 0.0), ("later", 3600.0)):
        Periodic(name, every, lambda name=name: runs.append(name)).install(app)  # type: ignore[misc]
    app.add_url_rule("/", "index", lambda: "ok")
    with app.test_client() as client:
        client.get("/").close()
    assert runs == ["first", "second"]  # the one not yet due waits
    assert len(app.after_request_funcs[None]) == 1
