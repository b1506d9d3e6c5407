"""notices to past recipients of a record, the records each report released, the person's notifications

Revision ID: 0011
Revises: 0013
Create Date: 2026-11-27 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0011'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_ids', sa.JSON(), nullable=True,
                                      comment="the records released, in the report's order; "
                                              "NULL for reports from before 0011"))
        batch_op.create_index('ix_reports_subject_ref_generated_at', ['subject_ref', 'generated_at'], unique=False)
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('issued_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False,
              comment='the signed notice: report id, place, category, date, status'),
    sa.CheckConstraint("status IN ('corrected', 'revoked', 'withdrawn from display', 'repaired')", name=op.f('ck_notices_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    op.create_index('ix_notices_institution_id_id', 'notices', ['institution_id', 'id'], unique=False)
    op.create_index('ix_notices_subject_ref_record_id', 'notices', ['subject_ref', 'record_id'], unique=False)
    op.create_index('uq_notices_report_record_status', 'notices', ['report_id', 'record_id', 'status'], unique=True)
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False,
              comment='the id of the request, objection, record or notice'),
    sa.Column('status', sa.String(length=24), nullable=True, comment='the step or status it reports, if any'),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('read_at', audit.clock.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    op.create_index('ix_notifications_subject_ref_id', 'notifications', ['subject_ref', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notifications_subject_ref_id', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index('uq_notices_report_record_status', table_name='notices')
    op.drop_index('ix_notices_subject_ref_record_id', table_name='notices')
    op.drop_index('ix_notices_institution_id_id', table_name='notices')
    op.drop_table('notices')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_subject_ref_generated_at')
        batch_op.drop_column('record_ids')
