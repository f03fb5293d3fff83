"""Sentences: the one place that says where a sentence ends.

A sentence ends at `.`, `!` or `?` followed by a space (`END`). Two readers build on it, because the
two kinds of text differ:

- `sentences` reads what a patient typed (for triage and the net): a semicolon, a line break and a
  full stop with no space after it ("numb.Cant wee") end a sentence too, since run-on messages are
  common and a denial or someone else's story must not reach past its own statement.
- `prose_sentences` cuts our own well-formed text (the output check, the content lint, the eval's
  answer checks) at `END` only, and keeps every character, so the pieces join back as written.

>>> sentences("my back hurts; no numbness.Cant sleep")
['my back hurts;', 'no numbness', 'Cant sleep']
>>> prose_sentences("Walk daily.  Rest if it hurts; then try again.")
['Walk daily.', 'Rest if it hurts; then try again.']
"""

from __future__ import annotations

import re

END = r"(?<=[.!?])\s+"
_PATIENT = re.compile(END + r"|(?<=;)\s+|\n+|(?<=[a-z])[.!?]+(?=[A-Z])")
_PROSE = re.compile(END)


def sentences(text: str) -> list[str]:
    """A patient's message in sentences, stripped (original wording kept, for evidence)."""
    parts = [p.strip() for p in _PATIENT.split(text) if p and p.strip()]
    return parts or ([text.strip()] if text.strip() else [])


def prose_sentences(text: str) -> list[str]:
    """Our own text cut at sentence ends, every piece as written (nothing stripped or dropped)."""
    return _PROSE.split(text)
