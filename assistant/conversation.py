"""The conversation layer: composes the stages into one reply. It owns no rules of its own.

message -> input check -> triage -> retrieval -> compose -> exercises -> output check -> Reply
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from assistant import streaming
from assistant.answering import AnswerLimits, as_answer, choose, suggest
from assistant.canonical import canonical, normalise
from assistant.content import KnowledgeBase, load_knowledge
from assistant.embeddings import Embedder, load_embedder
from assistant.errors import InputError, StoreError
from assistant.exercises import categories_in, conditions_in, leg_symptoms_in, plan, wants_exercises
from assistant.guardrails.input import InputCheck, check_input
from assistant.guardrails.output import has_diagnosis, has_dose, scrub
from assistant.guardrails.policy import Policy, load_policy
from assistant.guardrails.triage import CHECKED, TriageEngine
from assistant.guardrails.triager import UNREAD, Triager, load_triager
from assistant.intents import Intents
from assistant.models import ExerciseRef, Level, Reply, SourceRef, Suggestion, Triage, Turn
from assistant.records.outbox import LogOutbox
from assistant.reply_text import markdown
from assistant.retrieval import Approved, Hit, HybridRetriever, resolve_followup, tokens
from assistant.scope import ScopeModel, load_scope
from assistant.seams import ChatModel, RecordsPort, StoreBuilder
from assistant.sections import Scored, SectionIndex, SectionRef, quoted_in
from assistant.settings import Settings
from assistant.store import KnowledgeIndex, open_index

if TYPE_CHECKING:
    from assistant.records.outbox import LogOutbox

log = logging.getLogger("physio.conversation")

_EXERCISE_TOPICS = {"stretching", "strengthening", "nerve-glides", "core"}  # articles that are exercise programmes


def parse_history(raw: object) -> list[Turn]:
    """Contract 1 history: a list of {"role": "user"|"assistant", "content": str}."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError('`history` must be a list of {"role", "content"} objects')
    turns: list[Turn] = []
    for i, item in enumerate(raw):
        try:
            turn = Turn.model_validate(item)
        except ValidationError as exc:
            raise InputError(f"history[{i}] must have role 'user' or 'assistant' and text content") from exc
        turns.append(turn)
    return turns[-20:]


