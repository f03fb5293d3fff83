"""Plain data types shared by every stage (Contract 1 of DESIGN.md is built from these)."""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Level(str, Enum):  # noqa: UP042 - StrEnum would change str() and format() of levels in logs and texts
    """Triage levels, ordered from least to most urgent."""

    self_care = "self_care"
    routine = "routine"
    urgent = "urgent"
    emergency = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.self_care: 0, Level.routine: 1, Level.urgent: 2, Level.emergency: 3}


def max_level(*levels: Level) -> Level:
    """The most urgent of the given levels (self_care when none)."""
    return max(levels, key=lambda lv: lv.rank, default=Level.self_care)


class Turn(BaseModel):
    """One message of the conversation so far."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str


class FlagHit(BaseModel):
    id: str
    evidence: str
    condition: str = ""
    level: Level = Level.self_care
    source: Literal["rules", "net"] = "rules"  # which half of the safety net raised it


class Triage(BaseModel):
    level: Level = Level.self_care
    flags: list[FlagHit] = Field(default_factory=list)
    screening_question: str | None = None
    safety_advice: str | None = None  # what to do meanwhile, shown with the screening question


class SourceRef(BaseModel):
    id: str
    title: str
    score: float
    kind: str = "article"
    status: str = "draft"
    section: str | None = None  # the heading of the section quoted from this source


class AnswerSection(BaseModel):
    """A whole reviewed section, quoted verbatim: the unit a physio approves is the unit a patient reads."""

    id: str  # "<source id>#<heading slug>"
    source_id: str
    title: str  # the article's title
    heading: str
    text: str  # Markdown, exactly as written in the article


class Suggestion(BaseModel):
    """A "Did you mean...?" choice: what it is called, and the message to send when chosen."""

    id: str
    title: str  # the section's heading
    article: str = ""  # the article it belongs to
    message: str  # what is sent as the next message when chosen


class ExerciseRef(BaseModel):
    id: str
    name: str
    category: str


class Reply(BaseModel):
    """What every front end shows; serialises to the Contract 1 JSON object.

    `answer` is the whole reply as Markdown (for text front ends and the conversation history);
    the structured parts beside it are what a rich front end renders, in this order: `lead` (the
    urgent or emergency instruction), `notes` (an urgent screening question, refusals, clinic
    details), `sections` (the answer), `check` (a routine screening question: asked right after
    the answer, not before it), `suggestions`, `exercises` with `plan_note`, `help`, `sources`,
    `disclaimer`."""

    id: str | None = None
    triage: Triage = Field(default_factory=Triage)
    answer: str = ""
    lead: str = ""
    notes: list[str] = Field(default_factory=list)
    sections: list[AnswerSection] = Field(default_factory=list)
    check: list[str] = Field(
        default_factory=list
    )  # a routine screening question (and what to do meanwhile), after the answer
    suggestions: list[Suggestion] = Field(default_factory=list)
    plan_note: str = ""
    help: str = ""
    intent: str | None = None  # "clinic.hours", "exercises", ... when the message was recognised as one
    sources: list[SourceRef] = Field(default_factory=list)
    exercises: list[ExerciseRef] = Field(default_factory=list)
    disclaimer: str = ""
    refused: bool = False
    refusal_reason: str | None = None
    draft_content: bool = False
    latency_ms: float = 0.0
    turn_id: int | None = None

    def contract(self) -> dict[str, object]:
        """The JSON object of Contract 1 (extra fields are allowed by the contract)."""
        return self.model_dump(mode="json")
