"""Alembic environment: runs on the connection the CLI or the tests hand over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from gateway.database import METADATA

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=METADATA, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
