"""Red-flag triage over the whole conversation, driven by `knowledge/safety/triage.yaml`.

Findings are matched per sentence (ConText-style: denied, hypothetical and someone else's history
mentions do not count); flags combine findings across all user turns; a yes to a screening question
escalates, a clear no clears the partial signal that prompted it.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import TypeVar

from assistant.canonical import canonical, normalise, normalise_canonical
from assistant.gloss import gloss
from assistant.guardrails.doses import overdose as read_doses
from assistant.guardrails.needs_index import NeedsIndex, index_path, seen_digest
from assistant.guardrails.prefixes import Beginnings, match_starts, shortest, word_starts
from assistant.guardrails.rules import CompiledRules, FindingRule, FlagRule, load_rules
from assistant.guardrails.typos import SafetyTermCorrector
from assistant.models import FlagHit, Level, Triage, Turn, max_level
from assistant.needles import Alternatives
from assistant.sentences import sentences

DOSE_FINDING = "overdose"  # the finding the medicine reader adds (the flag `medicine_overdose` reads it)
CHECKED = "_checked"  # a flag hit's id suffix: its signs were checked by a clinician, its question asked again
# An all-clear is read in messages up to this long: reading it costs a second pass over the message,
# and a longer one keeps every sign at its level (the cautious side), so triage stays fast at 8,000.
CHECKED_MAX_CHARS = 2000


@dataclass
class Finding:
    id: str
    evidence: str
    turn: int


_Needs = Callable[[re.Pattern[str]], frozenset[str] | None]  # a pattern -> what a sentence needs of it (`match_needs`)


@dataclass(frozen=True)
class _Pattern:
    """A rule's compiled pattern, with what a match must begin with (`prefixes.match_starts`, less the
    ones another of them begins: `shortest`) and what a sentence's word starts must include for one to
    be in it (`prefixes.match_needs`); None: cannot be told."""

    rx: re.Pattern[str]
    starts: frozenset[str] | None
    needs: frozenset[str] | None

    def search_in(self, words: Beginnings, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        """`rx.search(sentence, pos, endpos)`, not tried in a sentence without what every match needs
        (`_absent`), and else only where a match can begin (`Beginnings.search`): a context pattern is
        absent from most sentences, and a search scans them whole."""
        return None if _absent(self, words) else words.search(self.rx, self.starts, pos, endpos)

    def finditer_in(self, words: Beginnings, pos: int = 0) -> Iterator[re.Match[str]]:
        """`rx.finditer(sentence, pos)`, tried as `search_in` is."""
        return iter(()) if _absent(self, words) else words.finditer(self.rx, self.starts, pos)


@dataclass(frozen=True)
class _InSentence:
    """The context patterns searched over a whole sentence, each with what its matches need (`_Pattern`)."""

    terminators: _Pattern
    soft_terminators: _Pattern
    hypothetical: _Pattern
    hypothetical_ends: _Pattern
    feared: _Pattern
    general_sentence: _Pattern
    people: _Pattern
    history: _Pattern
    handled: _Pattern
    family: _Pattern
    resolved: _Pattern
    resolved_unless: _Pattern
    revived: _Pattern
    new_subject: _Pattern
    negation_before: _Pattern
    clause_subject: _Pattern
    retraction: _Pattern
    unless_undone: _Pattern

    @classmethod
    def of(cls, rules: CompiledRules, needs: _Needs) -> _InSentence:
        return cls(**{f.name: _pattern(getattr(rules, f.name), needs) for f in fields(cls)})


@dataclass(frozen=True)
class _Check:
    """One finding rule as the hot loop reads it (looked up once, not per sentence)."""

    id: str
    phrase: _Pattern | None
    concepts: tuple[str, ...]
    ignore: bool
    unless: tuple[str, ...]
    needs: tuple[frozenset[str], ...]  # what each concept needs of a sentence (`match_needs`), where told
    history: bool = False  # a history (cancer, thin bones): told as over, it is still a history

    def may_fire(self, words: frozenset[str]) -> bool:
        """Whether a sentence with these word starts leaves its phrase or all its concepts possible:
        if not, every search `_fires` would make finds nothing, so it would return False."""
        phrase = self.phrase
        if phrase is not None and (phrase.needs is None or not phrase.needs.isdisjoint(words)):
            return True
        return bool(self.concepts) and not any(needs.isdisjoint(words) for needs in self.needs)


@dataclass
class _Scope:
    """One sentence being matched: its text, and what its context masks and hedge are read from.

    The masks and the hedge are worked out on first use: most sentences have no mention to judge."""

    sent: str
    masks: list[bool] | None = None  # per character: covered by a context (`_context_masks`)
    history_masks: list[bool] | None = None  # the same without what says a sign is over (`resolved`)
    hedged: bool | None = None  # a hedge undoes denials ("... maybe a little")
    nxt: str = ""  # the next part, prepared: it may clear this one or make it the writer's own
    comparing: bool = False  # the message compares someone else's story with the writer's
    covered: int = 0  # characters told before a clinician's all-clear, read as covered
    live: dict[str, bool] = field(default_factory=dict)  # concept -> has a mention that counts
    present: dict[str, bool] = field(default_factory=dict)  # concept -> occurs at all
    stops: tuple[list[int], list[int]] | None = None  # soft terminators: starts, furthest end so far
    revived_next: bool | None = None  # the next part says the sign is back ("It's come back since yesterday")
    words: Beginnings | None = None  # how and where its words begin (`prefixes.Beginnings`)
    checks: list[_Check] | None = None  # the checks its word starts can wake (`_candidates`)


@dataclass(frozen=True)
class _Reading:
    """One canonical text as the rules read it: its parts as written and prepared, whether it compares
    someone else's story with the writer's, and the ages it states."""

    parts: list[str]
    fixed: list[str]
    comparing: bool
    ages: dict[str, str]
    framed: bool = False  # fiction, coursework, teaching or a quiz (`context.frame`)


K = TypeVar("K")
V = TypeVar("V")


class _Bounded(dict[K, V]):
    """A per-message cache that empties itself when it passes `limit` entries (a long-running server sees
    many messages): look up with `get`, store with `keep`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        if len(self) > self.limit:
            self.clear()
        self[key] = value
        return value


