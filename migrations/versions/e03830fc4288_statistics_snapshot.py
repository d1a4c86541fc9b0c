"""统计快照: the 首页 charts' grouped counts, computed in the background

Revision ID: e03830fc4288
Revises: 61a3afcd5e07
Create Date: 2026-12-03 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e03830fc4288'
down_revision = '61a3afcd5e07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('statistics_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('computed_at', sa.DateTime(), nullable=True),
    sa.Column('milliseconds', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_statistics_snapshot_computed_at'), 'statistics_snapshot',
                    ['computed_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_statistics_snapshot_computed_at'), table_name='statistics_snapshot')
    op.drop_table('statistics_snapshot')
