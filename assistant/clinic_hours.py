"""Is the clinic open now, and when does it next open? Pure functions over `clinic.yaml`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from assistant.content import Clinic

Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
DAYS: tuple[Day, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class OpenStatus:
    open_now: bool
    closes_at: dt.datetime | None
    next_open: dt.datetime | None

    def sentence(self, clinic: Clinic, now: dt.datetime) -> str:
        """One friendly line for the chat greeting."""
        if self.open_now and self.closes_at:
            return (
                f"{clinic.name} is open now, until {self.closes_at:%H:%M}. "
                f"Call {clinic.phone} or book at {clinic.booking_url}."
            )
        if self.next_open is None:
            return f"{clinic.name} is closed at the moment. You can leave a call-back request below."
        at = when(self.next_open, now)
        return (
            f"{clinic.name} is closed right now. It opens again {at}. You can book online at "
            f"{clinic.booking_url}, or leave a call-back request below and the team will contact you."
        )


def when(moment: dt.datetime, now: dt.datetime) -> str:
    days = (moment.date() - now.date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else f"on {moment:%A}"
    return f"{day} at {moment:%H:%M}"


def _parse(day: dt.date, hhmm: str, tz: ZoneInfo) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), tzinfo=tz)


def open_status(clinic: Clinic, now: dt.datetime | None = None) -> OpenStatus:
    """Open/closed now in the clinic's own time zone, with the next opening within two weeks."""
    tz = ZoneInfo(clinic.timezone)
    now = (now or dt.datetime.now(tz)).astimezone(tz)
    for offset in range(15):
        day = now.date() + dt.timedelta(days=offset)
        if day in clinic.closed_dates:
            continue
        for start, end in clinic.hours.get(DAYS[day.weekday()], []):
            opens, closes = _parse(day, start, tz), _parse(day, end, tz)
            if offset == 0 and opens <= now < closes:
                return OpenStatus(True, closes, None)
            if opens > now:
                return OpenStatus(False, None, opens)
    return OpenStatus(False, None, None)


def hours_table(clinic: Clinic) -> str:
    rows = []
    for day in DAYS:
        spans = clinic.hours.get(day, [])
        text = ", ".join(f"{a}-{b}" for a, b in spans) if spans else "closed"
        rows.append(f"{day.capitalize()}: {text}")
    return "; ".join(rows)


_DAY_WORDS: dict[str, tuple[int, ...]] = {
    **{d: (i,) for i, d in enumerate(DAYS)},
    **{d + "s": (i,) for i, d in enumerate(DAYS)},
    **{short: (i,) for i, short in enumerate(("mon", "tue", "wed", "thu", "fri"))},  # not "sat", "sun"
    "tues": (1,),
    "thur": (3,),
    "thurs": (3,),
    "weekend": (5, 6),
    "weekends": (5, 6),
}


def asked_days(clinic: Clinic, message: str, now: dt.datetime) -> str:
    """The hours of the days a question names ("what time are you open on saturday?"), to lead the
    answer; "" when it names none. "today" and "tomorrow" are the clinic's own dates."""
    tz = ZoneInfo(clinic.timezone)
    today = now.astimezone(tz).date()
    dates: list[tuple[str, dt.date]] = []
    for word in re.findall(r"[a-z]+", message.lower()):
        if word in ("today", "tonight"):
            dates.append((f"Today ({today:%A})", today))
        elif word == "tomorrow":
            day = today + dt.timedelta(days=1)
            dates.append((f"Tomorrow ({day:%A})", day))
        for weekday in _DAY_WORDS.get(word, ()):
            day = today + dt.timedelta(days=(weekday - today.weekday()) % 7)
            dates.append((f"On {day:%A}", day))
    said: list[str] = []
    for label, day in dict.fromkeys(dates):
        spans = [] if day in clinic.closed_dates else clinic.hours.get(DAYS[day.weekday()], [])
        hours = " and ".join(f"{a}-{b}" for a, b in spans)
        said.append(f"{label} we are open {hours}." if spans else f"{label} we are closed.")
    return " ".join(dict.fromkeys(said))