@dataclass
class TriageEngine:
    rules: CompiledRules
    medicines_file: Path | None = None  # the medicine reader's data (`doses`); None: the package's own
    needs_file: Path | None = None  # stored `match_needs` answers (`needs_index`); None: searched at load
    fixer: SafetyTermCorrector = field(init=False)
    needs_index: NeedsIndex = field(init=False)

    def __post_init__(self) -> None:
        self.fixer = SafetyTermCorrector(self.rules.source.vocabulary)
        self._cache: _Bounded[str, list[tuple[str, str]]] = _Bounded(2048)
        self._prep_cache: _Bounded[str, str] = _Bounded(8192)
        self._checked_cache: _Bounded[str, frozenset[str]] = _Bounded(2048)
        self._scopes: _Bounded[tuple[str, str, bool], _Scope] = _Bounded(8192)
        self._words: _Bounded[str, Beginnings] = _Bounded(8192)
        self._readings: _Bounded[str, _Reading] = _Bounded(2048)
        self._ruled: _Bounded[str, dict[str, str]] = _Bounded(2048)
        self._cut: _Bounded[str, list[str]] = _Bounded(2048)
        self._said: _Bounded[str, list[str]] = _Bounded(2048)
        samples = self._samples()
        seen = self._seen_beginnings(samples)
        self.needs_index = NeedsIndex.load(self.needs_file)
        digest = seen_digest(seen)

        def needs(rx: re.Pattern[str]) -> frozenset[str] | None:
            return self.needs_index.needs(rx, seen, digest)

        # ages are read off the whole message: its rare alternatives ("born in 1950") tried only if they can match
        self._age = Alternatives(self.rules.source.context.age_pattern, samples)
        self._concepts = {k: _pattern(rx, needs) for k, rx in self.rules.concepts.items()}
        self._clear = _pattern(self.rules.checked_clear, needs)
        self._in = _InSentence.of(self.rules, needs)
        self._checks = [self._check(r, needs) for r in self.rules.source.findings]
        self._by_start, self._always = self._check_index()
        self._start_keys = frozenset(self._by_start)
        self._flags = {f.id: f for f in self.rules.source.flags}
        self._finding_rules = {f.id: f for f in self.rules.source.findings}
        # findings that tell a history (a cancer, thin bones): never news beside an all-clear
        self._histories = frozenset(f.id for f in self.rules.source.findings if f.history_kind)
        # flag groups of two or more risk factors alone: told of someone else, a warning sign of theirs
        self._risk_pairs = [
            frozenset(g)
            for f in self.rules.source.flags
            for g in f.when
            if len(g) > 1 and set(g) <= self.rules.others_risk
        ]
        self._questions = {
            f.screening_question: (f.escalate_to or f.id)
            for f in self.rules.source.flags
            if f.screening_question and f.screen
        }
        self._asks = [
            (re.compile(f.asks_about), f.screening_question, f.escalate_to or f.id)
            for f in self.rules.source.flags
            if f.asks_about and f.screening_question
        ]

    def _samples(self) -> list[str]:
        """The rules' example sentences, prepared: what tells common words from rare ones (`_seen_beginnings`,
        `Alternatives`), a guide to speed only: any choice gives the same answers."""
        return [
            self.fixer.fix(normalise_canonical(sent))
            for flag in self.rules.source.flags
            for text in [*flag.examples.fire, *flag.examples.quiet]
            for sent in sentences(canonical(text))
        ]

    def _seen_beginnings(self, samples: list[str]) -> Counter[str]:
        """How many of the sample sentences have each word beginning: which are common, so that
        `match_needs` picks rare ones."""
        seen: Counter[str] = Counter()
        for sent in samples:
            seen.update(word_starts(sent))
        return seen

    def _check(self, rule: FindingRule, search: _Needs) -> _Check:
        phrase = self.rules.phrases.get(rule.id)
        pattern = _pattern(phrase, search) if phrase is not None else None
        needs = tuple(n for c in rule.all if (n := self._concepts[c].needs) is not None)
        return _Check(
            rule.id, pattern, tuple(rule.all), rule.ignore_context, tuple(rule.unless), needs, rule.history_kind
        )

    def _check_index(self) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """Which checks a sentence's word starts can wake (start -> check positions), and those always tried.

        A check fires only if its phrase matches or all its concepts occur: a sentence none of whose
        word starts begins its phrase or one of its concepts (the one with the fewest beginnings) is
        skipped without a call, with the same answer `_fires` would give (`match_needs`)."""
        by_start: dict[str, list[int]] = {}
        always: list[int] = []
        for i, check in enumerate(self._checks):
            keys = self._check_starts(check)
            if keys is None:
                always.append(i)
            for key in keys or ():
                by_start.setdefault(key, []).append(i)
        return {k: tuple(v) for k, v in by_start.items()}, tuple(always)

    def _check_starts(self, check: _Check) -> frozenset[str] | None:
        """What a sentence must have a word begin with for the check to fire; None: cannot be told."""
        keys: frozenset[str] = frozenset()
        if check.phrase is not None:
            if check.phrase.needs is None:
                return None
            keys = check.phrase.needs
        if check.concepts:
            known = [needs for c in check.concepts if (needs := self._concepts[c].needs) is not None]
            if not known:
                return None
            keys |= min(known, key=len)
        return keys

    def _candidates(self, scope: _Scope, only: frozenset[str] | None) -> list[_Check]:
        """The checks that can fire in the sentence (`_check_index`, `_Check.may_fire`), in rule order."""
        if scope.checks is None:
            words = _words(scope).words
            picked = set(self._always)
            for key in words & self._start_keys:
                picked.update(self._by_start[key])
            scope.checks = [check for i in sorted(picked) if (check := self._checks[i]).may_fire(words)]
        return scope.checks if only is None else [c for c in scope.checks if c.id in only]

    # ---- findings in one message -------------------------------------------------------
    def findings(self, text: str, turn: int = 0) -> list[Finding]:
        """Every finding that fires in one user message, with the sentence that fired it."""
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache.keep(text, self._findings(text))
        return [Finding(fid, ev, turn) for fid, ev in cached]

    def _findings(self, text: str) -> list[tuple[str, str]]:
        """Findings of the canonical text, read both with line breaks joined and as the writer broke it.

        "no fever\\nnumb bum" is two statements; "I can't feel\\nmy bum" is one: reading both ways
        and keeping every finding errs on the side of caution.
        """
        joined = canonical(text)
        out = dict(self._rules_of(joined))
        split = canonical(text, join_lines=False)
        if split != joined:
            for fid, evidence in self._rules_of(split).items():
                out.setdefault(fid, evidence)
        # the medicine reader reads the canonical text too ("my wife’s tramadol": one apostrophe)
        if DOSE_FINDING not in out and (dose := self._dose_evidence(joined)):
            out[DOSE_FINDING] = dose
        risks = self.rules.others_risk.intersection(out)
        # the writer's own complaint is looked for last: the whole message normalised costs more than
        # the rest of this together, and with no risk factor of someone else's it changes nothing
        theirs = {fid for fid in risks if self._theirs(text, fid)}
        # together a whole warning sign of theirs ("my husband is on chemo and has a fever"): kept
        if (
            theirs
            and not any(group <= theirs for group in self._risk_pairs)
            and self.rules.own_complaint.search(normalise_canonical(joined))
        ):
            for fid in theirs:
                del out[fid]
        return list(out.items())

    def _theirs(self, text: str, finding_id: str) -> bool:
        """Whether every mention of a risk factor (`context.others_risk`) has someone else as its subject
        ("my wife is halfway through chemotherapy"), in sentences that tell none of that person's signs
        ("... and her back is agony" is a carer's report). Called only when the writer tells a complaint
        of their own: then the risk is that person's, not the writer's. A mention with the writer, or
        nobody, before it is the writer's."""
        rules = self.rules
        concepts = [self._concepts[c].rx for c in self._finding_rules[finding_id].all]
        seen = False
        for sent in self._statements(text):
            for rx in concepts:
                for m in rx.finditer(sent):
                    seen = True
                    before = sent[: m.start()]
                    third = max((t.end() for t in rules.third_person.finditer(before)), default=-1)
                    first = max((t.end() for t in rules.first_person.finditer(before)), default=-1)
                    if third <= first or rules.their_signs.search(sent):
                        return False
        return seen

    def _rules_of(self, text: str) -> dict[str, str]:
        """`_findings_of` a canonical text, read once per message (the all-clear's check asks again)."""
        found = self._ruled.get(text)
        return self._ruled.keep(text, self._findings_of(text)) if found is None else found

    def _dose_told_after(self, before: str, text: str, turn: int) -> list[Finding]:
        """An answer that counts what the writer's last message named ("how many co-codamol can I take?" ...
        "took 20 today"): the medicine reader reads the two as one text, and only a finding in the answer counts."""
        answer = canonical(text)
        joined = f"{canonical(before)}\n{answer}"
        dose = self._dose_evidence(joined, after=len(joined) - len(answer))
        return [Finding(DOSE_FINDING, dose, turn)] if dose else []

    def _dose_evidence(self, text: str, after: int = 0) -> str | None:
        """What the medicine reader worked out (`doses.overdose`: count x strength x medicine against the
        label, or a whole supply taken), when the context analysis reads it as the writer's own intake:
        not denied, hypothetical ("what if I took 10?") or someone else's past."""
        found = read_doses(text, self.medicines_file)
        if found is None:
            return None
        for finding in found.findings:
            start, end = min(a for a, _ in finding.spans), max(b for _, b in finding.spans)
            if end <= after:
                continue  # told before the part being read (`_dose_told_after`)
            words = [w for w in normalise(text[start:end]).split() if len(w) >= 3 and w.isalpha()]
            if not words:
                return finding.evidence
            around = _sentence_around(text, start, end)
            rx = re.compile(r"\b(?:" + "|".join(map(re.escape, dict.fromkeys(words))) + r")\b")
            said = self._mention_status(around, rx)
            if said is None or said:  # words the rules' reading changed: the reader's own reading stands
                return finding.evidence
        return None

    def checked_findings(self, text: str) -> frozenset[str]:
        """Findings told only before a clinician's all-clear in the same message (`context.checked`).

        "Went to A&E with chest pain, ECG and bloods all fine": chest pain was checked. Signs told
        after the all-clear, or a message that says it came back, are not covered.
        """
        covered = self._checked_cache.get(text)
        if covered is None:
            covered = frozenset()
            joined = canonical(text)
            split = canonical(text, join_lines=False)
            told = frozenset(f.id for f in self.findings(text)) if len(joined) <= CHECKED_MAX_CHARS else frozenset()
            if self._may_cover(told, joined, split) and self.rules.checked_clear.search(normalise_canonical(joined)):
                # only a finding told at all can be covered: the second reading tries no other rule
                after = set(self._findings_of(joined, checked=True, only=told))
                if split != joined:
                    after |= set(self._findings_of(split, checked=True, only=told))
                covered = frozenset(told - after)
            self._checked_cache.keep(text, covered)
        return covered

    def _may_cover(self, told: frozenset[str], joined: str, split: str) -> bool:
        """Whether the all-clear's second reading can leave a finding out, worked out without the whole
        message normalised (a tenth of a new message's triage).

        It reads only the findings told, so with none it covers none. With no all-clear in either
        reading (`_checked_upto` None) it reads every sentence as the first reading did (the same
        scopes, no characters covered), so it finds every rule finding and age again: only the medicine
        reader's finding, which it does not read, could be left over, so one the reader told (and the
        rules did not) keeps the old path."""
        if not told:
            return False
        if DOSE_FINDING in told and all(DOSE_FINDING not in self._rules_of(t) for t in {joined, split}):
            return True  # the medicine reader's, not the rules'
        return any(self._checked_upto(r.parts, r.fixed) is not None for r in map(self._reading, {joined, split}))

    def all_clear(self, text: str) -> bool:
        """Whether the message reports a clinician's all-clear that covers what was told before it:
        "Had it checked at the time, nothing broken" does; "X-ray showed a fracture" does not."""
        return self.all_clear_report(text) is not None

    def all_clear_report(self, text: str) -> str | None:
        """The sentences of the message's all-clear, from the check to its result ("I had a bone scan ...
        oncologist phoned today no spread , the pain is a facet joint"); None without one."""
        reading = self._reading(canonical(text))
        upto = self._checked_upto(reading.parts, reading.fixed)
        return None if upto is None else upto[2]

    def _checked_upto(self, parts: list[str], fixed: list[str]) -> tuple[int, int, str] | None:
        """Where the first all-clear ends (part, character), and its report (the sentences from the check to
        its result), unless the message says something came back or is new.

        An all-clear is a check and a clear result in one sentence, or the check in one of the two before
        (`context.checked`). Only what was told before it was checked: "MRI said no compression, but
        since yesterday my bum is numb. The scan says no compression though?" reports a new sign.
        """
        rules = self.rules
        for i, sent in enumerate(fixed):
            if parts[i].rstrip().endswith("?"):
                continue  # a question ("was the ECG normal?")
            clear = self._search(self._clear, sent)  # looked for in every message that tells a sign (`_may_cover`)
            if clear is None:
                continue
            at, check = i, rules.checked_check.search(sent)
            # ... or the check up to two sentences before ("I had a bone scan. Oncologist phoned today: no spread")
            for back in (i - 1, i - 2):
                if check is not None or back < 0 or parts[back].rstrip().endswith("?"):
                    break
                at, check = back, rules.checked_check.search(fixed[back])
            if check is None:
                continue
            told = " ".join(fixed[at : i + 1])
            if rules.checked_unclear.search(told) or self._someone_elses(told, fixed):
                continue  # a result to come or not clear ("waiting for the bloods"), or their check
            # "...came back", "since yesterday": before it or after, something is new
            said = {(i, clear.start(), clear.end()), (at, check.start(), check.end())}
            if at == i and check.start() < clear.start():
                # the check told with its result is one report ("tested my leg strength today and said it's
                # normal"): its "today" is when the check was, not news of a sign
                said = {(i, check.start(), clear.end())}
            rests = [_without(part, [(a, b) for j, a, b in said if j == k]) for k, part in enumerate(fixed)]
            if rules.checked_relapse.search(" ".join(rests)) or self._news_beside_a_sign(rests, parts):
                return None
            return i, max(b for j, _a, b in said if j == i), told
        return None

    def _news_beside_a_sign(self, rests: list[str], parts: list[str]) -> bool:
        """Whether a sentence tells a sign as recent ("since this morning I can't feel my bum"): "stiff and
        sore today" after an all-clear is the ordinary ache, not the checked sign back. `rests`: the
        sentences without the all-clear's own words ("the MRI this morning was clear")."""
        recent = self.rules.checked_recent
        return any(
            recent.search(rest) and any(fid not in self._histories for fid in self._rules_of(part))
            for rest, part in zip(rests, parts, strict=True)
        )

    def _search(self, pattern: _Pattern, sent: str) -> re.Match[str] | None:
        """`pattern.rx.search(sent)`, tried only where a match can begin (`Beginnings`), and not at all
        in a sentence without what every match needs (`_Pattern.search_in`)."""
        return pattern.search_in(self._beginnings(sent))

    def _someone_elses(self, told: str, fixed: list[str]) -> bool:
        """Whether a check is someone else's while the writer tells of themselves too: it names them and not
        the writer ("I can't feel my bum. My mum had an MRI, all clear"). In a message all about one
        person ("the patient's MRI showed no compression ... advice to give him") it is that person's."""
        people, mine = self.rules.people, self.rules.first_person_owner
        if not people.search(told) or mine.search(people.sub(" ", told)):
            return False
        return any(mine.search(people.sub(" ", part)) for part in fixed if part is not told and part not in told)

    def _findings_of(self, text: str, checked: bool = False, only: frozenset[str] | None = None) -> dict[str, str]:
        """Findings of one canonical text; `only` limits the rules tried (age findings are always read)."""
        out: dict[str, str] = {}
        reading = self._reading(text)
        parts, fixed, comparing = reading.parts, reading.fixed, reading.comparing
        upto = self._checked_upto(parts, fixed) if checked else None
        story = False  # the sentence before told someone else's past ("My mum had cauda equina in 2015.")
        for i, original in enumerate(parts):
            sent = fixed[i]
            if not sent:
                continue
            if story and self._their_story_goes_on(sent):
                continue  # more of their story: "She went to bed with sciatica and woke up ... had surgery"
            story = self._their_past(sent)
            if reading.framed:
                sent = self._outside_frame(sent)  # a story's, a case's or a quiz's is not the writer's
                if not sent:
                    continue
            if original.rstrip().endswith("?"):
                if i + 1 < len(parts) and self._answers_no(parts[i + 1]):
                    continue  # "numb bum? no." : a checklist question answered no
                sent += " qmark"  # "..., normal?" asks; it does not deny
            scope = self._scope(sent, fixed[i + 1] if i + 1 < len(fixed) else "", comparing)
            if upto is not None and i <= upto[0]:
                # told before a clinician's all-clear: read as checked (only when asked for)
                scope = _covered(scope, len(sent) + 1 if i < upto[0] else upto[1])
            for check in self._candidates(scope, only):
                if check.id not in out and self._fires(check, scope):
                    out[check.id] = original[:200]
        for fid, evidence in reading.ages.items():
            out.setdefault(fid, evidence)
        return out

    def _their_past(self, sent: str) -> bool:
        """A sentence that tells someone else's past and nothing of the writer's or of now ("My mum had
        cauda equina back in 2015")."""
        rules = self.rules
        if not rules.people.search(sent) or rules.first_person_owner.search(rules.people.sub(" ", sent)):
            return False
        return bool(rules.history.search(sent)) and not rules.current.search(sent)

    def _their_story_goes_on(self, sent: str) -> bool:
        """After someone else's past, a sentence about "he", "she" or "they" that tells nothing of now or
        of the writer is more of that story. "She can't feel her legs since this morning" is now."""
        rules = self.rules
        if not rules.other_pronoun_start.match(sent) or rules.first_person_owner.search(sent):
            return False
        return not rules.current.search(sent)

    def _frame_leads(self, sent: str) -> re.Match[str] | None:
        """The frame that opens a sentence, before anything the writer tells of themselves: "I'm writing a
        short story", "For my coursework ...". Not "I have to stand for my lectures": the writer came first."""
        frame = self.rules.frame.search(sent)
        if frame is None or self.rules.first_person_owner.search(sent, 0, frame.start()):
            return None
        return frame

    def _outside_frame(self, sent: str) -> str:
        """What of a sentence is the writer's own, in a message framed as fiction, coursework, teaching or
        a quiz: a sentence the frame leads, from a "but" after it ("I'm writing a novel, but honestly I
        can't feel my bum"); a sentence that says "I" or "my", tells something as now ("since yesterday"),
        or opens as the writer's aside ("Anyway, ..."), whole; any other sentence ("The main character
        wakes up ...") none."""
        frame = self._frame_leads(sent)
        if frame is not None:
            turn = self.rules.terminators.search(sent, frame.end())
            return sent[turn.start() :] if turn else ""
        rules = self.rules
        if rules.first_person_owner.search(sent) or rules.first_person_report.search(sent):
            return sent
        return sent if rules.frame_exit.match(sent) else ""

    def _reading(self, text: str) -> _Reading:
        """The canonical text cut into parts and prepared, once for every pass over it (the all-clear's too)."""
        reading = self._readings.get(text)
        if reading is None:
            parts = [piece for sent in self._sentences(text) for piece in _bounded(sent)]
            fixed = [self._prepared(p) for p in parts]
            whole = " ".join(fixed)
            comparing = bool(self.rules.comparison.search(whole))
            framed = any(self._frame_leads(f) for f in fixed)
            ages = self._age_findings(whole, others=not (comparing or framed))
            reading = _Reading(parts, fixed, comparing, ages, framed)
            self._readings.keep(text, reading)
        return reading

    def _sentences(self, text: str) -> list[str]:
        """The canonical text's sentences, cut once for the rules' reading and the denials' (about 0.06 ms
        at 1,000 characters)."""
        found = self._cut.get(text)
        return self._cut.keep(text, sentences(text)) if found is None else found

    def _scope(self, sent: str, nxt: str, comparing: bool) -> _Scope:
        """A sentence read in its context, shared by every reading of the message that sees it so (line
        breaks joined or not, the all-clear's second reading): what is read off it is read once."""
        key = (sent, nxt, comparing)
        scope = self._scopes.get(key)
        if scope is None:
            scope = _Scope(sent=sent, nxt=nxt, comparing=comparing, words=self._beginnings(sent))
            self._scopes.keep(key, scope)
        return scope

    def _beginnings(self, sent: str) -> Beginnings:
        """How the sentence's words begin, read once for every context and question it is read in."""
        words = self._words.get(sent)
        return self._words.keep(sent, Beginnings(sent)) if words is None else words

    def _masks(self, scope: _Scope, history: bool = False) -> list[bool]:
        """The sentence's context masks, worked out on first use; `history`: without what says a sign is
        over ("had breast cancer in 2016, been fine ever since" is still a history of cancer)."""
        cached = scope.history_masks if history else scope.masks
        if cached is None:
            sent, nxt = scope.sent, scope.nxt
            cleared_next = not history and bool(
                self.rules.resolved_next.match(nxt)
                and self.rules.resolved.search(nxt)
                and not self.rules.relapse.search(nxt)
            )
            own = bool(self.rules.own_next.match(nxt) or self.rules.own_next.search(sent))
            general_next = not own and bool(
                self.rules.general_next.match(nxt)
                and self.rules.general_question.match(sent)
                and not self.rules.first_person_report.search(sent)
            )
            masks = (
                [True] * (len(sent) + 1)
                if cleared_next or general_next
                else self._context_masks(
                    sent, scope.comparing, own=own, revived_next=self._revived_next(scope), resolved=not history
                )
            )
            if scope.covered:
                masks = [True] * scope.covered + masks[scope.covered :]
            if history:
                scope.history_masks = cached = masks
            else:
                scope.masks = cached = masks
        return cached

    def _hedge_reaches(self, scope: _Scope, start: int) -> bool:
        """Whether a hedge takes back the denial of the mention at `start`: one after it, in the next
        sentence, or before it with no "but" between ("hard to tell what's normal down there, but no
        numbness" keeps its denial)."""
        if self.rules.retraction.match(scope.nxt):
            return True
        return any(
            m.start() >= start or not self.rules.retraction_stops.search(scope.sent, m.end(), start)
            for m in self._in.retraction.finditer_in(_words(scope))
        )

    def _hedged(self, scope: _Scope) -> bool:
        """Whether a hedge takes the sentence's denials back ("I don't think I've wet myself... maybe a little")."""
        if scope.hedged is None:
            scope.hedged = bool(self._in.retraction.search_in(_words(scope)) or self.rules.retraction.match(scope.nxt))
        return scope.hedged

    def _answers_no(self, sentence: str) -> bool:
        return bool(self.rules.answer_no.match(normalise(sentence)))

    def _fires(self, check: _Check, scope: _Scope) -> bool:
        """Whether one finding rule fires in the sentence and nothing in it explains the finding away."""
        if check.phrase is None:
            # cheap first: a rule with no phrase can only fire if all its concepts are in the sentence
            for concept in check.concepts:
                if not self._present(concept, scope):
                    return False
        if not self._finding_fires(check, scope):
            return False
        if check.unless and (self._revived_next(scope) or self._in.unless_undone.search_in(_words(scope))):
            # "... it went away. Now it's back since this morning", "years ago ... and it happened again
            # yesterday": what explained it away is over
            return True
        return not any(self._concept_live(concept, scope) for concept in check.unless)

    def _finding_fires(self, check: _Check, scope: _Scope) -> bool:
        if check.phrase is not None:
            for m in _finditer(check.phrase, scope):
                if check.ignore or not self._suppressed(m.start(), m.end(), scope, history=check.history):
                    return True
        if not check.concepts:
            return False
        for concept in check.concepts:
            if not (
                self._present(concept, scope) if check.ignore else self._concept_live(concept, scope, check.history)
            ):
                return False
        return True

    def _present(self, concept: str, scope: _Scope) -> bool:
        """Whether the concept occurs in the sentence at all, whatever its context (cached)."""
        present = scope.present.get(concept)
        if present is None:
            pattern = self._concepts[concept]
            present = pattern.search_in(_words(scope)) is not None
            scope.present[concept] = present
        return present

    def _concept_live(self, concept: str, scope: _Scope, history: bool = False) -> bool:
        """Whether the concept has a mention in this sentence that counts (cached per sentence); `history`:
        read as a history, which a word saying it is over does not take away."""
        key = f"{concept}#history" if history else concept
        live = scope.live.get(key)
        if live is None:
            live = False
            # a concept found not to occur at all (`_present`) has no mention to judge
            for m in () if scope.present.get(concept) is False else _finditer(self._concepts[concept], scope):
                if not self._suppressed(m.start(), m.end(), scope, history=history):
                    live = True
                    break
            scope.live[key] = live
        return live

    def forget(self) -> None:
        """Drop the per-message caches (benchmarks time a new message, not a cache hit)."""
        for cache in vars(self).values():
            if isinstance(cache, _Bounded):
                cache.clear()

    def _prepared(self, sentence: str) -> str:
        """A sentence normalised and typo-fixed once, however many rules and turns look at it."""
        prepared = self._prep_cache.get(sentence)
        if prepared is None:  # sentences of a canonical text
            prepared = self._prep_cache.keep(sentence, self.fixer.fix(normalise_canonical(sentence)))
        return prepared

    def denied(self, text: str, concepts: list[str]) -> bool:
        """Whether the writer denies one of these concepts ("no fever", "no thoughts of hurting myself")."""
        for sent in self._statements(text):
            words = self._beginnings(sent)
            scope: _Scope | None = None
            for concept in concepts:
                pattern = self._concepts[concept]
                if _absent(pattern, words):
                    continue  # not in the sentence: most sentences need no scope at all
                scope = scope or _Scope(sent=sent, words=words)  # only its words and terminators are read
                for m in _finditer(pattern, scope):
                    if scope.stops is None:
                        scope.stops = self._soft_stops(sent)
                    if self._negated(m.start(), m.end(), sent, scope.stops):
                        return True
        return False

    def _statements(self, text: str) -> list[str]:
        """The message's sentences, prepared, read once for every flag whose denial is looked for."""
        said = self._said.get(text)
        if said is None:
            said = self._said.keep(text, [self._prepared(original) for original in self._sentences(canonical(text))])
        return said

    def _context_masks(
        self, sent: str, comparing: bool = False, own: bool = False, revived_next: bool = False, resolved: bool = True
    ) -> list[bool]:
        """Per character: True where a hypothetical or someone-else's-history scope covers it."""
        mask = [False] * (len(sent) + 1)
        words, ctx = self._beginnings(sent), self._in  # each context pattern tried only where it can match
        strong_ends = [m.start() for m in ctx.terminators.finditer_in(words)]

        def scope_end(pos: int) -> int:
            return min((e for e in strong_ends if e > pos), default=len(sent))

        def next_start(pattern: _Pattern, pos: int) -> int:
            return next((t.start() for t in pattern.finditer_in(words, pos)), len(sent))

        # "is it normal for it to travel up? - mine has": a report, not a general question
        for m in () if own else ctx.hypothetical.finditer_in(words):
            # "feels as if", "not sure if": the writer's own, told as a likeness or an uncertainty
            before = max(0, m.start() - _NOT_AFTER_REACH)
            if sent.startswith("if", m.start()) and self.rules.hypothetical_not_after.search(sent, before, m.start()):
                continue
            _cover(mask, m.start(), min(scope_end(m.end()), next_start(ctx.hypothetical_ends, m.end())))
        for m in ctx.feared.finditer_in(words):
            # only the feared name is covered: a sign told beside the fear still counts, and so does a
            # clinician's worry ("my GP was worried it's cancer")
            if not self.rules.feared_by_others.search(sent, 0, m.start()):
                _cover(mask, m.start(), m.end())
        if not own and ctx.general_sentence.search_in(words) and not self.rules.first_person_report.search(sent):
            return [True] * (len(sent) + 1)
        someone = ctx.people.search_in(words) or self.rules.other_pronoun_start.match(sent)
        # another person's story told for comparison, or already in hand, is not the writer's
        if someone and not self.rules.first_person_owner.search(self.rules.people.sub(" ", sent)):
            if comparing and ctx.history.search_in(words):
                return [True] * (len(sent) + 1)
            if in_hand := ctx.handled.search_in(words):
                # up to the end of the clause that says so: "my mum is in hospital but tonight she can't feel
                # her legs", "my dad ended up in hospital, he can't feel his legs": news after it is not in hand
                end = min(scope_end(in_hand.end()), next_start(ctx.soft_terminators, in_hand.end()))
                if end == len(sent):
                    return [True] * (len(sent) + 1)
                _cover(mask, 0, end)
        # ... and before the writer comes in ("my husband is in A&E with chest pains so I'm stuck in a
        # chair"), within that clause. Not when the writer comes in asking what to do for them ("she's under
        # the hospital and since this morning she can't feel her legs, what do I do"): a carer's report
        writer = self._writer_in(sent) if someone else None
        if (
            someone
            and writer
            and someone.start() < writer.start()
            and not self.rules.carer_asks.search(sent, someone.start())
            and (in_hand := ctx.handled.search_in(words, 0, writer.start()))
        ):
            _cover(mask, 0, min(writer.start(), next_start(ctx.soft_terminators, in_hand.end())))
        for m in ctx.family.finditer_in(words):
            # "thin bones run in my family and my scan said osteopenia": the family scope ends at "and my"
            _cover(mask, 0, next_start(ctx.soft_terminators, m.end()))
        for m in ctx.resolved.finditer_in(words) if resolved else ():
            # ... unless a change is told after it, here or as the next sentence ("but since yesterday")
            if revived_next or ctx.resolved_unless.search_in(words, m.end()) or ctx.revived.search_in(words, m.end()):
                continue
            # "cleared up after the op" covers its qualifier, but "...went away and now I can't feel my
            # bum" starts something new at "and now": the scope ends at the next soft terminator. An
            # exception told first is not over: "apart from the wee taking ages, nothing new"
            exception = self.rules.exception_lead.search(sent, 0, m.start())
            _cover(mask, exception.end() if exception else 0, next_start(ctx.soft_terminators, m.end()))
        if not self.rules.same_as_me.search(sent):
            for m in ctx.people.finditer_in(words):
                # their story ends where a new subject starts ("my family ... and my scan showed")
                end = min(scope_end(m.end()), next_start(ctx.new_subject, m.end()))
                window = sent[m.end() : end]
                if self.rules.observed.match(window) and (
                    not self.rules.their_pronouns.search(window) or self.rules.found_today.search(sent)
                ):
                    continue  # what they saw of the writer, or found today of the one in their care, is now
                fp = self._writer_in(window)
                # what follows "I ..." is the writer's own; "and now I ..." belongs to the writer too
                about_them = self.rules.trailing_connectives.sub("", window[: fp.start()]) if fp else window
                if self.rules.history.search(about_them) and not self.rules.current.search(about_them):
                    _cover(mask, m.start(), m.end() + fp.start() if fp else end)
        return mask

    def _writer_in(self, window: str) -> re.Match[str] | None:
        """Where the writer comes back into someone else's story: "I", "me", or "my" before a thing that
        is not another person ("my little boy asked why my trousers were wet": the trousers are the
        writer's). "my" after a preposition or a verb of belief stays in their story: "a girl in my
        yoga class had...", "my wife is convinced my back pain is cancer"."""
        for m in self.rules.first_person_owner.finditer(window):
            if m.group(0) != "my":
                return m
            inside = self.rules.inside_their_story.search(window[: m.start()])
            if not inside and not self.rules.people.match(window, m.start()):
                return m
        return None

    def _suppressed(self, start: int, end: int, scope: _Scope, history: bool = False) -> bool:
        if self._masks(scope, history)[start]:
            return True
        if self._hedged(scope) and self._hedge_reaches(scope, start):
            return False
        if self._revived_next(scope):
            return False  # "No numbness last week. It's come back since yesterday": denied once, back now
        if scope.stops is None:
            scope.stops = self._soft_stops(scope.sent)
        return self._negated(start, end, scope.sent, scope.stops, history=history)

    def _revived_next(self, scope: _Scope) -> bool:
        if scope.revived_next is None:
            scope.revived_next = bool(scope.nxt) and self.rules.revived.search(scope.nxt) is not None
        return scope.revived_next

    def _soft_stops(self, sent: str) -> tuple[list[int], list[int]]:
        """Where the sentence's soft terminators start, and the furthest end of those up to each (read once
        per sentence, not once per mention)."""
        starts: list[int] = []
        ends: list[int] = []
        for m in self._in.soft_terminators.finditer_in(self._beginnings(sent)):
            starts.append(m.start())
            ends.append(max(m.end(), ends[-1]) if ends else m.end())
        return starts, ends

    def _negated(
        self, start: int, end: int, sent: str, stops: tuple[list[int], list[int]], history: bool = False
    ) -> bool:
        """`stops`: the sentence's soft terminators (`_soft_stops`), read once by the caller. `history`: a
        history is denied before it ("never had cancer") or by a "none" after it, not by a "fine" ("had
        breast cancer years ago, fine since": the writer is fine, the history stands)."""
        window = self.rules.source.context.negation_window
        starts, ends = stops
        begins, ctx = self._beginnings(sent), self._in
        revived = ctx.revived.search_in(begins, end)
        if revived and not self.rules.revived_negated.search(sent, max(0, revived.start() - 12), revived.start()):
            return False  # "...said it was fine, but since last night it's come back": denied once, back now
        # a terminator may overlap the mention itself ("... not touching it and i am crying")
        before = bisect_left(starts, start)
        cut = min(ends[before - 1] if before else 0, start)
        if ctx.negation_before.search_in(begins, start, end) and ctx.clause_subject.search_in(begins, cut, start):
            # a mention with its own negation, in a clause of its own ("i do not want to die exactly i just
            # do not want to be here"): an earlier negation is about something else
            cut = start
        for m in ctx.negation_before.finditer_in(begins, cut):
            if m.end() > start:
                break
            pseudo = self.rules.pseudo_negation
            if pseudo is not None and pseudo.match(sent, m.start()):
                continue
            if len(sent[m.end() : start].split()) <= window:
                return True
        if self.rules.exception_before.search(sent, 0, start):
            return False  # "apart from the wee taking ages to start, nothing new": the all-clear is the rest's
        after = sent[end:]
        first = self.rules.soft_terminators.search(after)
        stop = first.start() if first else len(after)
        tail = after[:stop].strip()
        words = tail.split()
        head = " ".join(words[:5])
        if "qmark" in words:
            return False
        denial = self.rules.negation_after.match(head) or self.rules.negation_after.search(head)
        if not denial or head[: denial.start()].strip().endswith("not"):
            return False
        if history and self.rules.history_well.search(denial.group(0)):
            return False  # "had breast cancer years ago, fine since": the writer is fine, the history stands
        rules = self.rules
        if denial.group(0).strip() == "good" and rules.lost_feeling.search(sent, max(0, start - 40), end + len(tail)):
            return False  # "she cannot feel her legs good": "good" as "well" (`context.lost_feeling`)
        between = head[: denial.start()].split()
        breaks = [i for i, w in enumerate(between) if w in rules.negation_after_breaks]
        if breaks and rules.negation_after_other.search(" ".join(between[breaks[-1] + 1 :])):
            return False  # "I cannot feel my bum, bladder fine": the "fine" is the bladder's (`negation_after_other`)
        # "not weeing normally": the "not" before the mention denies its normality, so no denial
        return not (denial.start() == 0 and sent[:start].rstrip().endswith(" not"))

    def _age_findings(self, text: str, others: bool = True) -> dict[str, str]:
        """Ages stated in the (normalised) message; `others=False` keeps only the writer's own."""
        ages: list[tuple[int, str]] = []
        for m in self._age.pattern_for(text).finditer(text):
            own = not (
                m["person"]
                or (m["stated"] and not self.rules.own_age_prefix.match(m.group(0)))
                or (m["born"] and m["born_who"] not in (None, "i"))
            )
            if not others and not own:
                continue
            if m["elderly"]:
                ages.append((70, m.group(0)))
                continue
            if m["decade"]:
                value = int(m["decade"]) * 10 + 5  # "in my 70s" -> 75
            elif m["born"]:
                value = date.today().year - int(m["born"])  # the age this year, birthday or not
            else:
                value = int(m["stated"] or m["years_old"] or m["age_sex"] or m["person"] or m["lead"])
            if 5 <= value <= 110:
                ages.append((value, m.group(0)))
        out: dict[str, str] = {}
        for fid, rng in self.rules.source.age_findings.items():
            for value, ev in ages:
                if rng.min <= value <= rng.max:
                    out[fid] = ev
        return out

    # ---- the conversation ----------------------------------------------------------------
    def triage(self, message: str, history: list[Turn] | None = None) -> Triage:
        """Triage the new message in the light of every earlier user turn (other languages' words glossed)."""
        turns = [
            Turn(role="user", content=gloss(t.content)) if t.role == "user" else t
            for t in [*(history or []), Turn(role="user", content=message)]
        ]
        found: dict[str, Finding] = {}
        fired: dict[str, FlagHit] = {}
        cleared: set[str] = set()
        answered: set[str] = set()  # screening flags whose question the writer has already said no to
        checked: set[str] = set()  # findings told only before a clinician's all-clear
        rechecked: dict[str, FlagHit] = {}  # flags whose signs were checked: their question is asked again
        taken: set[str] = set()  # findings told only before the writer took their message back
        checkable = set(self.rules.source.context.checkable)
        # a later message that takes the earlier ones back, or reports a clinician's all-clear, covers what
        # only the messages before it told ("that wasn't about me", "ECG and bloods all normal")
        users = [i for i, t in enumerate(turns) if t.role == "user"]
        later = users[1:]
        back = self.taken_back_at(turns)
        clear = max((i for i in later if self.all_clear(turns[i].content)), default=-1)
        for idx, turn in enumerate(turns):
            if turn.role != "user":
                continue
            covered = self.checked_findings(turn.content)
            told = self.findings(turn.content, idx)
            if (
                idx == users[-1]
                and len(users) > 1
                and _short_count(turn.content)
                and DOSE_FINDING not in {f.id for f in told}
            ):
                told += self._dose_told_after(turns[users[-2]].content, turn.content, idx)
            for f in told:
                first = f.id not in found
                if first:
                    found[f.id] = f
                if f.id not in covered and idx >= clear:
                    checked.discard(f.id)  # told again, uncovered: no longer only checked
                elif first:
                    checked.add(f.id)
                if idx >= back:
                    taken.discard(f.id)
                elif first:
                    taken.add(f.id)
            answered.update(
                f.id for f in self.rules.source.flags if f.answered_by and self.denied(turn.content, f.answered_by)
            )
            for flag in self.rules.source.flags:
                if flag.id in fired or flag.id in cleared or flag.id in answered:
                    continue
                for group in flag.when:
                    if all(g in found for g in group):
                        ev = "; ".join(dict.fromkeys(found[g].evidence for g in group))
                        by_clinician = (
                            flag.id in checkable
                            and bool(checked & set(group))
                            and self._verdict_told(flag.id, turns[: idx + 1])
                        )
                        if by_clinician or taken & set(group):
                            who = "checked by a clinician" if by_clinician else "taken back by the writer"
                            rechecked[flag.id] = FlagHit(
                                id=flag.id + CHECKED,
                                evidence=f"{who}: {ev}"[:200],
                                condition=f"{flag.condition}: {who}, asked again",
                                level=Level.routine,
                            )
                            continue
                        fired[flag.id] = FlagHit(id=flag.id, evidence=ev, condition=flag.condition, level=flag.level)
                        rechecked.pop(flag.id, None)
                        break
            asked = self._question_asked(turns, idx)
            if asked:
                target = self._questions[asked]
                # a "no" that goes on to report a sign ("no, but I can't feel my bum") is not a denial
                verdict = answer_verdict(self.rules, turn.content, reports_sign=lambda text: bool(self.findings(text)))
                if verdict is None and self._tells_what_was_asked(asked, turn.content):
                    verdict = "yes"  # "it takes ages to start, I stand there waiting": the sign, told
                elif verdict == "yes" and self.takes_back_with_denial(turn.content):
                    verdict = "no"
                if verdict == "yes" and idx < back:
                    # a yes the writer later took back ("sorry, I misread that"): asked again, not escalated
                    if target not in fired:
                        flag = self._flags[target]
                        rechecked[target] = FlagHit(
                            id=target + CHECKED,
                            evidence=f"taken back by the writer: answered '{turn.content[:60]}' to: {asked}"[:200],
                            condition=f"{flag.condition}: taken back by the writer, asked again",
                            level=Level.routine,
                        )
                elif verdict == "yes":
                    # a yes anywhere wins over a no ("no to the first, yes to the second")
                    if target not in fired:
                        flag = self._flags[target]
                        fired[target] = FlagHit(
                            id=target,
                            evidence=f"answered '{turn.content[:80]}' to: {asked}",
                            condition=flag.condition,
                            level=flag.level,
                        )
                elif verdict == "no":
                    for fid in [
                        k
                        for k, hit in fired.items()
                        if self._flags[k].screen and self._flags[k].screening_question == asked
                    ]:
                        fired.pop(fid)
                        cleared.add(fid)
                    for fid in [k for k in rechecked if self.recheck_question(k) == asked]:
                        rechecked.pop(fid)
                        cleared.add(fid)
        rechecked = {k: h for k, h in rechecked.items() if k not in fired}
        level = max_level(*(h.level for h in [*fired.values(), *rechecked.values()]))
        question = self._screening(fired, level)
        if question is None and level != Level.emergency:
            question = next((q for q in map(self.recheck_question, rechecked) if q), None)
        hits = self._ordered(fired) + list(rechecked.values())
        return Triage(level=level, flags=hits, screening_question=question)

    def _verdict_told(self, flag_id: str, turns: list[Turn]) -> bool:
        """Whether a user turn's all-clear itself names the verdict this flag needs (`context.checkable_when`):
        "oncologist says no spread, it's a disc" checks new back pain; "all clear at my five-year check. I
        think I pulled a muscle" does not (the writer's guess is no clinician's verdict)."""
        verdict = self.rules.checkable_when.get(flag_id)
        if verdict is None:
            return True
        reports = (self.all_clear_report(t.content) for t in turns if t.role == "user")
        return any(report is not None and verdict.search(report) for report in reports)

    def taken_back_at(self, turns: list[Turn]) -> int:
        """The index of the last user turn after the first that takes the earlier ones back (-1: none)."""
        later = [i for i, t in enumerate(turns) if t.role == "user"][1:]
        return max((i for i in later if self.taken_back(turns[i].content)), default=-1)

    def takes_back_with_denial(self, text: str) -> bool:
        """A reply that takes an earlier answer back and denies: its "yes" is the one it explains ("sorry
        no, I meant yes it's killing me. none of those things"), so it answers no."""
        return self.taken_back(text) and bool(self.rules.denial.search(normalise(text)))

    def taken_back(self, text: str) -> bool:
        """Whether a later message takes the earlier ones back ("sorry, that wasn't about me", "that was
        2009", "I meant my gym membership") and does not say the problem is still there or back."""
        said = self._statements(text)  # the sentences every later turn's denials are read in anyway
        back, unless = self.rules.taken_back, self.rules.taken_back_unless
        return any(back.search(s) for s in said) and not any(unless.search(s) for s in said)

    def _tells_what_was_asked(self, asked: str, answer: str) -> bool:
        """Whether a reply with no yes or no in it describes what the question asked about, in words the
        question's flag lists (`answered_yes_by`): "it takes ages to start" to a question about peeing."""
        concepts = {c for f in self.rules.source.flags if f.screening_question == asked for c in f.answered_yes_by}
        return any(self.mentioned(answer, self.rules.concepts[c]) for c in sorted(concepts))

    def recheck_question(self, flag_id: str) -> str | None:
        """The question asked again about a flag whose signs a clinician checked: its screening flag's
        question, else its own (None for a flag the rules do not have, e.g. one the net raised)."""
        screens = (f.screening_question for f in self.rules.source.flags if f.screen and f.escalate_to == flag_id)
        own = self._flags.get(flag_id)
        return next((q for q in screens if q), None) or (own.screening_question if own else None)

    def _question_asked(self, turns: list[Turn], idx: int) -> str | None:
        if idx == 0 or turns[idx - 1].role != "assistant":
            return None
        said = turns[idx - 1].content
        for q in self._questions:
            if q in said:
                return q
        # the assistant may have asked in other words: a question sentence about the same signs
        asked = questions_in(said)
        for rx, question, _target in self._asks:
            if asked and rx.search(asked):
                return question
        return None

    def asks_about(self, question: str) -> set[str]:
        """The flags a screening question asks about (its own text, or a question about the same signs)."""
        targets = {t for q, t in self._questions.items() if q in question}
        low = question.lower()
        return targets or {t for rx, _q, t in self._asks if rx.search(low)}

    def _ordered(self, fired: dict[str, FlagHit]) -> list[FlagHit]:
        return sorted(fired.values(), key=lambda h: -h.level.rank)

    def _screening(self, fired: dict[str, FlagHit], level: Level) -> str | None:
        if level == Level.emergency:
            return None
        open_screens = [self._flags[k] for k in fired if self._flags[k].screen]
        targets = {self._flags[k].escalate_to for k in fired if self._flags[k].screen}
        open_screens = [f for f in open_screens if f.escalate_to not in fired]
        if not open_screens or not targets:
            return None
        best = max(open_screens, key=lambda f: self._flags[f.escalate_to or f.id].level.rank)
        return best.screening_question

    def clause_status(self, clause: str) -> str | None:
        """How the net may read one clause: None (hypothetical, general or someone else's), "denied" or "live"."""
        sent = self._prepared(clause)
        if not sent:
            return None
        masks = self._context_masks(sent)
        if sum(masks[:-1]) > 0.5 * len(sent):
            return None
        rules = self.rules
        for m in rules.negation_before.finditer(sent):
            if rules.pseudo_negation is None or not rules.pseudo_negation.match(sent, m.start()):
                return "denied"
        if rules.negation_after.search(sent):
            return "denied"
        return "live"

    def mentioned(self, text: str, rx: re.Pattern[str]) -> bool:
        """Whether `rx` matches a mention in `text` that is not denied, hypothetical or someone else's."""
        return bool(self._mention_status(text, rx))

    def _mention_status(self, text: str, rx: re.Pattern[str]) -> bool | None:
        """`mentioned`, and None when `rx` does not match at all."""
        matched = False
        for original in sentences(canonical(text)):
            sent = self._prepared(original)
            scope: _Scope | None = None
            for m in rx.finditer(sent):
                matched = True
                scope = scope or _Scope(sent=sent, masks=self._context_masks(sent), hedged=False)
                if not self._suppressed(m.start(), m.end(), scope):
                    return True
        return False if matched else None

    def flag(self, flag_id: str) -> FlagRule:
        return self._flags[flag_id]


_COUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a dozen|fifteen|twenty|thirty)\b", re.I
)


_NOT_AFTER_REACH = 16  # characters before an "if" that `context.hypothetical_not_after` reads ("wondering ")


def _short_count(text: str) -> bool:
    """An answer that may count tablets ("took 20", "about 14 today"): short, with a number in it."""
    return len(text) <= 200 and _COUNT.search(text) is not None


# a question that points back at the sentence before it ("... thoughts of harming themselves. Have you
# had any thoughts like that?"): that sentence is part of what was asked
_POINTS_BACK = re.compile(
    r"\b(?:like (?:that|this|these|those)|any of (?:these|those|that|this|them)"
    r"|such (?:thoughts|feelings|symptoms|things)|(?:those|these) (?:thoughts|feelings|symptoms|things|signs))\b",
    re.IGNORECASE,
)


def questions_in(said: str) -> str:
    """The question sentences of what the assistant said, lower-cased: what a question in other words is
    looked for in (the rules' screening flags, the net's families); with the sentence before a question
    that points back at it."""
    parts = sentences(said)
    asked = []
    for i, s in enumerate(parts):
        if s.rstrip().endswith("?"):
            if i and _POINTS_BACK.search(s):
                asked.append(parts[i - 1])
            asked.append(s)
    return " ".join(asked).lower()


