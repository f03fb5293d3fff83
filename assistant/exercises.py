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


def plan(
    cards: dict[str, ExerciseCard],
    relevance: dict[str, float],
    conditions: set[str],
    leg_symptoms: bool,
    size: int = 4,
) -> list[ExerciseCard]:
    """3-5 cards: the closest match first, then one per missing pillar, plus a nerve glide for leg symptoms.

    `relevance` scores each card for this conversation (higher is closer); cards ruled out by a
    mentioned condition are never proposed.
    """
    eligible = [c for c in cards.values() if not set(c.contraindications) & conditions]
    if not eligible:
        return []
    ranked = sorted(eligible, key=lambda c: (-relevance.get(c.id, 0.0), c.id))
    chosen: list[ExerciseCard] = [ranked[0]]
    wanted = list(PILLARS) + (["nerve_mobility"] if leg_symptoms else [])
    for category in wanted:
        if any(c.category == category for c in chosen):
            continue
        best = next((c for c in ranked if c.category == category), None)
        if best is not None:
            chosen.append(best)
    for card in ranked:
        if len(chosen) >= max(3, min(size, 5)):
            break
        if card not in chosen:
            chosen.append(card)
    return chosen[:5]


def leg_symptoms_in(texts: list[str]) -> bool:
    return any(_LEG.search(t.lower()) for t in texts)


def render_card(card: ExerciseCard) -> str:
    """Compact Markdown for one card: what, how, how much, when to stop."""
    steps = " ".join(card.steps)
    stop = "; ".join(card.stop_if)
    return (
        f"- **{card.name}** ({card.category.replace('_', ' ')}). {steps} "
        f"*How much:* {card.dosage.text} *Stop if:* {stop}."
    )
