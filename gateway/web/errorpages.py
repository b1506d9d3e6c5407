"""Errors as pages for browsers, problem documents for programs.

A request under /api/, /oauth/ or /.well-known/ (or to /metrics, /healthz, /readyz) always gets RFC 9457
application/problem+json; any other request gets an HTML page when its Accept header prefers text/html to
JSON, as a browser's does, and the problem document otherwise (a program, or a test client with no Accept).
The page keeps the problem's status and headers (Retry-After, Allow) and names the request id.
"""

from __future__ import annotations

from flask import Response, json, render_template, request

PROGRAM_PATHS = ("/api/", "/oauth/", "/.well-known/", "/metrics", "/healthz", "/readyz")
_JSON = ("application/json", "application/problem+json")


def wants_html() -> bool:
    """True when the request is a browser's for a page (see the module's docstring)."""
    if request.path.startswith(PROGRAM_PATHS):
        return False
    best = request.accept_mimetypes.best_match(["text/html", *_JSON])
    return best == "text/html"


def as_page(problem: Response) -> Response:
    """Return the page that says what `problem` (a problem+json response) says, with its status and headers."""
    body = json.loads(problem.get_data(as_text=True))
    try:
        html = render_template("errors/error.html", status=problem.status_code, code=body.get("code", ""),
                               request_id=body.get("request_id"), retry_after=problem.headers.get("Retry-After"))
    except Exception:  # noqa: BLE001 - a page that cannot render (a database down mid-render) is still an answer
        html = (f"<!doctype html><html lang=\"zh-Hans\"><title>{problem.status_code}</title>"
                f"<h1>{problem.status_code}</h1><p>出错了。Something went wrong.</p></html>")
    page = Response(html, status=problem.status_code, mimetype="text/html")
    for name in ("Retry-After", "Allow"):
        if name in problem.headers:
            page.headers[name] = problem.headers[name]
    return page
