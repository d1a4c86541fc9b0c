"""jobs on Celery: a certificate batch's run key, heartbeat and parts; an import's progress

Revision ID: a4c2e8f0b913
Revises: 3c1e9a7b5d20
Create Date: 2026-12-03 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4c2e8f0b913'
down_revision = '3c1e9a7b5d20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('certificate_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
    op.create_table('certificate_batch_part',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('expert_ids', sa.Text(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['certificate_batch.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id', 'seq', name='uq_certificate_batch_part_seq')
    )
    with op.batch_alter_table('certificate_batch_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_batch_part_batch_id'), ['batch_id'], unique=False)
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=4), server_default='已完成', nullable=False))
        batch_op.add_column(sa.Column('total', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('done', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('task_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('stored_name', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('report', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('message', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(), nullable=True))
    # batches the old detached process left 排队中/进行中 are dead: nothing will resume them
    op.execute("UPDATE certificate_batch SET status = '失败', message = '发放中断（升级前的进程已结束），可重新发放' "
               "WHERE status IN ('排队中', '进行中')")


def downgrade():
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        for column in ('finished_at', 'message', 'report', 'stored_name', 'task_id', 'done',
                       'total', 'status'):
            batch_op.drop_column(column)
    with op.batch_alter_table('certificate_batch_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_batch_part_batch_id'))
    op.drop_table('certificate_batch_part')
    with op.batch_alter_table('certificate_batch', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('task_id')
