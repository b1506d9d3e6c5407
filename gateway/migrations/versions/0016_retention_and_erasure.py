"""the second clock: record tombstones after their category's retention period, and erased people

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0016'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Columns only: SQLite adds them in place. Rebuilding `records` (to let `sealed` be NULL) would drop a table
    # that objections, repairs and period changes point to, so a tombstone's `sealed` is emptied instead.
    with op.batch_alter_table('records') as batch:
        batch.add_column(sa.Column('erased_at', audit.clock.UTCDateTime(), nullable=True,
                                   comment='contents erased (sealed emptied): a tombstone of its id, category, '
                                           'provider and dates'))
        batch.add_column(sa.Column('erasure_basis', sa.String(length=300), nullable=True,
                                   comment="why it was erased: its category's retention period, or the basis of a "
                                           "person's erasure"))
    op.create_index('ix_records_category_display_until', 'records', ['category', 'display_until'], unique=False)
    with op.batch_alter_table('subjects') as batch:
        batch.add_column(sa.Column('erasure_basis', sa.String(length=300), nullable=True,
                                   comment='the legal basis an operator gave for erasing the person (never their '
                                           'data)'))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), not batch mode: rebuilding these tables would drop tables that
    # others point to, which foreign keys refuse once they hold rows.
    op.drop_column('subjects', 'erasure_basis')
    op.drop_index('ix_records_category_display_until', table_name='records')
    op.drop_column('records', 'erasure_basis')
    op.drop_column('records', 'erased_at')
