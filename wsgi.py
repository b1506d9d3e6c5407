"""WSGI entry point for gunicorn."""

from gateway.web.app import create_app

app = create_app()
