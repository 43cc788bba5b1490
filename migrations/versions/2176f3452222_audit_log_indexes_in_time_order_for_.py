"""audit log: indexes in time order for every filter

The log is listed by (occurred_at, id) now; each filter (event, actor, subject,
actor or subject with an event, date range) gets an index ending in that pair,
so a page is read off one index without sorting every matching row. The old
id-ordered indexes are dropped after the new ones exist.

Revision ID: 2176f3452222
Revises: a3e00a030bd9
Create Date: 2026-11-27 22:34:20.159267

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2176f3452222'
down_revision = 'a3e00a030bd9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_occurred_at_id', ['occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_event_occurred_at_id', ['event', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_actor_id_occurred_at_id', ['actor_id', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_subject_id_occurred_at_id', ['subject_id', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_actor_id_event_occurred_at_id', ['actor_id', 'event', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_subject_id_event_occurred_at_id', ['subject_id', 'event', 'occurred_at', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_id_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_event_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_subject_id_id'))


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_subject_id_occurred_at_id')
        batch_op.drop_index('ix_audit_event_subject_id_event_occurred_at_id')
        batch_op.drop_index('ix_audit_event_occurred_at_id')
        batch_op.drop_index('ix_audit_event_event_occurred_at_id')
        batch_op.drop_index('ix_audit_event_actor_id_occurred_at_id')
        batch_op.drop_index('ix_audit_event_actor_id_event_occurred_at_id')
        batch_op.create_index(batch_op.f('ix_audit_event_subject_id_id'), ['subject_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_event_id'), ['event', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor_id_id'), ['actor_id', 'id'], unique=False)
