"""Red-flag triage over the whole conversation, driven by `knowledge/safety/triage.yaml`.

Findings are matched per sentence (ConText-style: denied, hypothetical and someone else's history
mentions do not count); flags combine findings across all user turns; a yes to a screening question
escalates, a clear no clears the partial signal that prompted it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.guardrails.rules import CompiledRules, FlagRule, load_rules
from assistant.guardrails.text import TypoFixer, normalise, sentences
from assistant.models import FlagHit, Level, Triage, Turn, max_level

_AGE_RX = re.compile(
    r"(?:\b(?:i am|im|aged|age|i turned|he is|she is|who is|they are|(?:mum|mom|dad|mother|father|husband|wife|partner|nan|gran) is)\s+(?P<stated>\d{1,3})\b(?!\s*(?:weeks|days|months|hours|minutes|kg|lbs|stone|percent|%|mg|times|reps|miles|km|steps))"
    r"|\b(?P<years_old>\d{1,3})\s*(?:years? old|yrs? old|yo|y/o|year old|yr old)\b"
    r"|\b(?P<age_sex>\d{2})\s*(?:m|f|male|female)\b"
    r"|\b(?:grandad|grandpa|grandma|granny|nan|gran|mum|mom|dad|father|mother|husband|wife|resident|patient|neighbour|neighbor|aunt|uncle)\s*,?\s*(?:is |aged |age )?(?P<person>\d{2,3})\b"
    r"|\bin (?:my|his|her|their) (?P<decade>\d)0s\b"
    r"|\b(?P<elderly>elderly|pensioner|retired|old age pensioner|oap)\b)"
)


@dataclass
class Finding:
    id: str
    evidence: str
    turn: int


@dataclass
class TriageEngine:
    rules: CompiledRules
    fixer: TypoFixer = field(init=False)

    def __post_init__(self) -> None:
        self.fixer = TypoFixer(self.rules.source.vocabulary)
        self._cache: dict[str, list[tuple[str, str]]] = {}
        self._flags = {f.id: f for f in self.rules.source.flags}
        self._questions = {
            f.screening_question: (f.escalate_to or f.id) for f in self.rules.source.flags if f.screening_question and f.screen
        }
        self._asks = [
            (re.compile(f.asks_about), f.screening_question, f.escalate_to or f.id)
            for f in self.rules.source.flags
            if f.asks_about and f.screening_question
        ]

    # ---- findings in one message -------------------------------------------------------
    def findings(self, text: str, turn: int = 0) -> list[Finding]:
        """Every finding that fires in one user message, with the sentence that fired it."""
        cached = self._cache.get(text)
        if cached is None:
            cached = self._findings(text)
            if len(self._cache) > 2048:
                self._cache.clear()
            self._cache[text] = cached
        return [Finding(fid, ev, turn) for fid, ev in cached]

    def _findings(self, text: str) -> list[tuple[str, str]]:
        out: dict[str, str] = {}
        parts = sentences(text)
        for i, original in enumerate(parts):
            sent = self.fixer.fix(normalise(original))
            if not sent:
                continue
            if original.rstrip().endswith("?"):
                if i + 1 < len(parts) and self._answers_no(parts[i + 1]):
                    continue  # "numb bum? no." : a checklist question answered no
                sent += " qmark"  # "..., normal?" asks; it does not deny
            masks = self._context_masks(sent)
            live: dict[str, bool] = {}  # concept -> has a mention that counts (computed once per sentence)
            for rule in self.rules.source.findings:
                if rule.id in out:
                    continue
                if self._finding_fires(rule.id, rule.all, rule.ignore_context, sent, masks, live) and not any(
                    self._concept_live(c, sent, masks, live) for c in rule.unless
                ):
                    out[rule.id] = original[:200]
        for fid, evidence in self._age_findings(text).items():
            out.setdefault(fid, evidence)
        return list(out.items())

    def _answers_no(self, sentence: str) -> bool:
        return bool(re.match(r"(?:(?:also|and|again|that is a|thats a) )?(?:no|nope|nah|none|never|not really|not at all|negative)\b", normalise(sentence)))

    def _finding_fires(self, fid: str, concepts: list[str], ignore: bool, sent: str, masks: list[bool], live: dict[str, bool]) -> bool:
        phrase_rx = self.rules.phrases.get(fid)
        if phrase_rx is not None:
            for m in phrase_rx.finditer(sent):
                if ignore or not self._suppressed(m.start(), m.end(), sent, masks):
                    return True
        if not concepts:
            return False
        for concept in concepts:
            if ignore:
                if not self.rules.concepts[concept].search(sent):
                    return False
                continue
            if not self._concept_live(concept, sent, masks, live):
                return False
        return True

    def _concept_live(self, concept: str, sent: str, masks: list[bool], live: dict[str, bool]) -> bool:
        """Whether the concept has a mention in this sentence that counts (cached per sentence)."""
        if concept not in live:
            live[concept] = any(
                not self._suppressed(m.start(), m.end(), sent, masks) for m in self.rules.concepts[concept].finditer(sent)
            )
        return live[concept]

    def _context_masks(self, sent: str) -> list[bool]:
        """Per character: True where a hypothetical or someone-else's-history scope covers it."""
        mask = [False] * (len(sent) + 1)
        strong_ends = [m.start() for m in self.rules.terminators.finditer(sent)]

        def scope_end(pos: int) -> int:
            return min((e for e in strong_ends if e > pos), default=len(sent))

        for m in self.rules.hypothetical.finditer(sent):
            for i in range(m.start(), scope_end(m.end())):
                mask[i] = True
        if self.rules.family.search(sent) or (
            self.rules.general_sentence.search(sent) and not self.rules.first_person_report.search(sent)
        ):
            return [True] * (len(sent) + 1)
        for m in self.rules.resolved.finditer(sent):
            for i in range(0, scope_end(m.end())):
                mask[i] = True
        first_person = re.compile(r"\b(?:i|me|myself)\b")
        if not re.search(r"\b(?:so did i|me too|i have too|i also|as did i|i did too|same as me)\b", sent):
            for m in self.rules.people.finditer(sent):
                end = scope_end(m.end())
                window = sent[m.end() : end]
                fp = first_person.search(window)
                # what follows "I ..." is the writer's own; "and now I ..." belongs to the writer too
                about_them = re.sub(r"(?:\b(?:and|now|so|but)\b|\s|,)+$", "", window[: fp.start()]) if fp else window
                if self.rules.history.search(about_them) and not self.rules.current.search(about_them):
                    stop = m.end() + fp.start() if fp else end
                    for i in range(m.start(), stop):
                        mask[i] = True
        return mask

    def _suppressed(self, start: int, end: int, sent: str, masks: list[bool]) -> bool:
        if masks[start]:
            return True
        return self._negated(start, end, sent)

    def _negated(self, start: int, end: int, sent: str) -> bool:
        window = self.rules.source.context.negation_window
        before = sent[:start]
        cut = max((m.end() for m in self.rules.soft_terminators.finditer(before)), default=0)
        for m in self.rules.negation_before.finditer(sent, cut):
            if m.end() > start:
                break
            pseudo = self.rules.pseudo_negation
            if pseudo is not None and pseudo.match(sent, m.start()):
                continue
            if len(sent[m.end() : start].split()) <= window:
                return True
        after = sent[end:]
        stop = next((m.start() for m in self.rules.soft_terminators.finditer(after)), len(after))
        tail = after[:stop].strip()
        words = tail.split()
        head = " ".join(words[:5])
        if "qmark" in words:
            return False
        m = self.rules.negation_after.match(head) or self.rules.negation_after.search(head)
        return bool(m and not head[: m.start()].strip().endswith("not"))

    def _age_findings(self, text: str) -> dict[str, str]:
        ages: list[tuple[int, str]] = []
        for m in _AGE_RX.finditer(normalise(text)):
            if m["elderly"]:
                ages.append((70, m.group(0)))
                continue
            if m["decade"]:
                value = int(m["decade"]) * 10 + 5  # "in my 70s" -> 75
            else:
                value = int(m["stated"] or m["years_old"] or m["age_sex"] or m["person"])
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
        """Triage the new message in the light of every earlier user turn."""
        turns = [*(history or []), Turn(role="user", content=message)]
        found: dict[str, Finding] = {}
        fired: dict[str, FlagHit] = {}
        cleared: set[str] = set()
        for idx, turn in enumerate(turns):
            if turn.role != "user":
                continue
            for f in self.findings(turn.content, idx):
                found.setdefault(f.id, f)
            for flag in self.rules.source.flags:
                if flag.id in fired or flag.id in cleared:
                    continue
                for group in flag.when:
                    if all(g in found for g in group):
                        ev = "; ".join(dict.fromkeys(found[g].evidence for g in group))
                        fired[flag.id] = FlagHit(id=flag.id, evidence=ev, condition=flag.condition, level=flag.level)
                        break
            asked = self._question_asked(turns, idx)
            if asked:
                answer = normalise(turn.content)
                target = self._questions[asked]
                if self.rules.denial.search(answer) and not self.findings(turn.content):
                    for fid in [k for k, hit in fired.items() if self._flags[k].screen and self._flags[k].screening_question == asked]:
                        fired.pop(fid)
                        cleared.add(fid)
                elif self.rules.affirmative.search(answer) and target not in fired:
                    flag = self._flags[target]
                    fired[target] = FlagHit(
                        id=target, evidence=f"answered '{turn.content[:80]}' to: {asked}", condition=flag.condition, level=flag.level
                    )
        level = max_level(*(h.level for h in fired.values()))
        return Triage(level=level, flags=self._ordered(fired), screening_question=self._screening(fired, level))

    def _question_asked(self, turns: list[Turn], idx: int) -> str | None:
        if idx == 0 or turns[idx - 1].role != "assistant":
            return None
        said = turns[idx - 1].content
        for q in self._questions:
            if q in said:
                return q
        # the assistant may have asked in other words: a question sentence about the same signs
        asked = " ".join(s for s in sentences(said) if s.rstrip().endswith("?")).lower()
        for rx, question, _target in self._asks:
            if asked and rx.search(asked):
                return question
        return None

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

    def mentioned(self, text: str, rx: re.Pattern[str]) -> bool:
        """Whether `rx` matches a mention in `text` that is not denied, hypothetical or someone else's."""
        for original in sentences(text):
            sent = self.fixer.fix(normalise(original))
            masks: list[bool] | None = None
            for m in rx.finditer(sent):
                masks = masks or self._context_masks(sent)
                if not self._suppressed(m.start(), m.end(), sent, masks):
                    return True
        return False

    def flag(self, flag_id: str) -> FlagRule:
        return self._flags[flag_id]


def rules_path(knowledge: Path) -> Path:
    return knowledge / "safety" / "triage.yaml"


def load_engine(knowledge: Path) -> TriageEngine:
    return TriageEngine(load_rules(rules_path(knowledge)))
