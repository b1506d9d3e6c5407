"""staff of organisations: accounts with password and TOTP, their sessions and failed logins

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import audit.clock

revision: str = '0017'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('staff',
    sa.Column('staff_id', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=40), nullable=False, comment='the organisation the member acts for'),
    sa.Column('name', sa.String(length=200), nullable=False,
              comment="the member's name, for their organisation's list only"),
    sa.Column('role', sa.String(length=20), nullable=False, comment='a role of gateway/data/staff.json'),
    sa.Column('password_hash', sa.String(length=200), nullable=True, comment='argon2'),
    sa.Column('totp_sealed', sa.LargeBinary(), nullable=True,
              comment='the TOTP seed, AES-GCM under a key-encryption key; never in clear'),
    sa.Column('totp_kek_version', sa.Integer(), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True,
              comment='the newest TOTP time step accepted: a code is good once (RFC 6238 §5.2)'),
    sa.Column('enrolment_code_hash', sa.String(length=200), nullable=True, comment='argon2 of the one-time code'),
    sa.Column('enrolment_expires_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('enrolling_token_hash', sa.String(length=64), nullable=True,
              comment="SHA-256 of the token between the enrolment's two steps (code, then a first TOTP code)"),
    sa.Column('enrolling_expires_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('enrolled_at', audit.clock.UTCDateTime(), nullable=True),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('disabled_at', audit.clock.UTCDateTime(), nullable=True),
    sa.CheckConstraint('(totp_sealed IS NULL) = (totp_kek_version IS NULL)',
                       name=op.f('ck_staff_totp_sealed_with_version')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_staff_client_id_clients')),
    sa.PrimaryKeyConstraint('staff_id', name=op.f('pk_staff'))
    )
    op.create_index('ix_staff_client_id', 'staff', ['client_id'], unique=False)
    op.create_table('staff_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False, comment="SHA-256 of the cookie's token"),
    sa.Column('staff_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', audit.clock.UTCDateTime(), nullable=False),
    sa.Column('second_factor_at', audit.clock.UTCDateTime(), nullable=True,
              comment='when the TOTP code was right; NULL: the password was, the code is awaited'),
    sa.Column('ends_at', audit.clock.UTCDateTime(), nullable=False,
              comment='absolute end, however active the session'),
    sa.Column('ended_at', audit.clock.UTCDateTime(), nullable=True,
              comment='logged out, or replaced by the login'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.staff_id'], name=op.f('fk_staff_sessions_staff_id_staff')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_staff_sessions'))
    )
    op.create_index('ix_staff_sessions_staff_id', 'staff_sessions', ['staff_id'], unique=False)
    op.create_table('staff_login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False, comment='keyed fingerprint of the staff id typed'),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', audit.clock.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_login_failures'))
    )
    op.create_index('ix_staff_login_failures_account_at', 'staff_login_failures', ['account_key', 'at'], unique=False)
    op.create_index('ix_staff_login_failures_address_at', 'staff_login_failures', ['address', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_staff_login_failures_address_at', table_name='staff_login_failures')
    op.drop_index('ix_staff_login_failures_account_at', table_name='staff_login_failures')
    op.drop_table('staff_login_failures')
    op.drop_index('ix_staff_sessions_staff_id', table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_index('ix_staff_client_id', table_name='staff')
    op.drop_table('staff')
