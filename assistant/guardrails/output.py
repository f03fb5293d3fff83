"""Output policy: the last check on any text before a patient sees it (doses, diagnosis wording)."""

from __future__ import annotations

from assistant.guardrails.policy import Policy
from assistant.sentences import prose_sentences


def has_dose(text: str, policy: Policy) -> bool:
    """A medicine amount or a tablet count: never shown to a patient."""
    return bool(policy.dose_in_output.search(text.lower()))


def has_diagnosis(text: str, policy: Policy) -> bool:
    return bool(policy.diagnosis_in_output.search(text))


def scrub(text: str, policy: Policy) -> tuple[str, list[str]]:
    """Drop any sentence that states a dose or a diagnosis; return the text and what was dropped."""
    kept: list[str] = []
    dropped: list[str] = []
    for paragraph in text.split("\n"):
        sentences = prose_sentences(paragraph)
        good = [s for s in sentences if not (has_dose(s, policy) or has_diagnosis(s, policy))]
        dropped.extend(s for s in sentences if s not in good)
        kept.append(" ".join(good))
    return "\n".join(kept), dropped