def answer_verdict(rules: CompiledRules, text: str, reports_sign: Callable[[str], bool] | None = None) -> str | None:
    """The verdict on a reply to a screening question: 'yes', 'no' or None; unsure counts as yes (safety first).

    The reply is read normalised, with what people say before answering dropped ("erm, now you
    mention it, kind of") and a yes that introduces a no taken out ("yeah, all normal"). A denial
    does not count when `reports_sign(text)` says the same reply goes on to report a sign."""
    answer = rules.yes_then_no.sub("", rules.answer_lead.sub("", normalise(text)))
    denied = bool(rules.denial.search(answer)) and not (reports_sign is not None and reports_sign(text))
    if rules.affirmative.search(answer) or (rules.uncertain.search(answer) and not denied):
        return "yes"
    return "no" if denied else None


def _pattern(rx: re.Pattern[str], needs: _Needs) -> _Pattern:
    return _Pattern(rx, shortest(match_starts(rx)), needs(rx))


def _absent(pattern: _Pattern, words: Beginnings) -> bool:
    """Whether no word of the sentence begins the way a match needs (so the search would find nothing)."""
    return pattern.needs is not None and pattern.needs.isdisjoint(words.words)


def _finditer(pattern: _Pattern, scope: _Scope) -> Iterator[re.Match[str]]:
    """The pattern's matches in the sentence, searched only if its word starts allow one."""
    return pattern.finditer_in(_words(scope))


