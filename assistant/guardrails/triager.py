"""Rules and the learned net combined into one triage, by the policy in `knowledge/safety/net.yaml`.

The rules decide when they fire. The net adds what they did not spell out: a strong signal
escalates to the family's flag, a moderate one (or a strong one inside a clause that carries a
denial) asks the family's screening question with its safety advice. A family the writer
explicitly denies, or whose question was answered no, is not asked again.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from assistant.canonical import canonical
from assistant.content import read_yaml, validate
from assistant.gloss import gloss
from assistant.guardrails.doses import engine as medicine_engine
from assistant.guardrails.triage import CHECKED, TriageEngine, answer_verdict, load_engine, questions_in
from assistant.guardrails.triage_net import ASIDE, Encode, NetSignal, NetWeights, RedFlagNet, Unit, clauses, user_turns
from assistant.models import FlagHit, Level, Triage, Turn, max_level
from assistant.readable import Readability, knowledge_lexicon
from assistant.schema import Strict

log = logging.getLogger("physio.triage")
UNREAD = "language_check"  # the flag of a message the triage cannot read
NET_LIMIT = 8_000  # characters of a message the net reads; longer ones (refused as too long) get the rules alone
MAX_UNITS_PER_TURN = 48  # the net's cost stays bounded on a pasted essay; the rules still read every word


class FamilyPolicy(Strict):
    label: str
    flags: list[str]
    flag: str
    denied_by: list[str]
    question: str
    advice: str
    # a crisis family: asked about any message, health words or not (a person in crisis rarely
    # mentions their back), and before anything else in the reply
    crisis: bool = False
    # what a question in other words asks about this family ("any tightness in your chest?"): the
    # writer's answer to it answers the family's question
    asks_about: str = r"(?!x)x"
    # the family asks only when the conversation's own words touch its subject (`asks_when`, or, with
    # `or_medicine_named`, a medicine, tablets or a packet the medicine reader knows): the overdose
    # question is no answer to "Do you take Bupa?". Escalation on a strong signal is not limited.
    asks_when: str | None = None
    or_medicine_named: bool = False
    # families whose question is asked too when this family's flag is raised below an emergency: a
    # weak leg, an infection or a cancer can be the start of one ("both legs weak" is cauda equina)
    also_ask: list[str] = []

    @field_validator("asks_about", "asks_when")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)  # a bad pattern fails at load, naming the family's field
        return value


class Thresholds(Strict):
    escalate: float
    ask: float


class UnreadPolicy(Strict):
    """What a message the triage cannot read gets (`assistant.readable`): the red-flag checklist."""

    min_words: int = Field(ge=1)
    min_share: float = Field(gt=0, le=1)
    question: str
    advice: str


class NetPolicy(Strict):
    families: dict[str, FamilyPolicy]
    thresholds: dict[str, Thresholds]
    unread: UnreadPolicy | None = None

    @model_validator(mode="after")
    def _every_family_has_thresholds(self) -> NetPolicy:
        missing = set(self.families) - set(self.thresholds)
        if missing:
            raise ValueError(f"families without thresholds: {sorted(missing)}")
        for name, t in self.thresholds.items():
            if not 0 < t.ask <= t.escalate <= 1:
                raise ValueError(f"thresholds of {name!r} must satisfy 0 < ask <= escalate <= 1")
        for name, fam in self.families.items():
            if unknown := set(fam.also_ask) - set(self.families):
                raise ValueError(f"family {name!r}: also_ask names unknown families {sorted(unknown)}")
        return self


def policy_path(knowledge: Path) -> Path:
    return knowledge / "safety" / "net.yaml"


def weights_path(knowledge: Path) -> Path:
    return knowledge / "safety" / "triage_net.json"


def load_net_policy(knowledge: Path) -> NetPolicy:
    return validate(NetPolicy, read_yaml(policy_path(knowledge)), policy_path(knowledge))


def load_triager(knowledge: Path, encode: Encode | None = None, model_name: str | None = None) -> Triager:
    """The rules, and the net beside them when its weights ship and were trained on this encoder."""
    engine = load_engine(knowledge)
    policy = load_net_policy(knowledge)
    u = policy.unread
    readable = Readability(knowledge_lexicon(knowledge), u.min_words, u.min_share) if u else None
    path = weights_path(knowledge)
    if encode is None or not path.is_file():
        return Triager(engine, policy, readable=readable)
    weights = NetWeights.load(path)
    if model_name is not None and weights.model_name != model_name:
        log.warning("triage net trained on %s, not %s: running the rules alone", weights.model_name, model_name)
        return Triager(engine, policy, readable=readable)
    return Triager(engine, policy, RedFlagNet(weights, encode), readable)


@dataclass
class Triager:
    """Triage of a conversation by the rules and, when loaded, the net beside them."""

    engine: TriageEngine
    policy: NetPolicy
    net: RedFlagNet | None = None
    readable: Readability | None = None  # None: every message is taken as read

    def __post_init__(self) -> None:
        for name, fam in self.policy.families.items():
            for fid in [fam.flag, *fam.flags]:
                self.engine.flag(fid)  # KeyError names a family pointing at a flag the rules lack
            for concept in fam.denied_by:
                if concept not in self.engine.rules.concepts:
                    raise ValueError(f"net family {name!r}: unknown concept {concept!r}")

    # ---- what the net reads --------------------------------------------------------------------
    def units(self, message: str, history: list[Turn] | None = None) -> tuple[list[Unit], int]:
        """Every user clause, with how the net may read it (hypothetical, general or someone else's are
        set aside: only a crisis family reads them), and the current turn."""
        turns = user_turns(message, history)
        out: list[Unit] = []
        for idx, text in turns:
            for clause in _windows(clauses(net_text(text)), MAX_UNITS_PER_TURN):
                out.append(Unit(clause, idx, self.engine.clause_status(clause) or ASIDE))
        return out, (turns[-1][0] if turns else 0)

    def signal(self, message: str, history: list[Turn] | None = None) -> NetSignal | None:
        if self.net is None:
            return None
        units, current = self.units(message, history)
        return self.net.score(units, current, net_text(message))

    # ---- the combination ------------------------------------------------------------------------
    def triage(self, message: str, history: list[Turn] | None = None, *, on_topic: bool = True) -> Triage:
        """`on_topic=False` (nothing about health or the body, e.g. a recipe): the net may still escalate
        a strong signal, and asks only the questions of crisis families (self-harm)."""
        rules = self.engine.triage(message, history)
        sig = self.signal(message, history) if len(message) <= NET_LIMIT else None
        if sig is None:
            return self.checked_if_unread(self.also_asked(rules, message, history), message, history)
        return self.combine(rules, sig, message, history, on_topic=on_topic)

    def combine(
        self, rules: Triage, sig: NetSignal, message: str, history: list[Turn] | None = None, *, on_topic: bool = True
    ) -> Triage:
        """The rules' triage with the net's signal added by the policy (pure: the evals call it too)."""
        turns = [*(history or []), Turn(role="user", content=message)]
        back = self.engine.taken_back_at(turns)  # a yes before it no longer counts (`_answered`)
        # a family the rules raised, or whose signs a clinician checked (asked again), is theirs
        raised = {f.id.removesuffix(CHECKED) for f in rules.flags}
        checked = {f.id.removesuffix(CHECKED) for f in rules.flags if f.id.endswith(CHECKED)}
        checked -= {f.id for f in rules.flags}
        flags = list(rules.flags)
        questions: list[str] = []
        advice: list[str] = []
        for name, fam in self.policy.families.items():
            if raised & set(fam.flags):
                if checked & set(fam.flags) and not rules.screening_question:
                    questions.append(fam.question)  # checked by a clinician: the family's question again
                    advice.append(fam.advice)
                continue
            t = self.policy.thresholds[name]
            answer = self._answered(turns, fam, back)
            live, denied_clause = sig.live.get(name, 0.0), sig.denied.get(name, 0.0)
            # a crisis family also reads what the rules set aside: "if a bus hit me I'd be relieved"
            aside = sig.aside.get(name, 0.0) if fam.crisis else 0.0
            evidence = sig.evidence.get(name, "")
            # a strong signal from a question ("how many paracetamol is too many?") asks, never escalates:
            # the writer is asking, and the family's question comes with its safety advice
            asking = evidence.rstrip().endswith("?")
            if answer == "yes" or (live >= t.escalate and answer != "no" and not asking):
                rule = self.engine.flag(fam.flag)
                why = f"answered yes to: {fam.question}" if answer == "yes" else evidence
                flags.append(
                    FlagHit(id=fam.flag, evidence=why[:200], condition=rule.condition, level=rule.level, source="net")
                )
                continue
            if answer == "no" or (not on_topic and not fam.crisis) or self._denied(turns, fam.denied_by):
                continue
            if not self._about(fam, turns):
                continue
            # A clause with a negation word is read apart, and asks at the same bar as a live one: a
            # family whose own signs are denied was skipped just above, so what is left denies something
            # else ("I don't want to be here anymore" denies nothing about self-harm).
            if live >= t.ask or denied_clause >= t.ask or aside >= t.ask:
                if live >= t.ask:
                    why = evidence
                elif denied_clause >= t.ask:
                    why = sig.denied_evidence.get(name) or evidence
                else:
                    why = sig.aside_evidence.get(name) or evidence
                flags.append(
                    FlagHit(
                        id=f"{name}_check",
                        evidence=why[:200],
                        condition=f"Possible sign involving {fam.label}: needs checking",
                        level=Level.routine,
                        source="net",
                    )
                )
                questions.append(fam.question)
                advice.append(fam.advice)
        level = max_level(rules.level, *(f.level for f in flags))
        if level == Level.emergency:
            return Triage(level=level, flags=_ordered(flags), screening_question=None)
        question = " ".join(dict.fromkeys(q for q in [rules.screening_question, *questions] if q)) or None
        combined = Triage(
            level=level,
            flags=_ordered(flags),
            screening_question=question,
            safety_advice=" ".join(dict.fromkeys(advice)) or rules.safety_advice,
        )
        return self.checked_if_unread(self.also_asked(combined, message, history), message, history)

    def checked_if_unread(self, t: Triage, message: str, history: list[Turn] | None = None) -> Triage:
        """A message the triage cannot read (`unread` in net.yaml) is asked the red-flag checklist first,
        with its advice: the readers' silence about a language they do not know is no all-clear. Just
        after the checklist, a short answer in another language ("evet") is unread too, and asked again."""
        u = self.policy.unread
        if t.level == Level.emergency or u is None or self.readable is None:
            return t
        last = next((turn.content for turn in reversed(history or []) if turn.role == "assistant"), "")
        if not self.readable.unread(message, min_words=1 if u.question in last else None):
            return t
        hit = FlagHit(
            id=UNREAD,
            evidence=message[:200],
            condition="A message the assistant cannot read reliably: the red-flag checklist is asked",
            level=Level.routine,
        )
        question = " ".join(q for q in [u.question, t.screening_question] if q)
        advice = " ".join(dict.fromkeys(a for a in [u.advice, t.safety_advice] if a))
        return t.model_copy(
            update={
                "level": max_level(t.level, Level.routine),
                "flags": _ordered([*t.flags, hit]),
                "screening_question": question,
                "safety_advice": advice,
            }
        )

    def also_asked(self, t: Triage, message: str, history: list[Turn] | None = None) -> Triage:
        """A raised flag below an emergency asks the questions of the families it can lead to (`also_ask`:
        a weak leg, the cauda equina question), unless the writer denied them or answered no."""
        raised = {f.id for f in t.flags}
        wanted = [name for fam in self.policy.families.values() if raised & set(fam.flags) for name in fam.also_ask]
        if t.level == Level.emergency or not wanted:
            return t
        turns = [*(history or []), Turn(role="user", content=message)]
        back = self.engine.taken_back_at(turns)
        asked: list[FamilyPolicy] = []
        for name in dict.fromkeys(wanted):
            fam = self.policy.families[name]
            if raised & set(fam.flags) or self._denied(turns, fam.denied_by):
                continue
            if self._answered(turns, fam, back) != "no":
                asked.append(fam)
        if not asked:
            return t
        question = " ".join(dict.fromkeys(q for q in [t.screening_question, *(f.question for f in asked)] if q))
        advice = " ".join(dict.fromkeys(a for a in [t.safety_advice, *(f.advice for f in asked)] if a))
        return t.model_copy(update={"screening_question": question, "safety_advice": advice or None})

    def _answered(self, turns: list[Turn], fam: FamilyPolicy, back: int = -1) -> str | None:
        """'yes' or 'no' when the writer answered the family's question, or a question in other words
        about the same signs (`asks_about`), in the conversation; None otherwise. `back`: the turn that
        takes the earlier ones back (`TriageEngine.taken_back_at`): a yes before it no longer counts."""
        rx = self.engine.rules
        about = re.compile(fam.asks_about)
        verdict: str | None = None
        for i, (prev, turn) in enumerate(itertools.pairwise(turns), start=1):
            if prev.role != "assistant" or turn.role != "user":
                continue
            if fam.question not in prev.content and not about.search(questions_in(prev.content)):
                continue
            answer = answer_verdict(rx, turn.content)
            if answer == "yes" and self.engine.takes_back_with_denial(turn.content):
                answer = "no"
            if answer == "yes" and i < back:
                continue
            if answer == "yes":
                return "yes"  # a yes anywhere in the conversation wins
            verdict = answer or verdict
        return verdict

    def _about(self, fam: FamilyPolicy, turns: list[Turn]) -> bool:
        """Whether the writer's words touch the family's subject (`asks_when`); always, without one."""
        if fam.asks_when is None:
            return True
        said = canonical(gloss(" ".join(t.content for t in turns if t.role == "user"))).lower()
        if re.search(fam.asks_when, said):
            return True
        return fam.or_medicine_named and medicine_engine(self.engine.medicines_file).gate.search(said) is not None

    def crisis_checks(self) -> set[str]:
        """The ids of the net's questions that come before anything else in a reply."""
        return {f"{name}_check" for name, fam in self.policy.families.items() if fam.crisis} | {UNREAD}

    def _denied(self, turns: list[Turn], concepts: list[str]) -> bool:
        return bool(concepts) and any(t.role == "user" and self.engine.denied(t.content, concepts) for t in turns)


def net_text(text: str) -> str:
    """What the net reads of a turn: other languages' words glossed. Training reads the same whole text
    (`evals.triage_training`; it read the message unglossed), so the weights meet the text they serve on."""
    return gloss(text)


def _windows(parts: list[str], most: int) -> list[str]:
    """At most `most` units per turn: a very long message is read in runs of neighbouring clauses."""
    if len(parts) <= most:
        return parts
    size = -(-len(parts) // most)
    return [" ".join(parts[i : i + size]) for i in range(0, len(parts), size)]


def _ordered(flags: list[FlagHit]) -> list[FlagHit]:
    return sorted(flags, key=lambda h: -h.level.rank)
