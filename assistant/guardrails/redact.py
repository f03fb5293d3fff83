"""Replace personal data with labels before a message is logged.

The patterns are data (`knowledge/safety/redaction.yaml`), each with the examples that prove it,
so a clinic can read and extend them without reading Python. They are validated and compiled
once; `redact` is then a handful of linear regex passes.

>>> redact("my name is Sarah Jones, call me on 07700 900123")
'my name is [name], call me on [phone]'
>>> redact("I'm 67, pain at L4/L5 for 3 weeks")
"I'm 67, pain at L4/L5 for 3 weeks"
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import Field, model_validator

from assistant.content import read_yaml, validate
from assistant.errors import ConfigError
from assistant.schema import Strict

FLAGS = re.IGNORECASE | re.VERBOSE
_REFERENCE = re.compile(r"\(\?&(\w+)\)")


class Example(Strict):
    """A message a rule must change, and exactly what it must become."""

    text: str
    becomes: str


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(pattern=r"^\[[a-z-]+\]$")
    why: str = Field(min_length=10)
    pattern: str
    redact: list[Example] = Field(min_length=1)
    keep: list[str] = Field(default_factory=list)


class RedactionRules(Strict):
    """The whole file; `define` holds shared pieces that patterns use as `(?&name)`."""

    define: dict[str, str] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)
    keep: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _patterns_compile(self) -> RedactionRules:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule {rule.id!r} is listed twice")
            seen.add(rule.id)
            try:
                re.compile(expand(rule.pattern, self.define), FLAGS)
            except (re.error, KeyError, RecursionError) as exc:
                raise ValueError(f"rule {rule.id!r}: pattern does not compile: {exc}") from exc
        return self


def expand(pattern: str, define: dict[str, str], depth: int = 0) -> str:
    """Inline every `(?&name)` with its definition (Python's `re` has no subroutine calls)."""
    if depth > 10:
        raise RecursionError("definitions refer to each other in a loop")

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in define:
            raise KeyError(f"(?&{name}) is not in `define`")
        return f"(?:{expand(define[name], define, depth + 1)})"

    return _REFERENCE.sub(inline, pattern)


class CompiledRule:
    """One rule, ready to run: replaces the `pii` group when there is one, else the whole match."""

    def __init__(self, rule: Rule, define: dict[str, str]) -> None:
        self.id = rule.id
        self.label = rule.label
        self.regex = re.compile(expand(rule.pattern, define), FLAGS)
        self._partial = "pii" in self.regex.groupindex

    def apply(self, text: str) -> str:
        return self.regex.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        if not self._partial:
            return self.label
        whole, start = match.group(0), match.start()
        return whole[: match.start("pii") - start] + self.label + whole[match.end("pii") - start :]


def default_path() -> Path:
    """The rules shipped with the package (the repo's copy when running from a checkout)."""
    try:
        return Path(str(resources.files("physio_knowledge"))) / "safety" / "redaction.yaml"
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "knowledge" / "safety" / "redaction.yaml"


def load_rules(path: Path | None = None) -> RedactionRules:
    """Read and validate a rules file; a typo fails loudly as `file: field: problem`."""
    path = path or default_path()
    if not path.is_file():
        raise ConfigError(f"{path}: (file): redaction rules not found; reinstall physio-assistant")
    return validate(RedactionRules, read_yaml(path), path)


@lru_cache(maxsize=4)
def compiled(path: Path | None = None) -> tuple[CompiledRule, ...]:
    """The rules of `path`, compiled once per process."""
    rules = load_rules(path)
    return tuple(CompiledRule(rule, rules.define) for rule in rules.rules)


def redact(text: str, path: Path | None = None) -> str:
    """`text` with emails, social handles, card, phone, NHS and National Insurance numbers, postcodes,
    addresses, dates of birth and names replaced by labels such as `[phone]`; ages, durations,
    counts, spinal levels and symptom words (even right beside a name) stay.

    >>> redact("DOB 01/02/1960, I live in SW1A 1AA")
    'DOB [dob], I live in [postcode]'
    """
    for rule in compiled(path):
        text = rule.apply(text)
    return text
