"""Schemas and loaders for the reviewed content in `knowledge/` (articles, exercise cards, clinic).

Every model forbids unknown keys, so a typo in a data file fails loudly with `file: field: problem`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assistant.errors import ConfigError
from assistant.schema import Strict

Status = Literal["draft", "approved"]
Category = Literal["strengthening", "stretching", "aerobic", "nerve_mobility", "mobility"]
CONTRAINDICATIONS = (
    "pregnancy",
    "pregnancy_after_16_weeks",
    "acute_severe_pain",
    "recent_spinal_surgery",
    "osteoporosis",
    "spinal_stenosis",
    "hip_replacement",
    "knee_problems",
    "wrist_problems",
    "balance_problems",
    "leg_pain_spreading",
    "spondylolisthesis",
    "recent_surgery",
)
Contraindication = Literal[
    "pregnancy",
    "pregnancy_after_16_weeks",
    "acute_severe_pain",
    "recent_spinal_surgery",
    "osteoporosis",
    "spinal_stenosis",
    "hip_replacement",
    "knee_problems",
    "wrist_problems",
    "balance_problems",
    "leg_pain_spreading",
    "spondylolisthesis",
    "recent_surgery",
]


class Review(Strict):
    status: Status = "draft"
    by: str | None = None
    date: dt.date | None = None


_HEADING = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A stable, readable id part: 'Pacing your walks' -> 'pacing-your-walks'."""
    return _SLUG.sub("-", text.lower()).strip("-")


@dataclass(frozen=True)
class Section:
    """One `##` section of an article: the unit a physio approves and a patient reads, verbatim."""

    article_id: str
    heading: str
    text: str  # the Markdown under the heading, exactly as written (without the heading line)
    order: int
    questions: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.article_id}#{slug(self.heading)}"

    @property
    def words(self) -> int:
        return len(self.text.split())


def split_sections(body: str) -> list[tuple[str, str]]:
    """(heading, text) for each `##` section of a body; text before the first heading is not allowed."""
    marks = list(_HEADING.finditer(body))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        out.append((m.group(1).strip(), body[m.end() : end].strip()))
    return out


class Article(Strict):
    """An article of short `##` sections, each answering one question.

    `section_questions` maps a section's heading to how patients ask what that section answers;
    they are indexed with the section, so the right section is found for the words people use."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=3)
    summary: str = Field(min_length=10)
    questions: list[str] = Field(min_length=3, max_length=8)
    topics: list[str] = Field(min_length=1)
    audience: str
    sources: list[str] = Field(min_length=1)
    review: Review
    section_questions: dict[str, list[str]] = Field(default_factory=dict)
    body: str = ""
    path: str = ""

    @model_validator(mode="after")
    def _sections_match(self) -> Article:
        if not self.body:
            return self
        if self.body.strip() and not self.body.lstrip().startswith("## "):
            raise ValueError("body must start with a '## ' section heading: every sentence belongs to a section")
        headings = [h for h, _ in split_sections(self.body)]
        if len(set(map(slug, headings))) != len(headings):
            raise ValueError("two sections have the same heading; each section needs its own")
        unknown = [h for h in self.section_questions if h not in headings]
        if unknown:
            raise ValueError(f"section_questions names headings that are not in the body: {unknown}")
        return self

    def sections(self) -> list[Section]:
        """The body's sections in order, each with its patient phrasings."""
        return [
            Section(self.id, h, text, i, tuple(self.section_questions.get(h, ())))
            for i, (h, text) in enumerate(split_sections(self.body))
        ]

    @field_validator("body")
    @classmethod
    def _body_length(cls, body: str) -> str:
        words = len(body.split())
        if words and not 100 <= words <= 450:
            raise ValueError(f"body has {words} words; keep an answer unit to 120-400 words")
        return body


class Dosage(Strict):
    reps: int | None = None
    sets: int | None = None
    hold_seconds: int | None = None
    times_per_day: int | None = None
    minutes: int | None = None
    text: str


