"""A short, balanced exercise plan from the cards, filtered by what the conversation says."""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.content import ExerciseCard
from assistant.guardrails.policy import Policy

PILLARS = ("strengthening", "stretching", "aerobic")
_LEG = re.compile(r"\b(?:leg|legs|calf|thigh|foot|sciatica|sciatic|tingl\w*|pins and needles|shooting|down my)\b")

Mentioned = Callable[[str, re.Pattern[str]], bool]


def conditions_in(texts: list[str], policy: Policy, mentioned: Mentioned) -> set[str]:
    """Contraindication ids the patient has mentioned (denied or hypothetical mentions don't count)."""
    found = {cid for cid, rx in policy.contraindications.items() if any(mentioned(t, rx) for t in texts)}
    if "pregnancy" in found:
        # weeks unknown or later: be cautious about lying flat on the back
        found.add("pregnancy_after_16_weeks")
    return found


def wants_exercises(message: str, policy: Policy) -> bool:
    return bool(policy.exercise_intent.search(message.lower()))


def categories_in(message: str, policy: Policy) -> set[str]:
    """The card categories a request names ('a stretch for my bum' -> {'stretching'}); empty: any."""
    low = message.lower()
    return {cat for cat, rx in policy.exercise_categories.items() if rx.search(low)}


def plan(
    cards: dict[str, ExerciseCard],
    relevance: dict[str, float],
    conditions: set[str],
    leg_symptoms: bool,
    size: int = 3,
    categories: set[str] | None = None,
) -> list[ExerciseCard]:
    """At most `size` cards: the closest match first, then the best of each other pillar.

    `relevance` scores each card for this conversation (higher is closer); cards ruled out by a
    mentioned condition are never proposed; a request that names kinds of exercise ('stretches')
    gets only those kinds. Leg symptoms bring a nerve glide into the pillars.
    """
    eligible = [c for c in cards.values() if not set(c.contraindications) & conditions]
    if categories:
        eligible = [c for c in eligible if c.category in categories]
    if not eligible:
        return []
    ranked = sorted(eligible, key=lambda c: (-relevance.get(c.id, 0.0), c.id))
    chosen: list[ExerciseCard] = [ranked[0]]
    wanted = (["nerve_mobility"] if leg_symptoms else []) + list(PILLARS)
    for category in wanted if not categories else []:
        if len(chosen) >= size:
            break
        if any(c.category == category for c in chosen):
            continue
        best = next((c for c in ranked if c.category == category), None)
        if best is not None:
            chosen.append(best)
    for card in ranked:
        if len(chosen) >= size:
            break
        if card not in chosen:
            chosen.append(card)
    return chosen[:size]


def leg_symptoms_in(texts: list[str]) -> bool:
    return any(_LEG.search(t.lower()) for t in texts)


def render_card(card: ExerciseCard) -> str:
    """Compact Markdown for one card: what, how, how much, who should take care, when to stop."""
    steps = " ".join(card.steps)
    stop = "; ".join(card.stop_if)
    care = f" *Take care:* {' '.join(card.cautions)}" if card.cautions else ""
    return (
        f"- **{card.name}** ({card.category.replace('_', ' ')}). {steps} "
        f"*How much:* {card.dosage.text}{care} *Stop if:* {stop}."
    )
