"""Which whole sections answer a question, and what to offer when unsure. Pure logic, no I/O.

An answer is one or two sections of one article, quoted verbatim and in reading order; a second
article only when its section matches the question clearly better than the first article's best,
and then that section comes first.
When retrieval is unsure, the best two or three sections are offered as choices instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.models import AnswerSection, Suggestion
from assistant.sections import Scored, SectionRef


@dataclass(frozen=True)
class AnswerLimits:
    """How long an answer may be and how close a second section must come (settings, not code)."""

    max_words: int = 170  # two sections together; one section is always allowed whole
    second_section_margin: float = 0.04
    second_article_margin: float = 0.05  # the runner-up article's section must fit this much better
    suggestions: int = 3
    offer_when_declined: float = 0.5  # a declined question still gets choices when an article is this close
    follow_up_margin: float = 0.05  # how much better another article must fit to leave the one just quoted


def choose(
    first: Sequence[Scored], second: Sequence[Scored] = (), limits: AnswerLimits = AnswerLimits()
) -> list[SectionRef]:
    """The sections to quote: the best of the first article, perhaps one more, in reading order.

    `first` and `second` are the ranked sections of the best and the runner-up article (the
    runner-up only when retrieval found it nearly as good)."""
    if not first:
        return []
    best = first[0]
    chosen = [best.section]
    for other in first[1:2]:
        if (
            other.score >= best.score - limits.second_section_margin
            and best.section.words + other.section.words <= limits.max_words
        ):
            chosen.append(other.section)
    chosen.sort(key=lambda s: s.order)
    if len(chosen) == 1 and second:
        rival = second[0]
        if (
            rival.score >= best.score + limits.second_article_margin
            and best.section.words + rival.section.words <= limits.max_words + 40
        ):
            # the question spans two articles, each section quoted whole; the one that fits it
            # clearly better is read first ("does pregabalin work?" opens on what NICE says of it,
            # not on how to cut down)
            chosen.insert(0, rival.section)
    return chosen


def suggest(ranked: Sequence[Scored], limits: AnswerLimits = AnswerLimits()) -> list[Suggestion]:
    """'Did you mean...?': the best sections of different articles, each with a message to send."""
    out: list[Suggestion] = []
    seen: set[str] = set()
    for item in ranked:
        s = item.section
        if s.source_id in seen:
            continue
        seen.add(s.source_id)
        message = s.phrasings[0] if s.phrasings else s.heading if s.heading.endswith("?") else f"{s.title}: {s.heading}"
        out.append(Suggestion(id=s.id, title=s.heading, article=s.title, message=message))
        if len(out) >= limits.suggestions:
            break
    return out


def as_answer(section: SectionRef) -> AnswerSection:
    return AnswerSection(
        id=section.id, source_id=section.source_id, title=section.title, heading=section.heading, text=section.text
    )
