"""Baseline: the records schema exactly as `Base.metadata.create_all` made it before migrations existed.

A database created that way (the tables, no `alembic_version`) is stamped at this revision instead of
being migrated (`assistant.records.migrate`). Frozen: it imports nothing from `assistant`, so a later
change to the models cannot change what this revision creates.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SHORT = 200  # names, contacts, reviewers, ids


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    # the models' UTCDateTime is a TypeDecorator over this type: the database sees only the impl
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=SHORT), nullable=False),
        sa.Column("client_id", sa.String(length=SHORT), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])

    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=SHORT), nullable=False),
        _when("created_at"),
        sa.Column("user_message", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("exercises", sa.JSON(), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_turns_conversation_id", "turns", ["conversation_id"])
    op.create_index("ix_turns_created_at", "turns", ["created_at"])
    op.create_index("ix_turns_level", "turns", ["level"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("liked", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_turn_id", "feedback", ["turn_id"])

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=SHORT), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("corrected_answer", sa.Text(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reviews_turn_id", "reviews", ["turn_id"])

    op.create_table(
        "approved_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=SHORT), nullable=False),
        _when("created_at"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approved_answers_active", "approved_answers", ["active"])

    op.create_table(
        "article_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(length=SHORT), nullable=False),
        sa.Column("reviewer", sa.String(length=SHORT), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_article_reviews_article_created", "article_reviews", ["article_id", "created_at"])

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=SHORT), nullable=False),
        sa.Column("contact", sa.String(length=SHORT), nullable=False),
        sa.Column("preferred_time", sa.String(length=SHORT), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        _when("created_at"),
        _when("done_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_callbacks_status", "callbacks", ["status"])


def downgrade() -> None:
    for table in ("callbacks", "article_reviews", "approved_answers", "reviews", "feedback", "turns", "conversations"):
        op.drop_table(table)  # its indexes go with it
