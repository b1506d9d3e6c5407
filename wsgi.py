"""WSGI entry point for gunicorn."""

from gateway.app import create_app

app = create_app()
