"""The triage rule file's schema, validated strictly, and compiled once into regexes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator

from assistant.content import read_yaml, validate
from assistant.errors import ConfigError
from assistant.models import Level
from assistant.schema import Strict


class Parts(Strict):
    """A long context pattern told as named parts a reviewer can read one at a time; `before` applies to
    every part (the lookbehinds that say "not resolved")."""

    before: str = ""
    parts: dict[str, str] = Field(min_length=1)

    def pattern(self) -> str:
        return self.before + "(?:" + "|".join(f"(?:{p})" for p in self.parts.values()) + ")"


class OtherPerson(Strict):
    people: str
    history: str
    current: str
    # what someone saw of the writer ("my wife noticed the chair was wet"), and the pronouns that make
    # it their own story instead
    observed: str = r"(?!x)x"
    their_pronouns: str = r"(?!x)x"
    found_today: str = r"(?!x)x"


class OthersRisk(Strict):
    """A risk factor said only of someone else ("my wife is on chemotherapy") while the writer tells a
    complaint of their own ("I've done my back in"): that person's, not the writer's."""

    findings: list[str] = Field(default_factory=list)
    own_complaint: str = r"(?!x)x"
    # what makes the other person's sentence a carer's report after all ("... and her back is agony")
    their_signs: str = r"(?!x)x"
    third_person: str = r"(?!x)x"
    first_person: str = r"(?!x)x"


class Examples(Strict):
    fire: list[str] = Field(default_factory=list)
    quiet: list[str] = Field(default_factory=list)


class Checked(Strict):
    """A clinician's all-clear: a check and a clear result, in one sentence or the check's and the next,
    unless a result is still to come or not clear (`unclear`). Its examples: messages that report one
    that counts (`fire`) and messages that do not (`quiet`)."""

    check: list[str]
    clear: list[str]
    said: str = r"(?!x)x"
    said_to_be: list[str] = Field(default_factory=list)
    unclear: list[str] = Field(default_factory=list)
    examples: Examples = Field(default_factory=Examples)


class Context(Strict):
    strong_terminators: list[str]
    comma_clause: str
    answer_no: str
    first_person_owner: str
    inside_their_story: str
    other_pronoun_start: str
    same_as_me: str
    trailing_connectives: str
    own_age_prefix: str
    age_pattern: list[str]
    terminators: list[str]
    negation_window: int = 8
    # the writer starting a clause of their own: a negation before it does not reach a mention after it
    # that carries its own negation ("i do not want to die exactly i just do not want to be here")
    clause_subject: str = r"(?!x)x"
    negation_before: list[str]
    pseudo_negation: list[str] = Field(default_factory=list)
    negation_after: list[str]
    # a "fine" after the mention that is about something else: after one of these words, a part of the
    # body named before it ("I cannot feel my bum, bladder fine")
    negation_after_breaks: list[str] = Field(default_factory=list)
    negation_after_other: str = r"(?!x)x"
    # an exception told first ("apart from the wee taking ages to start, nothing new"): the all-clear after
    # the mention is about everything else, so it does not deny the mention
    exception_before: str = r"(?!x)x"
    # ... and the exception's clause, up to its comma: a problem told over after it ("nothing new") starts there
    exception_lead: str = r"(?!x)x"
    # a feeling told as lost, after which a bare "good" means "well" ("she cannot feel her legs good")
    lost_feeling: str = r"(?!x)x"
    # the words of a denial after a mention that say the writer is well: they do not deny a history
    # ("had breast cancer years ago, fine since")
    history_well: str = r"(?!x)x"
    hypothetical: list[str]
    # where a hypothetical's scope ends before the sentence does: the writer starting a report of their
    # own ("my physio said to watch out for numbness and now i cannot feel my bum")
    hypothetical_ends: str = r"(?!x)x"
    # what, just before a hypothetical's "if", makes it a likeness or an uncertainty, told as the writer's own
    # ("feels as if", "not sure if", "can't tell if"): matched against the text that ends at the "if"
    hypothetical_not_after: str = r"(?!x)x"
    # a diagnosis named as what the writer fears or believes ('convinced it's a tumour'): the name is no sign
    feared: list[str] = Field(default_factory=list)
    feared_by_others: str = r"(?!x)x"
    other_person: OtherPerson
    general_sentence: str = r"(?!x)x"
    first_person_report: str = r"(?!x)x"
    resolved: str | Parts = r"(?!x)x"
    family: str
    affirmative: str
    denial: str
    # a hedge that takes back a denial ("I don't think I've wet myself... maybe a little")
    retraction: str = r"(?!x)x"
    # a word before a hedge after which it no longer reaches the mention ("hard to tell, but no numbness")
    retraction_stops: str = r"(?!x)x"
    # the writer asks about their own risk after telling someone else's story ("could that happen to me?")
    comparison: str = r"(?!x)x"
    # someone else's problem that is already being dealt with ("she's seeing her GP about it today")
    handled: str = r"(?!x)x"
    # the writer, coming in after someone else's in-hand problem, asks what to do for them (a carer's report)
    carer_asks: str = r"(?!x)x"
    yes_then_no: str = r"(?!x)x"
    # what people say before they answer ("erm, now you mention it, ..."): dropped before the answer is read
    answer_lead: str = r"(?!x)x"
    uncertain: str = r"(?!x)x"
    new_subject: str = r"(?!x)x"
    resolved_next: str = r"(?!x)x"
    own_next: str = r"(?!x)x"
    # a question made general by the sentence after it ("can you get cancer in your back at 15? it's for a
    # biology project, not me"): `general_next` starts that sentence, `general_question` starts the question
    general_next: str = r"(?!x)x"
    # fiction, coursework, teaching and quizzes ("I'm writing a short story ...", "Quiz question for my
    # students: ..."): what the frame tells is a character's, a case's or a question's, not the writer's;
    # a sentence after it is the writer's own when it says "I" or "my", or opens with `frame_exit`
    frame: str = r"(?!x)x"
    frame_exit: str = r"(?!x)x"
    general_question: str = r"(?!x)x"
    relapse: str = r"(?!x)x"
    # what says a sign explained away (a finding's `unless`) is happening again or changing now
    unless_undone: str = r"(?!x)x"
    # a change told after a resolved or unchanged sign ("...not changed at all, but since yesterday it's dragging")
    resolved_unless: str = r"(?!x)x"
    # a clinician's all-clear reported in the message, what undoes it, and the flags it may cover
    checked: Checked | None = None
    checked_relapse: str = r"(?!x)x"
    checked_recent: str = r"(?!x)x"
    revived: str = r"(?!x)x"
    # a negation just before the revival undoes it ("it has not come back")
    revived_negated: str = r"(?!x)x"
    checkable: list[str] = Field(default_factory=list)
    # a checkable flag whose all-clear must also name this verdict ("no spread", "wear and tear"): a cancer
    # follow-up's all-clear is not a check of the new back pain
    checkable_when: dict[str, str] = Field(default_factory=dict)
    # a later message that takes an earlier one back ("that wasn't about me"), unless the problem is still there
    taken_back: str = r"(?!x)x"
    taken_back_unless: str = r"(?!x)x"
    others_risk: OthersRisk = Field(default_factory=OthersRisk)


class AgeRange(Strict):
    min: int = 0
    max: int = 130


class FindingRule(Strict):
    id: str
    all: list[str] = Field(default_factory=list)
    phrases: list[str] = Field(default_factory=list)
    # concepts that, mentioned (not denied) in the same sentence, explain the finding away
    unless: list[str] = Field(default_factory=list)
    history_kind: bool = False
    ignore_context: bool = False

    @model_validator(mode="after")
    def _has_pattern(self) -> FindingRule:
        if not self.all and not self.phrases:
            raise ValueError(f"finding {self.id!r} needs `all` concepts or `phrases`")
        return self


class FlagRule(Strict):
    id: str
    condition: str
    level: Level
    reason: str = ""
    when: list[list[str]] = Field(min_length=1)
    screening_question: str | None = None
    screen: bool = False
    escalate_to: str | None = None
    # how to recognise this screening question when the assistant asked it in its own words
    asks_about: str | None = None
    # concepts whose denial answers this screening question before it is asked ("no fever")
    answered_by: list[str] = Field(default_factory=list)
    # concepts that, told in a reply to this question, answer it yes ("it takes ages to start")
    answered_yes_by: list[str] = Field(default_factory=list)
    examples: Examples = Field(default_factory=Examples)


class RuleFile(Strict):
    context: Context
    age_findings: dict[str, AgeRange] = Field(default_factory=dict)
    concepts: dict[str, list[str]]
    findings: list[FindingRule]
    flags: list[FlagRule]
    vocabulary: list[str] = Field(default_factory=list)

    @property
    def flag_ids(self) -> frozenset[str]:
        return frozenset(f.id for f in self.flags)

    @model_validator(mode="after")
    def _references_exist(self) -> RuleFile:
        finding_ids = {f.id for f in self.findings} | set(self.age_findings)
        flag_ids = {f.id for f in self.flags}
        for finding in self.findings:
            for concept in [*finding.all, *finding.unless]:
                if concept not in self.concepts:
                    raise ValueError(f"finding {finding.id!r} uses unknown concept {concept!r}")
        with_concepts = {f.id for f in self.findings if f.all}
        for fid in self.context.others_risk.findings:
            if fid not in with_concepts:
                raise ValueError(f"context.others_risk names {fid!r}, which is not a finding with `all` concepts")
        for flag in self.flags:
            for group in flag.when:
                for fid in group:
                    if fid not in finding_ids:
                        raise ValueError(f"flag {flag.id!r} uses unknown finding {fid!r}")
            if flag.escalate_to and flag.escalate_to not in flag_ids:
                raise ValueError(f"flag {flag.id!r} escalates to unknown flag {flag.escalate_to!r}")
            for concept in [*flag.answered_by, *flag.answered_yes_by]:
                if concept not in self.concepts:
                    raise ValueError(f"flag {flag.id!r} is answered by unknown concept {concept!r}")
            if flag.screen and not flag.screening_question:
                raise ValueError(f"screening flag {flag.id!r} needs a screening_question")
        return self


_NEVER = re.compile(r"(?!x)x")


def _joined(pattern: str | Parts) -> str:
    return pattern if isinstance(pattern, str) else pattern.pattern()


def _rx(pattern: str, path: Path, where: str) -> re.Pattern[str]:
    try:
        return re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])")
    except re.error as exc:
        raise ConfigError(f"{path}: {where}: bad pattern {pattern!r}: {exc}") from exc


def _alternation(patterns: list[str], path: Path, where: str) -> re.Pattern[str]:
    # a trailing space in a pattern would fight the word boundary added around it
    return _rx("|".join(f"(?:{p.strip()})" for p in patterns), path, where)


@dataclass(frozen=True)
class CompiledRules:
    source: RuleFile
    concepts: dict[str, re.Pattern[str]]
    phrases: dict[str, re.Pattern[str] | None]
    terminators: re.Pattern[str]
    soft_terminators: re.Pattern[str]
    negation_before: re.Pattern[str]
    pseudo_negation: re.Pattern[str] | None
    negation_after: re.Pattern[str]
    negation_after_breaks: frozenset[str]
    negation_after_other: re.Pattern[str]
    exception_before: re.Pattern[str]
    exception_lead: re.Pattern[str]
    lost_feeling: re.Pattern[str]
    history_well: re.Pattern[str]
    hypothetical: re.Pattern[str]
    hypothetical_ends: re.Pattern[str]
    hypothetical_not_after: re.Pattern[str]
    feared: re.Pattern[str]
    feared_by_others: re.Pattern[str]
    people: re.Pattern[str]
    history: re.Pattern[str]
    current: re.Pattern[str]
    observed: re.Pattern[str]
    their_pronouns: re.Pattern[str]
    found_today: re.Pattern[str]
    general_sentence: re.Pattern[str]
    first_person_report: re.Pattern[str]
    resolved: re.Pattern[str]
    family: re.Pattern[str]
    affirmative: re.Pattern[str]
    denial: re.Pattern[str]
    retraction: re.Pattern[str]
    retraction_stops: re.Pattern[str]
    clause_subject: re.Pattern[str]
    comparison: re.Pattern[str]
    handled: re.Pattern[str]
    carer_asks: re.Pattern[str]
    yes_then_no: re.Pattern[str]
    answer_lead: re.Pattern[str]
    uncertain: re.Pattern[str]
    new_subject: re.Pattern[str]
    resolved_next: re.Pattern[str]
    own_next: re.Pattern[str]
    general_next: re.Pattern[str]
    frame: re.Pattern[str]
    frame_exit: re.Pattern[str]
    general_question: re.Pattern[str]
    relapse: re.Pattern[str]
    unless_undone: re.Pattern[str]
    resolved_unless: re.Pattern[str]
    checked_check: re.Pattern[str]
    checked_clear: re.Pattern[str]
    checked_unclear: re.Pattern[str]
    checked_relapse: re.Pattern[str]
    checked_recent: re.Pattern[str]
    checkable_when: dict[str, re.Pattern[str]]
    revived: re.Pattern[str]
    revived_negated: re.Pattern[str]
    taken_back: re.Pattern[str]
    taken_back_unless: re.Pattern[str]
    others_risk: frozenset[str]
    own_complaint: re.Pattern[str]
    their_signs: re.Pattern[str]
    third_person: re.Pattern[str]
    first_person: re.Pattern[str]
    answer_no: re.Pattern[str]
    first_person_owner: re.Pattern[str]
    inside_their_story: re.Pattern[str]
    other_pronoun_start: re.Pattern[str]
    same_as_me: re.Pattern[str]
    trailing_connectives: re.Pattern[str]
    own_age_prefix: re.Pattern[str]
    age: re.Pattern[str]


def _plain(pattern: str, path: Path, where: str) -> re.Pattern[str]:
    """A pattern used as written (no word boundaries added)."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{path}: {where}: bad pattern {pattern!r}: {exc}") from exc


