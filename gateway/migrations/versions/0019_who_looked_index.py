"""a partial index of the queries of each person's file, for their view of who looked

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As audit.entries.QUERIES_WHERE when this was written (a migration keeps its own copy of what it made).
WHERE = "action IN ('consent:query:released', 'consent:query:denied')"


def upgrade() -> None:
    op.create_index('ix_audit_entries_queries_subject_ref_seq', 'audit_entries', ['subject_ref', 'seq'],
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index('ix_audit_entries_queries_subject_ref_seq', table_name='audit_entries')
