"""A structured `Reply` as one Markdown text: for `ask`, `chat`, the JSON contract and the history.

Rich front ends render the structured fields themselves (see `assistant/web/render.py`); nothing
parses this text back.
"""

from __future__ import annotations

from collections.abc import Mapping

from assistant.content import ExerciseCard
from assistant.exercises import render_card
from assistant.models import Reply


def suggestions_text(reply: Reply) -> str:
    if not reply.suggestions:
        return ""
    lines = [
        f"{i}. {s.title} ({s.article})" if s.article else f"{i}. {s.title}" for i, s in enumerate(reply.suggestions, 1)
    ]
    return "**Did you mean...?**\n\n" + "\n".join(lines)


def markdown(reply: Reply, cards: Mapping[str, ExerciseCard]) -> str:
    """Lead, notes, the quoted sections, choices, exercises, when to get help, sources, disclaimer."""
    parts: list[str] = []
    if reply.lead:
        parts.append(reply.lead)
    parts.extend(n for n in reply.notes if n)
    for section in reply.sections:
        parts.append(f"**{section.heading}**\n\n{section.text}")
    parts.extend(reply.check)
    if reply.suggestions:
        parts.append(suggestions_text(reply))
    chosen = [cards[x.id] for x in reply.exercises if x.id in cards]
    if chosen:
        block = "**What you can try**\n\n" + "\n".join(render_card(c) for c in chosen)
        parts.append(block + (f"\n\n{reply.plan_note}" if reply.plan_note else ""))
    if reply.help:
        parts.append(f"**When to get help**\n\n{reply.help}")
    if reply.sources:
        titles = "; ".join(dict.fromkeys(f"{s.title} ({s.section})" if s.section else s.title for s in reply.sources))
        parts.append(f"**Sources:** {titles}")
    if reply.disclaimer:
        parts.append(f"_{reply.disclaimer}_")
    return "\n\n".join(parts)