def _terminators(patterns: list[str]) -> re.Pattern[str]:
    """Clause terminators: words between word boundaries, and comma clauses as written, tried in order.

    A run of words shares one pair of boundary checks, `(?<![a-z0-9])(?:but|until)(?![a-z0-9])`: the
    same matches as a pair around each word, tried in the same order, but a position inside a word
    fails once instead of once per word (a tenth of the time on a typical sentence)."""
    parts: list[str] = []
    run: list[str] = []
    for pattern in patterns:
        if pattern.startswith(",") or "|" in pattern:
            if run:
                parts.append(f"(?<![a-z0-9])(?:{'|'.join(run)})(?![a-z0-9])")
                run = []
            parts.append(f"(?:{pattern})" if pattern.startswith(",") else f"(?:(?<![a-z0-9]){pattern}(?![a-z0-9]))")
        else:
            run.append(pattern)
    if run:
        parts.append(f"(?<![a-z0-9])(?:{'|'.join(run)})(?![a-z0-9])")
    return re.compile("|".join(parts))


def _clear(checked: Checked) -> list[str]:
    """A clear result: one of `clear`, or `said` right before one of `said_to_be` ("said it's a bad sciatica")."""
    if not checked.said_to_be:
        return checked.clear
    return [*checked.clear, f"(?:{checked.said}) (?:{'|'.join(checked.said_to_be)})"]