class ExerciseCard(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    category: Category
    targets: list[str]
    position: str
    summary: str
    steps: list[str] = Field(min_length=2)
    dosage: Dosage
    easier: str
    harder: str
    cautions: list[str]
    contraindications: list[Contraindication]
    stop_if: list[str] = Field(min_length=1)
    sources: list[str]
    review: Review
    path: str = ""


class Contact(Strict):
    number: str
    name: str
    instruction: str


class Clinic(Strict):
    """The clinic profile; the shipped file holds example values a clinic must replace."""

    example_values: bool = False
    name: str
    short_name: str
    address: str
    phone: str
    email: str
    booking_url: str
    timezone: str
    hours: dict[
        Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], list[tuple[str, str]]
    ]
    closed_dates: list[dt.date] = Field(default_factory=list)
    region: str
    guidance: str
    callback: str = "Call us and ask for a call-back, and the team will ring you back during opening hours."
    prices: str = "Please call us for our current prices."
    self_referral: str = "You can book with us directly; please call if you are unsure whether you need a referral."
    emergency: Contact
    urgent: Contact
    crisis: Contact


M = TypeVar("M", bound=BaseModel)


def describe_errors(path: Path, exc: ValidationError) -> str:
    """`file: field: what is wrong`, one line per problem."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        hint = ""
        if err["type"] == "string_type" and isinstance(err.get("input"), dict):
            hint = (
                " (YAML read this as a mapping: a pattern containing ': ' must be quoted,"
                " or write '\\s' instead of the space)"
            )
        lines.append(f"{path}: {field}: {err['msg']}{hint}")
    return "\n".join(lines)


# libyaml's parser when PyYAML has it: the same safe loading, several times faster (start-up reads 78 files)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(text: str) -> object:
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader


def read_yaml(path: Path) -> object:
    try:
        return _load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: (file): not valid YAML: {exc}") from exc


def validate(model: type[M], data: object, path: Path) -> M:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (file): expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(path, exc)) from exc


def split_front_matter(text: str, path: Path) -> tuple[dict[str, object], str]:
    if not text.startswith("---"):
        raise ConfigError(f"{path}: (file): missing YAML front matter (start the file with ---)")
    parts = text.split("---", 2)
    if len(parts) < 3:
        raise ConfigError(f"{path}: (file): front matter is not closed by a --- line")
    try:
        meta = _load(parts[1]) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: front matter: not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: front matter: expected a mapping of fields")
    return meta, parts[2].strip()


def load_article(path: Path) -> Article:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path)
    article = validate(Article, {**meta, "body": body, "path": str(path)}, path)
    if article.id != path.stem:
        raise ConfigError(f"{path}: id: {article.id!r} must match the file name {path.stem!r}")
    return article


def load_card(path: Path) -> ExerciseCard:
    data = read_yaml(path)
    card = validate(ExerciseCard, {**data, "path": str(path)} if isinstance(data, dict) else data, path)
    if card.id != path.stem:
        raise ConfigError(f"{path}: id: {card.id!r} must match the file name {path.stem!r}")
    return card


class KnowledgeBase(BaseModel):
    """Everything under `knowledge/`, validated as a whole."""

    model_config = ConfigDict(frozen=True)
    root: Path
    articles: dict[str, Article]
    cards: dict[str, ExerciseCard]
    clinic: Clinic


def _unique(items: Iterable[Article | ExerciseCard], kind: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        if item.id in out:
            raise ConfigError(f"{item.path}: id: duplicate {kind} id {item.id!r}")
        out[item.id] = item
    return out


def load_knowledge(root: Path) -> KnowledgeBase:
    """Load and validate the whole knowledge base, collecting every problem before failing."""
    problems: list[str] = []
    articles, cards = [], []
    for path in sorted((root / "articles").glob("*.md")):
        try:
            articles.append(load_article(path))
        except ConfigError as exc:
            problems.append(str(exc))
    for path in sorted((root / "exercises").glob("*.yaml")):
        try:
            cards.append(load_card(path))
        except ConfigError as exc:
            problems.append(str(exc))
    clinic: Clinic | None = None
    try:
        clinic = validate(Clinic, read_yaml(root / "clinic.yaml"), root / "clinic.yaml")
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError("The knowledge base has problems; nothing was written:\n" + "\n".join(problems))
    assert clinic is not None
    return KnowledgeBase(
        root=root,
        articles=_unique(articles, "article"),
        cards=_unique(cards, "exercise"),
        clinic=clinic,
    )
