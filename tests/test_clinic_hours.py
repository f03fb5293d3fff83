"""Opening hours read from the clinic profile: the day a question names comes first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from assistant.clinic_hours import asked_days
from assistant.content import load_knowledge

CLINIC = load_knowledge(Path(__file__).resolve().parent.parent / "knowledge").clinic
THURSDAY = dt.datetime(2026, 12, 3, 20, 30, tzinfo=ZoneInfo(CLINIC.timezone))


def _hours(day: str) -> str:
    return " and ".join(f"{a}-{b}" for a, b in CLINIC.hours.get(day, [])) or "closed"


def test_a_named_day_gets_that_days_hours() -> None:
    said = asked_days(CLINIC, "what time are you open on saturday?", THURSDAY)
    assert said.startswith("On Saturday") and _hours("saturday") in said


def test_today_and_tomorrow_are_the_clinics_own_dates_in_the_order_asked() -> None:
    said = asked_days(CLINIC, "are you open tomorrow or today", THURSDAY)
    assert said.index("Tomorrow (Friday)") < said.index("Today (Thursday)")
    assert _hours("thursday") in said and _hours("friday") in said


def test_a_closed_day_says_closed_and_the_weekend_names_both_days() -> None:
    said = asked_days(CLINIC, "open at the weekend?", THURSDAY)
    assert "On Saturday" in said and "On Sunday we are closed." in said


def test_a_closed_date_overrides_the_weekly_hours() -> None:
    closed = CLINIC.model_copy(update={"closed_dates": [dt.date(2026, 12, 5)]})
    assert asked_days(closed, "saturday hours?", THURSDAY) == "On Saturday we are closed."


def test_no_day_named_adds_nothing() -> None:
    assert asked_days(CLINIC, "what are your opening hours?", THURSDAY) == ""
    assert asked_days(CLINIC, "I sat down and it hurt on the sunny side", THURSDAY) == ""
