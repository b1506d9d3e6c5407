"""credit repair (信用修复): applications with sealed texts, and a record's repair

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'submitted'"


def upgrade() -> None:
    with op.batch_alter_table('records') as batch:
        batch.add_column(sa.Column('repaired_at', audit.clock.UTCDateTime(), nullable=True,
                                   comment='credit repair (信用修复) granted at: no longer released to any third '
                                           'party'))
        batch.add_column(sa.Column('repair_effect', sa.String(length=12), nullable=True,
                                   comment='what the repair did: stop_sharing, mask, delete or mark (REP-8)'))
    op.create_table('repairs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.String(length=64), nullable=False,
              comment='the agency that produced the record and decides'),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('methods', sa.String(length=400), nullable=False,
              comment='comma-separated method codes of repairs.json'),
    sa.Column('submitted_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('decide_by', sa.Date(), nullable=False, comment='last working day to decide (CST)'),
    sa.Column('decided_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('effect', sa.String(length=12), nullable=True, comment="a repair's effect (REP-8)"),
    sa.Column('texts_ct', sa.LargeBinary(), nullable=False,
              comment='the statement, commitment and evidence, encrypted'),
    sa.Column('answer_ct', sa.LargeBinary(), nullable=True, comment="the agency's reason, encrypted"),
    sa.Column('overdue', sa.Boolean(), server_default=sa.false(), nullable=False,
              comment='its lapsed deadline was recorded in the audit log'),
    sa.CheckConstraint("status IN ('submitted', 'repaired', 'refused')", name=op.f('ck_repairs_status')),
    sa.CheckConstraint("effect IS NULL OR effect IN ('stop_sharing', 'mask', 'delete', 'mark')",
                       name=op.f('ck_repairs_effect')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_repairs_record_id_records')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_repairs_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repairs'))
    )
    op.create_index('uq_repairs_open_record', 'repairs', ['record_id'], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_repairs_provider_id_status', 'repairs', ['provider_id', 'status'], unique=False)
    op.create_index('ix_repairs_subject_id', 'repairs', ['subject_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_repairs_subject_id', table_name='repairs')
    op.drop_index('ix_repairs_provider_id_status', table_name='repairs')
    op.drop_index('uq_repairs_open_record', table_name='repairs')
    op.drop_table('repairs')
    with op.batch_alter_table('records') as batch:
        batch.drop_column('repair_effect')
        batch.drop_column('repaired_at')
