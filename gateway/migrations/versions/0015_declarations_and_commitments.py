"""voluntary registration (自愿注册) awaiting verification, and credit commitments (信用承诺)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0015'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'unverified'"


def upgrade() -> None:
    op.create_table('declarations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('item_key', sa.String(length=64), nullable=False,
              comment='keyed fingerprint of the person, category and payload: one open declaration per item'),
    sa.Column('submitted_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('verify_by', sa.Date(), nullable=False, comment='last working day to verify (CST)'),
    sa.Column('decided_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=True, comment='the agency that verified it'),
    sa.Column('record_id', sa.String(length=32), nullable=True,
              comment='the record it became: of its category, or the breach if false'),
    sa.Column('texts_ct', sa.LargeBinary(), nullable=False,
              comment='the payload, commitment, authorisation and evidence, encrypted'),
    sa.Column('answer_ct', sa.LargeBinary(), nullable=True, comment="the agency's reason, encrypted"),
    sa.Column('overdue', sa.Boolean(), server_default=sa.false(), nullable=False,
              comment='its lapsed deadline was recorded in the audit log'),
    sa.CheckConstraint("status IN ('unverified', 'verified', 'false')", name=op.f('ck_declarations_status')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_declarations_record_id_records')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_declarations_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declarations'))
    )
    op.create_index('uq_declarations_open_item', 'declarations', ['item_key'], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_declarations_category_status', 'declarations', ['category', 'status'], unique=False)
    op.create_index('ix_declarations_subject_id', 'declarations', ['subject_id'], unique=False)
    op.create_index('ix_declarations_record_id', 'declarations', ['record_id'], unique=False)
    op.create_table('commitments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=40), nullable=False, comment='a template code of commitments.json'),
    sa.Column('accepting_body', sa.String(length=64), nullable=False,
              comment='client id of the body it was made to'),
    sa.Column('body_role', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('signed_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('decided_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('record_id', sa.String(length=32), nullable=True, comment='the breach record, if any'),
    sa.Column('texts_ct', sa.LargeBinary(), nullable=False,
              comment="the text signed and the person's details, encrypted"),
    sa.Column('answer_ct', sa.LargeBinary(), nullable=True, comment="the body's reason, encrypted"),
    sa.CheckConstraint("status IN ('pending', 'fulfilled', 'breached')", name=op.f('ck_commitments_status')),
    sa.CheckConstraint("body_role IN ('provider', 'institution')", name=op.f('ck_commitments_body_role')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_commitments_record_id_records')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_commitments_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commitments'))
    )
    op.create_index('ix_commitments_accepting_body_status', 'commitments', ['accepting_body', 'status'],
                    unique=False)
    op.create_index('ix_commitments_subject_id', 'commitments', ['subject_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_commitments_subject_id', table_name='commitments')
    op.drop_index('ix_commitments_accepting_body_status', table_name='commitments')
    op.drop_table('commitments')
    op.drop_index('ix_declarations_record_id', table_name='declarations')
    op.drop_index('ix_declarations_subject_id', table_name='declarations')
    op.drop_index('ix_declarations_category_status', table_name='declarations')
    op.drop_index('uq_declarations_open_item', table_name='declarations')
    op.drop_table('declarations')
