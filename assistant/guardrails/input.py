"""Input policy: what kind of message this is before any answer is attempted."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.canonical import canonical, normalise
from assistant.guardrails.policy import Policy

# the most of one message that triage reads: five times the longest message answered (linear time)
TRIAGE_LIMIT = 20_000


@dataclass(frozen=True)
class InputCheck:
    """The verdict on one message; `blocked` means no retrieval or answer is attempted."""

    kind: str  # ok | empty | too_long | unreadable | injection
    cleaned: str
    injection: bool = False
    medication_dose: bool = False
    diagnosis_request: bool = False
    on_topic: bool = True
    elsewhere: bool = False  # about another part of the body, not the low back or legs

    @property
    def blocked(self) -> bool:
        return self.kind in ("empty", "too_long", "unreadable")


def clean(text: str) -> str:
    """The canonical text (see `assistant.canonical`), keeping the writer's line breaks for triage."""
    return canonical(text, join_lines=False)


def check_input(message: object, policy: Policy, max_chars: int) -> InputCheck:
    """Classify a raw message: empty, too long, unreadable, injection, dose or diagnosis request."""
    if not isinstance(message, str):
        return InputCheck("unreadable", "")
    if len(message) > max_chars:
        # refused as too long, but triaged whole (up to TRIAGE_LIMIT): a red flag may sit at the end
        return InputCheck("too_long", canonical(message[:TRIAGE_LIMIT]))
    text = clean(message)
    if not text.strip():
        return InputCheck("empty", "")
    letters = sum(ch.isalpha() for ch in text)
    if letters == 0 or (len(text) > 20 and letters / len(text) < 0.3):
        return InputCheck("unreadable", text)
    norm = normalise(text)
    return InputCheck(
        "ok",
        text,
        injection=bool(policy.injection.search(norm)),
        medication_dose=bool(policy.medication_dose.search(norm)),
        diagnosis_request=bool(policy.diagnosis_request.search(norm)),
        on_topic=bool(policy.on_topic.search(norm) or policy.medicine_words.search(norm)),
        elsewhere=bool(policy.other_body_part.search(norm) and not policy.core_topic.search(norm)),
    )