def _covered(scope: _Scope, covered: int) -> _Scope:
    """The sentence with its first `covered` characters told before a clinician's all-clear: what does
    not depend on context is shared with `scope`; the masks and the mentions that count are its own."""
    return _Scope(
        sent=scope.sent,
        hedged=scope.hedged,
        nxt=scope.nxt,
        comparing=scope.comparing,
        covered=covered,
        present=scope.present,
        stops=scope.stops,
        words=_words(scope),
        checks=scope.checks,
    )


def _words(scope: _Scope) -> Beginnings:
    """How and where the sentence's words begin (worked out once per sentence)."""
    if scope.words is None:
        scope.words = Beginnings(scope.sent)
    return scope.words


def _cover(mask: list[bool], start: int, stop: int) -> None:
    """Mark mask[start:stop] (nothing if stop <= start), in one slice rather than a loop per character."""
    if stop > start:
        mask[start:stop] = [True] * (stop - start)


MAX_SENTENCE = 600  # characters: a run-on "sentence" is read in pieces, so time stays linear in length


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with these spans cut out (each replaced by a space)."""
    for a, b in sorted(spans, reverse=True):
        text = f"{text[:a]} {text[b:]}"
    return text


def _bounded(sentence: str) -> list[str]:
    """A sentence, or a very long run-on one cut at word boundaries into pieces of at most MAX_SENTENCE."""
    if len(sentence) <= MAX_SENTENCE:
        return [sentence]
    pieces, start = [], 0
    while start < len(sentence):
        end = min(len(sentence), start + MAX_SENTENCE)
        if end < len(sentence):
            space = sentence.rfind(" ", start + MAX_SENTENCE // 2, end)
            end = space if space > start else end
        pieces.append(sentence[start:end].strip())
        start = end
    return [p for p in pieces if p]


def rules_path(knowledge: Path) -> Path:
    return knowledge / "safety" / "triage.yaml"


def _sentence_around(text: str, start: int, end: int) -> str:
    """The sentence of `text` that holds [start, end): from the last stop before it to the next after it."""
    stops = ".!?\n"
    left = max(text.rfind(c, 0, start) for c in stops) + 1
    rights = [i for c in stops if (i := text.find(c, end)) != -1]
    return text[left : min(rights) + 1 if rights else len(text)]


def load_engine(knowledge: Path) -> TriageEngine:
    return TriageEngine(
        load_rules(rules_path(knowledge)), knowledge / "safety" / "medicines.yaml", index_path(knowledge)
    )
