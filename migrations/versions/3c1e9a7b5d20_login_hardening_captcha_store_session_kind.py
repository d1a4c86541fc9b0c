"""login hardening: server-side captcha answers, kind of a server-side session

Revision ID: 3c1e9a7b5d20
Revises: 7dc6a064d3ce
Create Date: 2026-12-02 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c1e9a7b5d20'
down_revision = '7dc6a064d3ce'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_captcha',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('answer', sa.String(length=8), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_captcha', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_captcha_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='web', nullable=False))


def downgrade():
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('login_captcha', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_captcha_expires_at'))

    op.drop_table('login_captcha')
