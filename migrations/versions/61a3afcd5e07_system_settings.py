"""系统设置: the values the administrator changes on the screen

Revision ID: 61a3afcd5e07
Revises: 5e8b1c9d7a24
Create Date: 2026-12-03 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '61a3afcd5e07'
down_revision = '5e8b1c9d7a24'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('system_setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade():
    op.drop_table('system_setting')
