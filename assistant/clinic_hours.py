"""Is the clinic open now, and when does it next open? Pure functions over `clinic.yaml`."""

from __future__ import annotations

import datetime as dt
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
