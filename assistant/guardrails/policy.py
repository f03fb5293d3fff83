"""The safety policy file (texts and patterns), validated strictly and filled in from clinic.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.content import CONTRAINDICATIONS, Clinic, read_yaml, validate
from assistant.errors import ConfigError
from assistant.models import Level
from assistant.schema import Strict


class Referral(Strict):
    emergency: str
    urgent: str
    routine: str
    self_care: str


class Refusals(Strict):
    empty: str
    too_long: str
    unreadable: str
    off_topic: str
    injection: str
    medication_dose: str
    weak_retrieval: str
    elsewhere: str


class PolicyFile(Strict):
    disclaimer: str
    draft_note: str
    referral: Referral
    safety_net: str
    safety_net_flag: str = "cauda_equina"  # the signs the safety net names: not repeated when just asked
    crisis: str
    crisis_other: str
    crisis_someone_else: str
    crisis_writer: str
    screening_intro: str
    screening_intro_after: str
    unread_language: str = "If you can, please write again in English."
    refusals: Refusals
    exercise_general_rule: str
    exercise_blocked: str
    injection: list[str]
    medication_dose: list[str]
    medicine_words: str
    diagnosis_request: list[str]
    on_topic: str
    other_body_part: str = r"(?!x)x"
    core_topic: str = r"(?!x)x"
    exercise_intent: list[str]
    contraindications: dict[str, list[str]]
    dose_in_output: list[str]
    diagnosis_in_output: list[str]
    emergency_reminder: str
    screening_again: str
    taken_back_again: str = ""
    stopping_medicine: str
    stopping_medicine_advice: str
    unsure: str
    help_topics: list[str]
    exercise_categories: dict[str, list[str]]


def _any(patterns: list[str], where: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), flags)
    except re.error as exc:
        raise ConfigError(f"policy.yaml: {where}: bad pattern: {exc}") from exc


@dataclass(frozen=True)
class Policy:
    """Texts with the clinic's numbers filled in, and compiled patterns."""

    file: PolicyFile
    values: dict[str, str]
    injection: re.Pattern[str]
    medication_dose: re.Pattern[str]
    medicine_words: re.Pattern[str]
    diagnosis_request: re.Pattern[str]
    on_topic: re.Pattern[str]
    other_body_part: re.Pattern[str]
    core_topic: re.Pattern[str]
    exercise_intent: re.Pattern[str]
    contraindications: dict[str, re.Pattern[str]]
    dose_in_output: re.Pattern[str]
    diagnosis_in_output: re.Pattern[str]
    crisis_someone_else: re.Pattern[str]
    crisis_writer: re.Pattern[str]
    stopping_medicine: re.Pattern[str]
    help_topics: frozenset[str]
    exercise_categories: dict[str, re.Pattern[str]]

    def text(self, template: str, **extra: object) -> str:
        """Fill a policy text with the clinic's values (and any extra ones)."""
        return " ".join(template.format(**self.values, **{k: str(v) for k, v in extra.items()}).split())

    def about_someone_else(self, evidence: str) -> bool:
        """Whether a self-harm signal is about another person (then `crisis_other` is shown, not `crisis`)."""
        return bool(self.crisis_someone_else.search(evidence)) and not self.crisis_writer.search(evidence)

    def referral(self, level: Level) -> str:
        return self.text(getattr(self.file.referral, level.value))

    def refusal(self, kind: str, **extra: object) -> str:
        return self.text(getattr(self.file.refusals, kind), **extra)


def clinic_values(clinic: Clinic) -> dict[str, str]:
    return {
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone,
        "booking_url": clinic.booking_url,
        "emergency_number": clinic.emergency.number,
        "emergency_instruction": clinic.emergency.instruction,
        "urgent_name": clinic.urgent.name,
        "urgent_number": clinic.urgent.number,
        "urgent_instruction": clinic.urgent.instruction,
        "crisis_name": clinic.crisis.name,
        "crisis_number": clinic.crisis.number,
        "crisis_instruction": clinic.crisis.instruction,
    }


def load_policy(path: Path, clinic: Clinic) -> Policy:
    f = validate(PolicyFile, read_yaml(path), path)
    unknown = set(f.contraindications) - set(CONTRAINDICATIONS)
    if unknown:
        raise ConfigError(f"{path}: contraindications: unknown ids {sorted(unknown)}; use the exercise cards' ids")
    return Policy(
        file=f,
        values=clinic_values(clinic),
        injection=_any(f.injection, "injection"),
        medication_dose=_any(f.medication_dose, "medication_dose"),
        medicine_words=re.compile(rf"\b{f.medicine_words}\b"),
        diagnosis_request=_any(f.diagnosis_request, "diagnosis_request"),
        on_topic=re.compile(rf"\b{f.on_topic}\b"),
        other_body_part=re.compile(rf"\b{f.other_body_part}\b"),
        core_topic=re.compile(rf"\b{f.core_topic}\b"),
        exercise_intent=_any(f.exercise_intent, "exercise_intent"),
        contraindications={k: _any(v, f"contraindications.{k}") for k, v in f.contraindications.items()},
        dose_in_output=_any(f.dose_in_output, "dose_in_output"),
        crisis_someone_else=_any([f.crisis_someone_else], "crisis_someone_else", re.IGNORECASE),
        crisis_writer=_any([f.crisis_writer], "crisis_writer", re.IGNORECASE),
        stopping_medicine=_any([f.stopping_medicine], "stopping_medicine"),
        help_topics=frozenset(f.help_topics),
        exercise_categories={k: _any(v, f"exercise_categories.{k}") for k, v in f.exercise_categories.items()},
        diagnosis_in_output=re.compile("|".join(f"(?:{p})" for p in f.diagnosis_in_output), re.IGNORECASE),
    )


@lru_cache(maxsize=4)
def cached_policy(path: Path, clinic: Clinic) -> Policy:
    return load_policy(path, clinic)