@dataclass
class Assistant:
    """Everything loaded once: model, knowledge, rules, store. Call `reply()` per message."""

    settings: Settings
    embedder: Embedder
    kb: KnowledgeBase
    engine: TriageEngine
    triager: Triager
    policy: Policy
    index: KnowledgeIndex
    retriever: HybridRetriever
    section_index: SectionIndex
    intents: Intents | None = None
    scope: ScopeModel | None = None
    limits: AnswerLimits = field(default_factory=AnswerLimits)
    records: RecordsPort | None = None
    llm: ChatModel | None = None
    system_prompt: str = ""
    card_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    status_overlay: dict[str, str] = field(default_factory=dict)
    outbox: LogOutbox | None = None
    _emergency_sources: dict[str, list[Hit]] = field(default_factory=dict)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        records: RecordsPort | None = None,
        llm: ChatModel | None = None,
        build: StoreBuilder | None = None,
        say: Callable[[str], None] = print,
        embedder: Embedder | None = None,
    ) -> Assistant:
        """Load everything; on an empty store, build it first with `build` (saying so), when one is given.

        The front ends pass `ingest.pipeline.ingest` as `build`; without it an empty store is an error
        that says how to build it. `embedder` replaces the configured model (the int8 experiment passes
        its own)."""
        embedder = embedder or load_embedder(settings, say=say)
        knowledge = settings.knowledge_path
        kb = load_knowledge(knowledge)
        try:
            index = open_index(settings, embedder.model_name, embedder.dimension)
        except StoreError as exc:
            if build is None or "empty" not in str(exc):
                raise
            say("The knowledge store is empty: building it now (this happens once)...")
            summary = build(settings, embedder)
            say(f"Knowledge store ready: {summary.line()}.")
            index = open_index(settings, embedder.model_name, embedder.dimension)
        if llm is None and settings.llm_base_url and settings.llm_model:
            llm = make_llm(settings)
        triager = load_triager(knowledge, embedder.encode, embedder.model_name)
        assistant = cls(
            settings=settings,
            embedder=embedder,
            kb=kb,
            engine=triager.engine,
            triager=triager,
            policy=load_policy(knowledge / "safety" / "policy.yaml", kb.clinic),
            index=index,
            retriever=HybridRetriever(index),
            section_index=SectionIndex.build(index, tokens),
            intents=Intents.load(knowledge / "language" / "intents.yaml", lambda texts: embedder.encode(list(texts))),
            scope=load_scope(knowledge, embedder.model_name),
            records=records,
            llm=llm,
            system_prompt=(knowledge / "prompts" / "system.md").read_text(encoding="utf-8"),
        )
        assistant.card_vectors = {
            str(c.meta["source_id"]): index.vector(c.id) for c in index.chunks if c.meta.get("kind") == "exercise"
        }
        assistant.refresh_approved()
        return assistant

    def refresh_approved(self) -> None:
        """Reload clinician-approved answers and article statuses from the records database."""
        if self.records is None:
            return
        try:
            items = self.records.approved_answers()
            self.status_overlay = {k: v["status"] for k, v in self.records.article_statuses().items()}
        except Exception as exc:  # noqa: BLE001 - the chat must keep answering without records
            log.warning("could not load approved answers: %s", exc)
            return
        vectors = list(self.embedder.encode([i["question"] for i in items])) if items else []
        self.retriever.set_approved(
            [
                Approved(i["id"], i["question"], i["answer"], i.get("reviewer", ""), v)
                for i, v in zip(items, vectors, strict=True)
            ]
        )

    # ---- one turn ------------------------------------------------------------------------
    def reply(
        self,
        message: object,
        history: object = None,
        *,
        id: str | None = None,
        conversation_id: str | None = None,
        client_id: str | None = None,
    ) -> Reply:
        """Answer one message in the light of the conversation so far (Contract 1)."""
        start = time.perf_counter()
        turns = parse_history(history)
        check = check_input(message, self.policy, self.settings.max_message_chars)
        # the net asks its questions only about back pain and health (it learnt from nothing else)
        in_scope = check.blocked or bool(turns) or (check.on_topic and not check.elsewhere)
        triage = self.triager.triage(check.cleaned, turns, on_topic=in_scope)
        reply = self._compose(check, triage, turns)
        reply.id = id
        reply.latency_ms = round((time.perf_counter() - start) * 1000, 2)
        if self.records is not None and conversation_id:
            self._log(conversation_id, check.cleaned or "", reply, client_id)
        return reply

    def stream(self, message: object, history: object = None, **kwargs: Any) -> Iterator[tuple[str, Reply | None]]:
        """Yield the answer progressively (text so far, None), then (full text, Reply)."""
        reply = self.reply(message, history, **kwargs)
        for count in streaming.frames(len(reply.answer.split(" "))):
            yield streaming.prefix(reply.answer, count), None
        yield reply.answer, reply

    def _log(self, conversation_id: str, message: str, reply: Reply, client_id: str | None) -> None:
        from assistant.records.outbox import LogOutbox  # here: `ask` never touches the records database

        if self.outbox is None or self.outbox.records is not self.records:
            self.outbox = LogOutbox(self.records)
        reply.turn_id = self.outbox.log(conversation_id, message, reply.contract(), client_id)

    # ---- composing: one stage per step, each reading and adding to this turn's Draft ----------
    def _compose(self, check: InputCheck, triage: Triage, turns: list[Turn]) -> Reply:
        d = Draft(check=check, triage=triage, turns=turns)
        for stage in (
            self._refuse_blocked,
            self._crisis,
            self._emergency_stage,
            self._safety_notes,
            self._unread,
            self._retrieve_stage,
            self._clinic_intent,
            self._scope,
            self._approved,
            self._answer,
            self._exercises,
        ):
            if stage(d):
                break
        return self._finish(d)

    def _refuse_blocked(self, d: Draft) -> bool:
        """Empty, too long, unreadable: say what to do instead (and still raise a red flag)."""
        if not d.check.blocked:
            return False
        if d.triage.level in (Level.emergency, Level.urgent):
            d.lead = self._lead(d.triage)
        d.notes.append(self.policy.refusal(d.check.kind, limit=self.settings.max_message_chars))
        d.refuse(d.check.kind)
        return True

    def _crisis(self, d: Draft) -> bool:
        """A self-harm signal: the crisis lines, and nothing else."""
        hit = next((f for f in d.triage.flags if f.id == "self_harm"), None)
        if hit is None:
            return False
        p = self.policy
        d.notes.append(p.text(p.file.crisis_other if p.about_someone_else(hit.evidence) else p.file.crisis))
        d.help = False
        return True

    def _emergency_stage(self, d: Draft) -> bool:
        """Raised by this message: the short emergency reply. Raised earlier: a reminder, then an answer."""
        if d.triage.level != Level.emergency:
            self._after_taken_back(d)
            return False
        earlier = self._earlier_triage(d.turns)
        if earlier is None or earlier.level != Level.emergency:
            top = d.triage.flags[0]
            d.lead = self._lead(d.triage)
            d.sources = [self._source_ref(h) for h in self._emergency_source(top.id)]
            return True
        d.notes.append(self._reminder(d.triage))
        d.reminded = True
        return False

    def _safety_notes(self, d: Draft) -> bool:
        """The urgent instruction, a screening question with what to do meanwhile, an injection refused."""
        p = self.policy
        if d.triage.level == Level.urgent:
            d.lead = self._lead(d.triage)
        if d.triage.screening_question:
            # urgent: asked before anything else; routine: asked right after the answer
            crisis = self.triager.crisis_checks() & {f.id for f in d.triage.flags}
            first = d.triage.level.rank >= Level.urgent.rank or bool(crisis)
            where = d.notes if first else d.check_notes
            where.append(
                f"{p.file.screening_intro if first else p.file.screening_intro_after} {d.triage.screening_question}"
            )
            if d.triage.safety_advice:
                where.append(p.text(d.triage.safety_advice))
        if d.check.injection:
            d.notes.append(p.refusal("injection"))
            d.refuse("injection")
        return False

    def _unread(self, d: Draft) -> bool:
        """A message the triage could not read: after the checklist, how to be understood; no answer guessed."""
        if not any(f.id == UNREAD for f in d.triage.flags):
            return False
        d.notes.append(self.policy.text(self.policy.file.unread_language))
        d.help = False
        return True

    def _retrieve_stage(self, d: Draft) -> bool:
        """What the message is about: the follow-up resolved, the query embedded, the best articles."""
        p = self.policy
        d.query = resolve_followup(d.check.cleaned, d.turns)
        d.on_topic = d.check.on_topic or (d.query != d.check.cleaned and bool(p.on_topic.search(normalise(d.query))))
        query = d.query + (
            " (medicines and painkillers for sciatica: what a pharmacist or GP advises)"
            if d.check.medication_dose
            else ""
        )
        d.vector, d.hits = self.retrieve(d.check.cleaned, d.turns, query_text=query)
        d.previous = self._previous_sources(d.turns) if d.query != d.check.cleaned else []
        return False

    def _clinic_intent(self, d: Draft) -> bool:
        """Hours, call-back, booking, prices, referral, where, who: answered from the clinic profile."""
        if self.intents is None or d.check.injection:
            return False  # read on the message alone: "ok how do I book in?" needs no conversation
        own = self._vector(d.check.cleaned)
        hits = d.hits if d.query == d.check.cleaned else self.retriever.search(own, d.check.cleaned, k=1)
        best_article = hits[0].cosine if hits else 0.0  # compared with the message alone, as the intent is
        match = self.intents.match(own, best_article, len(d.check.cleaned.split()))
        if match is None:
            return False
        d.intent = match.intent
        d.notes.append(self.intents.answer(match.intent, self.kb.clinic, message=d.check.cleaned))
        d.help = bool(d.triage.flags)
        return True

    def _scope(self, d: Draft) -> bool:
        """Decline what is clearly outside the knowledge base; offer choices when merely unsure."""
        p, check, hits = self.policy, d.check, d.hits
        if check.elsewhere and not d.triage.flags and d.query == check.cleaned:
            return self._decline(d, "elsewhere")
        if p.stopping_medicine.search(normalise(check.cleaned)):
            d.notes.append(p.text(p.file.stopping_medicine_advice))
        if check.medication_dose:
            d.notes.append(p.refusal("medication_dose"))
            d.refuse("medication_dose")
        top = hits[0].cosine if hits else 0.0
        threshold = self.settings.weak_retrieval_threshold
        if self.scope is not None and d.query == check.cleaned:
            inside = not self.scope.outside(self._vector(check.cleaned))  # what the question is about, by meaning
        else:
            inside = d.on_topic or top >= threshold + 0.1  # a follow-up, or no read-out for this encoder
        vector = d.vector

        def ranked() -> list[Scored]:
            return self.section_index.rank(vector, tokens(d.query), [h.source_id for h in hits[:3]])

        if not inside:
            # declined, with the clinic's contact; when an article is close, its sections are offered
            # as choices in case the question was about back pain after all
            self._decline(
                d, "weak_retrieval" if d.triage.flags or d.on_topic else "off_topic", help=bool(d.triage.flags)
            )
            if top >= self.limits.offer_when_declined and not check.injection:
                d.suggestions = suggest(ranked(), self.limits)
            return True
        unknown = self.retriever.unknown_share(check.cleaned) if hits else 1.0
        if unknown >= 0.5 and top < 0.8 and d.query == check.cleaned:
            # words the knowledge base never mentions (a product, a remedy): declined, nearest sections offered
            self._decline(d, "weak_retrieval", help=bool(d.triage.flags))
            if not check.injection:
                d.suggestions = suggest(ranked(), self.limits)
            return True
        if top < threshold:
            if check.injection:
                return self._decline(d, "weak_retrieval", help=bool(d.triage.flags))
            # about back pain, in words we know, but no article is clearly it: offer the nearest sections
            d.suggestions = suggest(ranked(), self.limits)
            if not d.suggestions:
                return self._decline(d, "weak_retrieval", help=bool(d.triage.flags))
            d.notes.append(p.text(p.file.unsure))
            d.help = bool(d.triage.flags)
            d.reason = d.reason or "unsure"
            return True
        return bool(check.injection and not d.on_topic)

    def _decline(self, d: Draft, kind: str, *, help: bool = False) -> bool:
        if not (kind == "weak_retrieval" and d.check.injection and not d.triage.flags):
            d.notes.append(self.policy.refusal(kind))
        d.refuse(d.reason or kind)
        d.help = help
        return True

    def _approved(self, d: Draft) -> bool:
        """A physiotherapist's own answer to a question this close wins outright."""
        found = self.retriever.match_approved(d.vector, self.settings.approved_answer_threshold)
        if found is None:
            return False
        item, sim = found
        d.notes.append(html.escape(item.answer))
        d.sources.append(
            SourceRef(
                id=f"approved-{item.id}",
                title="Answer checked by a physiotherapist",
                score=round(sim, 3),
                kind="approved",
                status="approved",
            )
        )
        d.answered = True
        return False

    def _answer(self, d: Draft) -> bool:
        """One or two whole sections of the best article (a second article only when it fits better)."""
        if d.answered or not d.hits:
            return False
        hits = d.hits
        toks = tokens(d.query)
        first = self.section_index.rank(d.vector, toks, [hits[0].source_id])
        second: list[Scored] = []
        # a follow-up ("and when driving?") is answered from one article: its query vector leans on the
        # earlier topic, so a second article's section would be judged by what was asked before
        if len(hits) > 1 and hits[1].score >= 0.8 * hits[0].score and d.query == d.check.cleaned:
            second = self.section_index.rank(d.vector, toks, [hits[1].source_id])
        if d.previous and d.previous[0] != hits[0].source_id:
            # a follow-up stays with the article just quoted unless another fits clearly better
            before = self.section_index.rank(d.vector, toks, d.previous[:1])
            if before and (not first or before[0].score >= first[0].score - self.limits.follow_up_margin):
                first, second = before, []
        chosen = choose(first, second, self.limits)
        if self.llm is not None:
            chosen = self._llm_choice(d.check.cleaned, [*first[:4], *second[:2]]) or chosen
        for section in chosen:
            if has_dose(section.text, self.policy) or has_diagnosis(section.text, self.policy):
                log.warning("section %s fails the output check; not shown (fix the article)", section.id)
                continue
            d.sections.append(section)
        by_source: dict[str, list[str]] = {}
        for s in d.sections:
            by_source.setdefault(s.source_id, []).append(s.heading)
        cos = {h.source_id: h for h in hits}
        for source_id, headings in by_source.items():
            hit = cos.get(source_id)
            first_section = next(s for s in d.sections if s.source_id == source_id)
            d.sources.append(
                SourceRef(
                    id=source_id,
                    title=first_section.title,
                    score=round(hit.cosine, 3) if hit else 0.0,
                    kind=first_section.kind,
                    status=self._status(source_id, first_section.status),
                    section="; ".join(headings),
                )
            )
        d.answered = bool(d.sections)
        return False

    def _exercises(self, d: Draft) -> bool:
        """Cards only when asked for, or when the quoted section is about exercise; never when urgent."""
        p = self.policy
        level = d.triage.level
        asked = wants_exercises(d.check.cleaned, p)
        if level == Level.urgent and asked:
            d.notes.append(p.text(p.file.exercise_blocked))
            return False
        if level not in (Level.self_care, Level.routine) or d.reminded or d.refused and d.reason != "medication_dose":
            return False
        if not (asked or any(self._about_exercise(s) for s in d.sections)):
            return False
        d.user_texts = [t.content for t in d.turns if t.role == "user"] + [d.check.cleaned]
        d.conditions = conditions_in(d.user_texts, p, self.engine.mentioned)  # once per turn: the plan reads them too
        if not asked and d.conditions & _SURGEON_FIRST:
            return False  # after an operation the surgical team's plan comes first: cards only when asked
        cards = self._plan(d)
        d.cards = cards
        d.plan_note = p.text(p.file.exercise_general_rule) if cards else ""
        for c in cards:
            score = round(float(self.card_vectors.get(c.id, d.vector) @ d.vector), 3)
            d.sources.append(
                SourceRef(
                    id=c.id, title=c.name, score=score, kind="exercise", status=self._status(c.id, c.review.status)
                )
            )
        return False

    def _about_exercise(self, section: SectionRef) -> bool:
        """An exercise article (stretching, strengthening, nerve glides), or a section headed as exercises."""
        article = self.kb.articles.get(section.source_id)
        if article is not None and set(article.topics) & _EXERCISE_TOPICS:
            return True
        return wants_exercises(section.heading, self.policy)

    # ---- retrieval ----------------------------------------------------------------------------
    def retrieve(
        self, message: str, turns: list[Turn], *, k: int = 5, mode: str = "hybrid", query_text: str | None = None
    ) -> tuple[np.ndarray, list[Hit]]:
        """Sources for a message in its conversation (the evals call this too, so they measure what patients get)."""
        query_text = query_text or resolve_followup(message, turns)
        spelled = self.retriever.spell(message)
        query_text = spelled if query_text == message else self.retriever.spell(query_text)
        message = spelled
        if query_text == message:
            vector = self._vector(query_text)
            return vector, self.retriever.search(vector, query_text, k=k, mode=mode)
        # a follow-up: what is asked now, blended with the conversation's topic
        own, vector = self.embedder.encode([message, query_text])
        return vector, self.retriever.search_blend([(own, message, 0.8), (vector, query_text, 1.0)], k=k, mode=mode)

    def _vector(self, text: str) -> np.ndarray:
        """The query's embedding: the triage net has usually just computed it for the same text."""
        net = self.triager.net
        cached = net.cached(canonical(text)) if net is not None else None
        return cached if cached is not None else self.embedder.encode_one(text)

    def _previous_sources(self, turns: list[Turn]) -> list[str]:
        """The articles the last reply quoted (found by their sections' exact text in it)."""
        last = next((t.content for t in reversed(turns) if t.role == "assistant"), "")
        if not last:
            return []
        found = [s.source_id for s in quoted_in(last, list(self.section_index.sections.values()))]
        return list(dict.fromkeys(found))

    def _llm_choice(self, message: str, candidates: list[Scored]) -> list[SectionRef] | None:
        """An optional LLM picks which candidate sections answer the question; it never writes the answer."""
        if self.llm is None:
            return None
        sections = list(dict.fromkeys(c.section for c in candidates))
        listing = "\n\n".join(f"[{i}] {s.title}: {s.heading}\n{s.text}" for i, s in enumerate(sections, 1))
        try:
            from langchain_core.messages import HumanMessage, SystemMessage

            result = self.llm.invoke(
                [SystemMessage(self.system_prompt.replace("{sources}", listing)), HumanMessage(message)]
            )
            raw = str(getattr(result, "content", result))
        except Exception as exc:  # noqa: BLE001 - the retrieval's own choice is always there to fall back on
            log.warning("LLM unavailable, using the retrieval's choice: %s", type(exc).__name__)
            return None
        picked = [int(n) for n in re.findall(r"\d+", raw)[:2] if 1 <= int(n) <= len(sections)]
        chosen = list(dict.fromkeys(sections[n - 1] for n in picked))
        return sorted(chosen, key=lambda s: (s.source_id != chosen[0].source_id, s.order)) if chosen else None

    def _plan(self, d: Draft) -> list[Any]:
        """The cards for this turn: relevance to the message, filtered by the conditions the writer has mentioned."""
        message = d.check.cleaned
        ranked = self.retriever.search(d.vector, message, k=len(self.kb.cards), kinds=("exercise",))
        asked = set(tokens(message))
        relevance = {
            h.source_id: h.score + (1.0 if asked & _name_tokens(self.kb.cards[h.source_id].name) else 0.0)
            for h in ranked
        }
        cards = plan(
            self.kb.cards,
            relevance,
            d.conditions,
            leg_symptoms_in(d.user_texts),
            categories=categories_in(message, self.policy),
        )
        # a card asked about by name ("how long do I hold the knee to chest one?") is the answer on its own
        named = [c for c in cards if _named(c.name, asked)]
        return named or cards

    # ---- triage in the conversation -------------------------------------------------------------
    def _earlier_triage(self, turns: list[Turn]) -> Triage | None:
        """The triage as it stood after the writer's previous message (None when there was none)."""
        last = max((i for i, t in enumerate(turns) if t.role == "user"), default=None)
        if last is None:
            return None
        return self.triager.triage(turns[last].content, turns[:last])

    def _after_taken_back(self, d: Draft) -> None:
        """An emergency that a later message took back or a clinician cleared (the triage asks its question
        again): say so before the question."""
        if not d.turns or not any(f.id.endswith(CHECKED) for f in d.triage.flags):
            return
        earlier = self._earlier_triage(d.turns)
        if earlier is None or earlier.level != Level.emergency:
            return
        p = self.policy
        cleared = self.engine.all_clear(d.check.cleaned or "")
        d.notes.append(p.text(p.file.screening_again if cleared else p.file.taken_back_again))

    def _reminder(self, triage: Triage) -> str:
        """A later message in an emergency conversation that neither takes it back nor reports an all-clear
        (the triage has seen to those): a one-line reminder, then the new message answered."""
        p = self.policy
        top = triage.flags[0]
        rule = self.engine.flag(top.id) if top.id in self.engine.rules.source.flag_ids else None
        condition = (rule.condition if rule else top.condition).rstrip(".").lower()
        # answer the new message as if urgent: no exercises, the emergency banner kept by the level
        return p.text(p.file.emergency_reminder, condition=condition)

    def _emergency_source(self, flag_id: str) -> list[Hit]:
        """The one article that explains the warning sign (its condition text is fixed: searched once)."""
        if flag_id not in self._emergency_sources:
            condition = self.engine.flag(flag_id).condition
            hits = self.retriever.search(self.embedder.encode_one(condition), condition, k=1)
            self._emergency_sources[flag_id] = hits[:1]
        return self._emergency_sources[flag_id]

    def _lead(self, triage: Triage) -> str:
        """The first lines of an emergency or urgent reply: what to do, then why, in one line."""
        top = next((f for f in triage.flags if f.level == triage.level), triage.flags[0] if triage.flags else None)
        lead = self.policy.referral(triage.level)
        if top is not None and top.id in self.engine.rules.source.flag_ids:
            reason = self.engine.flag(top.id).reason
            if reason:
                lead += f"\n\n**Why:** {reason}"
        return lead

    def _status(self, source_id: str, default: str) -> str:
        return self.status_overlay.get(source_id, default)

    def _source_ref(self, hit: Hit) -> SourceRef:
        return SourceRef(
            id=hit.source_id,
            title=hit.title,
            score=round(hit.cosine, 3),
            kind=hit.kind,
            status=self._status(hit.source_id, hit.status),
        )

    # ---- the reply --------------------------------------------------------------------------------
    def _help(self, d: Draft) -> str:
        """'When to get help' where the topic calls for it: a flag, a screening question, a symptom topic."""
        p = self.policy
        level = d.triage.level
        if level == Level.emergency:
            return p.text(p.file.safety_net) if d.help else ""
        if not d.help:
            return ""
        called = level != Level.self_care or bool(d.triage.flags) or bool(d.triage.screening_question)
        called = called or any(
            set(self.kb.articles[s.source_id].topics) & p.help_topics
            for s in d.sections
            if s.source_id in self.kb.articles
        )
        if not called:
            return ""
        referral = p.referral(level) if level != Level.urgent else ""
        asked = d.triage.screening_question or ""
        net = "" if asked and p.file.safety_net_flag in self.engine.asks_about(asked) else p.text(p.file.safety_net)
        return " ".join(x for x in (referral, net) if x)

    def _finish(self, d: Draft) -> Reply:
        p = self.policy
        draft = any(s.status == "draft" for s in d.sources)
        disclaimer = p.text(p.file.disclaimer) + (" " + p.text(p.file.draft_note) if draft else "")
        notes = [scrub(n, p)[0] for n in d.notes if n]
        reply = Reply(
            triage=d.triage,
            lead=d.lead,
            notes=notes,
            sections=[as_answer(s) for s in d.sections],
            check=[scrub(n, p)[0] for n in d.check_notes],
            suggestions=d.suggestions,
            exercises=[ExerciseRef(id=c.id, name=c.name, category=c.category) for c in d.cards],
            plan_note=d.plan_note,
            help=self._help(d),
            sources=d.sources,
            disclaimer=disclaimer,
            refused=d.refused,
            refusal_reason=d.reason,
            draft_content=draft,
            intent=d.intent or ("exercises" if d.cards else None),
        )
        reply.answer = markdown(reply, self.kb.cards)
        return reply


