"""Which whole sections answer a question: reading order within an article, the better fit first across two."""

from __future__ import annotations

from assistant.answering import choose
from assistant.sections import Scored, SectionRef


def section(source: str, order: int, words: int = 50) -> SectionRef:
    return SectionRef(
        id=f"{source}#{order}",
        source_id=source,
        title=source,
        heading=f"Heading {order}?",
        text=" ".join(["word"] * words),
        order=order,
        kind="article",
        status="draft",
    )


def test_two_sections_of_one_article_are_quoted_in_reading_order() -> None:
    first = [Scored(section("a", 3), 0.80), Scored(section("a", 1), 0.79)]
    assert [s.id for s in choose(first)] == ["a#1", "a#3"]


def test_a_second_article_that_fits_clearly_better_is_read_first() -> None:
    first = [Scored(section("a", 2), 0.60)]
    second = [Scored(section("b", 4), 0.70)]
    assert [s.id for s in choose(first, second)] == ["b#4", "a#2"]


def test_a_second_article_that_fits_only_as_well_is_left_out() -> None:
    first = [Scored(section("a", 2), 0.60)]
    second = [Scored(section("b", 4), 0.62)]
    assert [s.id for s in choose(first, second)] == ["a#2"]
