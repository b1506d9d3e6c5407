"""consent: requests, grants, reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:00:32.587369
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent_requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False, comment='blind index; the person may not exist'),
    sa.Column('purpose', sa.String(length=60), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False, comment="the institution's stated reason, shown to the person"),
    sa.Column('valid_for_seconds', sa.Integer(), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('lapses_at', audit.clock.UTCDateTime(), nullable=False, comment='an unanswered request lapses then'),
    sa.Column('answered_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('grant_id', sa.String(length=40), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'denied')", name=op.f('ck_consent_requests_status')),
    sa.CheckConstraint('max_uses >= 1', name=op.f('ck_consent_requests_uses_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_requests'))
    )
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_requests_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('ix_consent_requests_subject_ref_created_at', ['subject_ref', 'created_at'], unique=False)

    op.create_table('grants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False, comment='category -> fields released'),
    sa.Column('valid_from', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('valid_until', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('revoked_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=False, comment='signed consent receipt (JWS); no ID, no payload'),
    sa.Column('receipt_sha256', sa.String(length=64), nullable=False),
    sa.Column('policy_version', sa.String(length=40), nullable=False),
    sa.Column('catalogue_version', sa.String(length=40), nullable=False),
    sa.CheckConstraint("status IN ('active', 'revoked')", name=op.f('ck_grants_status')),
    sa.CheckConstraint('uses >= 0 AND uses <= max_uses', name=op.f('ck_grants_uses_within_max')),
    sa.CheckConstraint('valid_until > valid_from', name=op.f('ck_grants_validity_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants')),
    sa.UniqueConstraint('request_id', name=op.f('uq_grants_request_id'))
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grants_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('ix_grants_subject_ref_valid_from', ['subject_ref', 'valid_from'], unique=False)

    op.create_table('reports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('grant_id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('generated_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('deadline', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True, comment='encrypted signed report; NULL once purged'),
    sa.Column('purged_at', audit.clock.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_deadline', ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_grant_id'), ['grant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_grant_id'))
        batch_op.drop_index('ix_reports_deadline')

    op.drop_table('reports')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index('ix_grants_subject_ref_valid_from')
        batch_op.drop_index(batch_op.f('ix_grants_institution_id'))

    op.drop_table('grants')
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_requests_subject_ref_created_at')
        batch_op.drop_index(batch_op.f('ix_consent_requests_institution_id'))

    op.drop_table('consent_requests')