@dataclass
class Draft:
    """One turn's reply while it is built: local to the request, so concurrent turns never mix."""

    check: InputCheck
    triage: Triage
    turns: list[Turn]
    lead: str = ""
    notes: list[str] = field(default_factory=list)
    check_notes: list[str] = field(default_factory=list)
    query: str = ""
    on_topic: bool = False
    vector: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # set by the retrieval stage
    hits: list[Hit] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)
    sections: list[SectionRef] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    user_texts: list[str] = field(default_factory=list)  # everything the writer has said, this message last
    conditions: set[str] = field(default_factory=set)  # contraindications mentioned (set by the exercise stage)
    cards: list[Any] = field(default_factory=list)
    plan_note: str = ""
    intent: str | None = None
    refused: bool = False
    reason: str | None = None
    help: bool = True
    reminded: bool = False
    answered: bool = False

    def refuse(self, reason: str | None) -> None:
        self.refused = True
        self.reason = self.reason or reason


_GENERIC = {"stretch", "exercis", "programme", "lying", "seat", "standing", "from"}
_SURGEON_FIRST = {"recent_spinal_surgery", "recent_surgery"}


def _named(name: str, asked: set[str]) -> bool:
    """Whether a message names this card: every word of its name, or all but one of a longer name
    ('the knee to chest one' names 'Single knee-to-chest stretch')."""
    words = _name_tokens(name.split("(")[0])
    return bool(words) and len(words & asked) >= min(2, len(words)) and len(words - asked) <= (len(words) >= 3)


def _name_tokens(name: str) -> set[str]:
    """Distinctive words of a card's name ('walking programme' -> {'walk'}), to honour a named request."""
    return set(tokens(name)) - _GENERIC


def make_llm(settings: Settings) -> ChatModel | None:
    """An OpenAI-compatible chat model (Ollama, llama.cpp, vLLM or a provider), if installed."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        log.warning(
            "PHYSIO_LLM_* is set but langchain-openai is not installed: `pip install .[llm]`; using extractive answers"
        )
        return None
    return ChatOpenAI(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key or "not-needed",
        temperature=0.2,
        timeout=30,
    )