def compile_rules(rules: RuleFile, path: Path) -> CompiledRules:
    ctx = rules.context
    strong = [t for t in ctx.terminators if t in ctx.strong_terminators]
    soft = [t for t in ctx.terminators if t not in strong and t != ","]
    soft.append(ctx.comma_clause)
    checked = ctx.checked
    return CompiledRules(
        source=rules,
        concepts={k: _alternation(v, path, f"concepts.{k}") for k, v in rules.concepts.items()},
        phrases={
            f.id: (_alternation(f.phrases, path, f"findings.{f.id}.phrases") if f.phrases else None)
            for f in rules.findings
        },
        terminators=_alternation(strong, path, "context.terminators"),
        soft_terminators=_terminators([*strong, *soft]),
        negation_before=_alternation(ctx.negation_before, path, "context.negation_before"),
        pseudo_negation=_alternation(ctx.pseudo_negation, path, "context.pseudo_negation")
        if ctx.pseudo_negation
        else None,
        negation_after=re.compile("|".join(f"(?:{p})" for p in ctx.negation_after)),
        negation_after_breaks=frozenset(ctx.negation_after_breaks),
        negation_after_other=_rx(ctx.negation_after_other, path, "context.negation_after_other"),
        exception_before=_rx(ctx.exception_before, path, "context.exception_before"),
        exception_lead=_rx(ctx.exception_lead, path, "context.exception_lead"),
        lost_feeling=_rx(ctx.lost_feeling, path, "context.lost_feeling"),
        history_well=_rx(ctx.history_well, path, "context.history_well"),
        hypothetical=_alternation(ctx.hypothetical, path, "context.hypothetical"),
        hypothetical_ends=_rx(ctx.hypothetical_ends, path, "context.hypothetical_ends"),
        hypothetical_not_after=_rx(ctx.hypothetical_not_after, path, "context.hypothetical_not_after"),
        feared=_alternation(ctx.feared, path, "context.feared") if ctx.feared else _NEVER,
        feared_by_others=re.compile(ctx.feared_by_others),
        people=_rx(ctx.other_person.people, path, "context.other_person.people"),
        history=_rx(ctx.other_person.history, path, "context.other_person.history"),
        current=_rx(ctx.other_person.current, path, "context.other_person.current"),
        observed=_plain(ctx.other_person.observed, path, "context.other_person.observed"),
        their_pronouns=_plain(ctx.other_person.their_pronouns, path, "context.other_person.their_pronouns"),
        found_today=_rx(ctx.other_person.found_today, path, "context.other_person.found_today"),
        general_sentence=_rx(ctx.general_sentence, path, "context.general_sentence"),
        first_person_report=re.compile(ctx.first_person_report),
        resolved=_rx(_joined(ctx.resolved), path, "context.resolved"),
        family=_rx(ctx.family, path, "context.family"),
        affirmative=re.compile(ctx.affirmative),
        denial=re.compile(ctx.denial),
        retraction=_rx(ctx.retraction, path, "context.retraction"),
        retraction_stops=_rx(ctx.retraction_stops, path, "context.retraction_stops"),
        clause_subject=_rx(ctx.clause_subject, path, "context.clause_subject"),
        comparison=_rx(ctx.comparison, path, "context.comparison"),
        handled=_rx(ctx.handled, path, "context.handled"),
        carer_asks=_rx(ctx.carer_asks, path, "context.carer_asks"),
        yes_then_no=re.compile(ctx.yes_then_no),
        answer_lead=_plain(ctx.answer_lead, path, "context.answer_lead"),
        uncertain=re.compile(ctx.uncertain),
        new_subject=_rx(ctx.new_subject, path, "context.new_subject"),
        resolved_next=re.compile(ctx.resolved_next),
        own_next=re.compile(ctx.own_next),
        general_next=_rx(ctx.general_next, path, "context.general_next"),
        frame=_rx(ctx.frame, path, "context.frame"),
        frame_exit=_rx(ctx.frame_exit, path, "context.frame_exit"),
        general_question=_rx(ctx.general_question, path, "context.general_question"),
        relapse=_rx(ctx.relapse, path, "context.relapse"),
        unless_undone=_rx(ctx.unless_undone, path, "context.unless_undone"),
        resolved_unless=_rx(ctx.resolved_unless, path, "context.resolved_unless"),
        checked_check=_alternation(checked.check, path, "context.checked.check") if checked else _NEVER,
        checked_clear=_alternation(_clear(checked), path, "context.checked.clear") if checked else _NEVER,
        checked_unclear=_alternation(checked.unclear, path, "context.checked.unclear")
        if checked and checked.unclear
        else _NEVER,
        checked_relapse=_rx(ctx.checked_relapse, path, "context.checked_relapse"),
        checked_recent=_rx(ctx.checked_recent, path, "context.checked_recent"),
        checkable_when={k: _rx(v, path, f"context.checkable_when.{k}") for k, v in ctx.checkable_when.items()},
        revived=_rx(ctx.revived, path, "context.revived"),
        revived_negated=_rx(ctx.revived_negated, path, "context.revived_negated"),
        taken_back=_plain(ctx.taken_back, path, "context.taken_back"),
        taken_back_unless=_plain(ctx.taken_back_unless, path, "context.taken_back_unless"),
        others_risk=frozenset(ctx.others_risk.findings),
        own_complaint=_plain(ctx.others_risk.own_complaint, path, "context.others_risk.own_complaint"),
        their_signs=_plain(ctx.others_risk.their_signs, path, "context.others_risk.their_signs"),
        third_person=_plain(ctx.others_risk.third_person, path, "context.others_risk.third_person"),
        first_person=_plain(ctx.others_risk.first_person, path, "context.others_risk.first_person"),
        answer_no=_plain(ctx.answer_no, path, "context.answer_no"),
        first_person_owner=_plain(ctx.first_person_owner, path, "context.first_person_owner"),
        inside_their_story=_plain(ctx.inside_their_story, path, "context.inside_their_story"),
        other_pronoun_start=_plain(ctx.other_pronoun_start, path, "context.other_pronoun_start"),
        same_as_me=_plain(ctx.same_as_me, path, "context.same_as_me"),
        trailing_connectives=_plain(ctx.trailing_connectives, path, "context.trailing_connectives"),
        own_age_prefix=_plain(ctx.own_age_prefix, path, "context.own_age_prefix"),
        age=_plain("(?:" + "|".join(ctx.age_pattern) + ")", path, "context.age_pattern"),
    )


def load_rule_file(path: Path) -> RuleFile:
    return validate(RuleFile, read_yaml(path), path)


@lru_cache(maxsize=4)
def load_rules(path: Path) -> CompiledRules:
    """Load, validate and compile a triage rule file (cached per path)."""
    return compile_rules(load_rule_file(path), path)
