"""a record's own display period (until ended, by case, by document, changed by its agency) and timeliness

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-27 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0009'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite changes a column's nullability only by rebuilding the table.
    with op.batch_alter_table('records') as batch:
        batch.alter_column('display_until', existing_type=sa.Date(), nullable=True,
                           comment='first day the record is no longer shown; NULL: until the producing agency '
                                   'ends it',
                           existing_comment='first day the record is no longer shown')
        batch.add_column(sa.Column('period_source', sa.String(length=12), server_default='catalogue',
                                   nullable=False, comment="where display_until comes from; anything but "
                                                           "'catalogue' is the record's own period"))
        batch.add_column(sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False,
                                   comment='1 + changes of its period'))
        batch.add_column(sa.Column('publication_due', sa.Date(), nullable=True,
                                   comment="last day (CST) it was due by its category's publication deadline; "
                                           "NULL: none"))
        batch.add_column(sa.Column('filed_late', sa.Boolean(), server_default=sa.false(), nullable=False,
                                   comment='filed after publication_due; for auditors, never third parties'))
        batch.create_check_constraint(
            op.f('ck_records_period_source'), "period_source IN ('catalogue', 'rule', 'document', 'extended', 'ended')")
        batch.create_check_constraint(op.f('ck_records_version_positive'), 'version >= 1')
    op.create_table('record_period_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False, comment="the record's version this change made"),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('previous_until', sa.Date(), nullable=True),
    sa.Column('display_until', sa.Date(), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=False, comment='the agency that made the change'),
    sa.Column('sealed', sa.LargeBinary(), nullable=False, comment='AES-GCM of the document the change rests on'),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('extended', 'ended')", name=op.f('ck_record_period_changes_kind')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_record_period_changes_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_period_changes')),
    sa.UniqueConstraint('record_id', 'version', name='uq_record_period_changes_record_version')
    )


def downgrade() -> None:
    op.drop_table('record_period_changes')
    with op.batch_alter_table('records') as batch:
        batch.drop_constraint('ck_records_version_positive', type_='check')
        batch.drop_constraint('ck_records_period_source', type_='check')
        batch.drop_column('filed_late')
        batch.drop_column('publication_due')
        batch.drop_column('version')
        batch.drop_column('period_source')
        batch.alter_column('display_until', existing_type=sa.Date(), nullable=False)
