"""objections to records and their sealed evidence

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-27 13:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0010'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('submitted', 'accepted')"


def upgrade() -> None:
    op.create_table('objections',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.String(length=64), nullable=False,
              comment='the agency that produced the record and answers'),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('submitted_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('accept_by', sa.Date(), nullable=False, comment='last working day to accept or refuse (CST)'),
    sa.Column('answered_at', audit.clock.UTCDateTime(), nullable=True, comment='accepted or refused at'),
    sa.Column('decide_by', sa.Date(), nullable=True, comment='last working day to decide (CST)'),
    sa.Column('decided_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('reason_ct', sa.LargeBinary(), nullable=False, comment="the person's reason, encrypted"),
    sa.Column('answer_ct', sa.LargeBinary(), nullable=True,
              comment="the agency's words (refusal or decision), encrypted"),
    sa.Column('corrected_record_id', sa.String(length=32), nullable=True,
              comment='the record that replaced the objected one when it was corrected'),
    sa.Column('overdue_step', sa.String(length=12), nullable=True,
              comment='the step whose lapsed deadline was last recorded in the audit log'),
    sa.CheckConstraint("status IN ('submitted', 'accepted', 'refused', 'corrected', 'revoked', 'upheld')",
                       name=op.f('ck_objections_status')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_objections_record_id_records')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_objections_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objections'))
    )
    op.create_index('uq_objections_open_record', 'objections', ['record_id'], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_objections_provider_id_status', 'objections', ['provider_id', 'status'], unique=False)
    op.create_index('ix_objections_subject_id', 'objections', ['subject_id'], unique=False)
    op.create_table('objection_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('objection_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False,
              comment="checked against the file's magic number"),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('filename_ct', sa.LargeBinary(), nullable=False, comment='file name, encrypted'),
    sa.Column('content_ct', sa.LargeBinary(), nullable=False, comment='file content, encrypted'),
    sa.ForeignKeyConstraint(['objection_id'], ['objections.id'],
                            name=op.f('fk_objection_evidence_objection_id_objections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection_evidence')),
    sa.UniqueConstraint('objection_id', 'position', name='uq_objection_evidence_position')
    )


def downgrade() -> None:
    op.drop_table('objection_evidence')
    op.drop_index('ix_objections_subject_id', table_name='objections')
    op.drop_index('ix_objections_provider_id_status', table_name='objections')
    op.drop_index('uq_objections_open_record', table_name='objections')
    op.drop_table('objections')
