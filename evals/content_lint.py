"""A content lint for the knowledge base: what a reviewer should look at, as numbers and lists.

Hard failures live in the test (`tests/test_content_lint.py`): the schema, and no medicine amounts.
Everything here is a report: reading grade per answer section (Flesch-Kincaid, a small offline
implementation: the `textstat` package needs NLTK's cmudict download, which an offline machine
does not have), absolute claims ("always", "never", "will not damage") for a clinician to judge,
and sections outside the answer-unit shape (one `##` question, about 40-120 words).

    >>> round(grade("Keep moving. Walk a little every day."), 1)
    4.3
    >>> grade("Physiotherapists consider neurodynamic mobilisation techniques appropriate.") > 12
    True
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from assistant.content import Article, ExerciseCard, KnowledgeBase
from assistant.sentences import prose_sentences

SECTION_WORDS = (40, 120)
# Words that promise too much; listed for a reviewer, never failed: "never put ice on bare skin" is fine.
ABSOLUTE = re.compile(
    r"\b(?:(?<!not )always|never|will not (?:damage|harm|hurt)|won't (?:damage|harm|hurt)|cannot (?:damage|harm)|"
    r"can't (?:damage|harm)|does not damage|doesn't damage|guarantee\w*|completely safe|perfectly safe|"
    r"100 ?%|definitely|no risk|proven|cures?\b)",
    re.IGNORECASE,
)
_MARKS = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*]|\d+[.)])\s+", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_VOWELS = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """A vowel-group count with the common English corrections; good enough for a reading grade.

    >>> [syllables(w) for w in ("back", "sciatica", "physiotherapist", "stretches", "the")]
    [1, 4, 6, 2, 1]
    """
    w = word.lower().strip("'")
    if len(w) <= 3:
        return 1
    w = re.sub(r"'s$", "", w)
    count = len(_VOWELS.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1  # silent e: "take", "move"
    if re.search(r"[^aeiou]ed$", w) and not re.search(r"[td]ed$", w) and count > 1:
        count -= 1  # "moved", "stretched"
    if re.search(r"[^aeiouy]es$", w) and not re.search(r"(?:[cgsxz]|ch|sh)es$", w) and count > 1:
        count -= 1  # "takes" but not "stretches"
    count += len(re.findall(r"(?:ia|io(?!u)|ua)", w))  # "sciatica", "physio": two vowels, two syllables
    return max(count, 1)


def plain_sentences(markdown: str) -> list[str]:
    """Sentences of a Markdown section: marks removed, each list item its own sentence."""
    text = _MARKS.sub("", markdown)
    return [s.strip() for line in text.split("\n") for s in prose_sentences(line) if _WORD.search(s)]


def grade(text: str) -> float:
    """Flesch-Kincaid grade level: 0.39 words/sentence + 11.8 syllables/word - 15.59."""
    sentences = plain_sentences(text)
    words = [w for s in sentences for w in _WORD.findall(s)]
    if not words:
        return 0.0
    return 0.39 * len(words) / len(sentences) + 11.8 * sum(map(syllables, words)) / len(words) - 15.59


@dataclass(frozen=True)
class Section:
    source_id: str
    heading: str
    text: str

    @property
    def words(self) -> int:
        return len(_WORD.findall(_MARKS.sub("", self.text)))

    @property
    def grade(self) -> float:
        return grade(self.text)


def sections(article: Article) -> list[Section]:
    """The `##` sections of an article (text before the first heading counts as one without a heading)."""
    out: list[Section] = []
    for i, part in enumerate(re.split(r"^## ", article.body, flags=re.MULTILINE)):
        if not part.strip():
            continue
        heading, _, text = part.partition("\n") if i else ("", "", part)
        out.append(Section(article.id, heading.strip(), text.strip()))
    return out


def card_texts(card: ExerciseCard) -> list[str]:
    return [
        card.name,
        card.summary,
        *card.steps,
        card.dosage.text,
        card.easier,
        card.harder,
        *card.cautions,
        *card.stop_if,
    ]


@dataclass
class LintReport:
    sections: list[Section] = field(default_factory=list)
    absolute_claims: list[tuple[str, str]] = field(default_factory=list)  # (where, the sentence)
    shape: list[tuple[str, str]] = field(default_factory=list)  # (where, what is off)

    def numbers(self) -> dict[str, float]:
        grades = [s.grade for s in self.sections]
        words = [s.words for s in self.sections]
        lo, hi = SECTION_WORDS
        return {
            "sections": float(len(self.sections)),
            "grade_median": round(statistics.median(grades), 2) if grades else 0.0,
            "grade_p90": round(statistics.quantiles(grades, n=10)[-1], 2) if len(grades) > 1 else 0.0,
            "sections_over_grade_9": float(sum(g > 9 for g in grades)),
            "section_words_median": float(statistics.median(words)) if words else 0.0,
            "sections_in_word_range": float(sum(lo <= w <= hi for w in words)),
            "question_headings": float(sum(s.heading.endswith("?") for s in self.sections)),
            "absolute_claims": float(len(self.absolute_claims)),
        }

    def markdown(self) -> str:
        n = self.numbers()
        lines = [
            "# Content lint",
            "",
            f"{int(n['sections'])} answer sections; Flesch-Kincaid grade median **{n['grade_median']}** "
            f"(90th percentile {n['grade_p90']}; {int(n['sections_over_grade_9'])} above grade 9); "
            f"{int(n['sections_in_word_range'])} sections of {SECTION_WORDS[0]}-{SECTION_WORDS[1]} words; "
            f"{int(n['question_headings'])} headed by a question.",
            "",
            f"## Absolute claims for a reviewer ({len(self.absolute_claims)})",
            "",
            *[f"- `{where}`: {sentence}" for where, sentence in self.absolute_claims],
            "",
            f"## Sections outside the answer-unit shape ({len(self.shape)})",
            "",
            *[f"- `{where}`: {what}" for where, what in self.shape],
            "",
            "## Hardest sections to read",
            "",
            *[
                f"- `{s.source_id}#{s.heading or '(intro)'}`: grade {s.grade:.1f}"
                for s in sorted(self.sections, key=lambda s: -s.grade)[:10]
            ],
        ]
        return "\n".join(lines) + "\n"


def _claims(where: str, texts: Iterable[str]) -> list[tuple[str, str]]:
    found = []
    for text in texts:
        for sentence in plain_sentences(text):
            if ABSOLUTE.search(sentence):
                found.append((where, sentence))
    return found


def lint(kb: KnowledgeBase) -> LintReport:
    """Readability, absolute claims and section shape for every article and card."""
    report = LintReport()
    lo, hi = SECTION_WORDS
    for article in sorted(kb.articles.values(), key=lambda a: a.id):
        for s in sections(article):
            where = f"{article.id}#{s.heading or '(intro)'}"
            report.sections.append(s)
            report.absolute_claims += _claims(where, [s.text])
            if not s.heading:
                report.shape.append((where, "text before the first ## heading"))
            elif not lo <= s.words <= hi:
                report.shape.append((where, f"{s.words} words"))
    for card in sorted(kb.cards.values(), key=lambda c: c.id):
        report.absolute_claims += _claims(f"card {card.id}", card_texts(card))
    return report
