"""Questions about the clinic (hours, call-back, booking, prices, referral, where, who), by meaning.

The examples live in `knowledge/language/intents.yaml`; a message is one of these intents when its
embedding is close to an intent's examples and not clearly closer to an article. The answer is
filled from the clinic profile, so it is always the clinic's own, current details.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import Field

from assistant.clinic_hours import OpenStatus, asked_days, hours_table, open_status, when
from assistant.content import Clinic, read_yaml, validate
from assistant.schema import Strict


class IntentSpec(Strict):
    answer: str
    examples: list[str] = Field(min_length=3)


class IntentFile(Strict):
    threshold: float = Field(ge=0, le=1)
    margin: float = Field(ge=0, le=1)
    low_threshold: float = Field(ge=0, le=1)
    lead: float = Field(ge=0, le=1)
    short_words: int = Field(ge=1)
    intents: dict[str, IntentSpec]


@dataclass(frozen=True)
class Match:
    intent: str
    score: float
    example: str


@dataclass
class Intents:
    """The clinic intents with their example vectors (encoded once at start-up)."""

    file: IntentFile
    names: list[str]  # one per example row
    examples: list[str]
    vectors: np.ndarray

    @classmethod
    def load(cls, path: Path, encode: Callable[[Sequence[str]], np.ndarray]) -> Intents:
        spec = validate(IntentFile, read_yaml(path), path)
        names = [name for name, it in spec.intents.items() for _ in it.examples]
        examples = [ex for it in spec.intents.values() for ex in it.examples]
        return cls(spec, names, examples, np.asarray(encode(examples), dtype=np.float32))

    def match(self, vector: np.ndarray, best_article: float, words: int = 0) -> Match | None:
        """The clinic intent of a message, if it has one (`best_article`: its best article cosine;
        `words`: the message's length, as the looser rule is for short casual messages only)."""
        sims = self.vectors @ vector
        i = int(np.argmax(sims))
        score = float(sims[i])
        f = self.file
        sure = score >= f.threshold and score + f.margin >= best_article
        clear = score >= f.low_threshold and score >= best_article + f.lead and 0 < words <= f.short_words
        if not (sure or clear):
            return None
        return Match(self.names[i], score, self.examples[i])

    def answer(self, intent: str, clinic: Clinic, now: dt.datetime | None = None, message: str = "") -> str:
        """The intent's reply, filled from the clinic profile at the clinic's local time (`message`: the
        question, whose named days lead an hours answer)."""
        now = now or dt.datetime.now(ZoneInfo(clinic.timezone))
        status = open_status(clinic, now)
        days = asked_days(clinic, message, now)
        values = {
            "asked_days": days + "\n\n" if days else "",
            "name": clinic.name,
            "phone": clinic.phone,
            "email": clinic.email,
            "address": clinic.address,
            "booking_url": clinic.booking_url,
            "open_status": status.sentence(clinic, now),
            "open_now": _open_now(status, clinic, now),
            "hours": hours_table(clinic),
            "prices": clinic.prices,
            "callback": clinic.callback,
            "self_referral": clinic.self_referral,
        }
        text = self.file.intents[intent].answer.format(**values)
        return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))


def _open_now(status: OpenStatus, clinic: Clinic, now: dt.datetime) -> str:
    """'We are open now, until 19:00.' / 'We are closed now and open again Monday at 08:00.'"""
    if status.open_now and status.closes_at:
        return f"We are open now, until {status.closes_at:%H:%M}."
    if status.next_open is not None:
        return f"We are closed now and open again {when(status.next_open, now)}."
    return "We are closed at the moment."
