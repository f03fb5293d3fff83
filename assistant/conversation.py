"""The conversation layer: composes the stages into one reply. It owns no rules of its own.

message -> input check -> triage -> retrieval -> compose -> exercises -> output check -> Reply
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import ValidationError

from assistant.canonical import canonical
from assistant.clinic_hours import hours_table, open_status
from assistant.compose import SentenceBank, extractive_answer, ground_draft
from assistant.content import KnowledgeBase, load_knowledge
from assistant.embeddings import Embedder, load_embedder
from assistant.errors import InputError, StoreError
from assistant.exercises import conditions_in, leg_symptoms_in, plan, render_card, wants_exercises
from assistant.guardrails.input import InputCheck, check_input
from assistant.guardrails.output import scrub
from assistant.guardrails.policy import Policy, load_policy
from assistant.guardrails.text import normalise
from assistant.guardrails.triage import TriageEngine
from assistant.guardrails.triager import Triager, load_triager
from assistant.models import ExerciseRef, Level, Reply, SourceRef, Triage, Turn, max_level
from assistant.records.outbox import LogOutbox
from assistant.retrieval import Approved, Hit, HybridRetriever, resolve_followup, tokens
from assistant.settings import Settings
from assistant.store import KnowledgeIndex, open_index

if TYPE_CHECKING:
    from assistant.records.outbox import LogOutbox

log = logging.getLogger("physio.conversation")

_CLINIC_INTENT = re.compile(
    r"\b(?:open(?:ing)? (?:hours|times)|are you open|when (?:are you|do you) open|is the clinic open|closed|"
    r"book(?:ing)? (?:an )?appointment|make an appointment|call ?back|phone number|your number|address|where are you)\b"
)
_ABOUT_SOMEONE_ELSE = re.compile(r"\b(?:he|she|they|him|her|them|his|their|my (?:son|daughter|brother|sister|husband|wife|partner|mum|mom|dad|friend|mother|father))\b", re.I)
_ABOUT_ME = re.compile(r"\b(?:i|i'm|im|i've|me|myself)\b", re.I)
_EXERCISE_TOPICS = {"exercise", "exercises", "stretching", "strengthening", "aerobic", "walking", "movement"}


def parse_history(raw: object) -> list[Turn]:
    """Contract 1 history: a list of {"role": "user"|"assistant", "content": str}."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("`history` must be a list of {\"role\", \"content\"} objects")
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
    bank: SentenceBank
    records: Any = None
    llm: Any = None
    system_prompt: str = ""
    card_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    status_overlay: dict[str, str] = field(default_factory=dict)
    outbox: "LogOutbox | None" = None
    _emergency_sources: dict[str, list[Hit]] = field(default_factory=dict)
    _last_provenance: list[Any] = field(default_factory=list)  # the sentences of the last answer, with their chunks

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def load(
        cls, settings: Settings, *, records: Any = None, llm: Any = None, build_if_empty: bool = True, say=print, embedder: Embedder | None = None
    ) -> "Assistant":
        """Load everything; on an empty store, build it first (saying so) when allowed.

        `embedder` replaces the configured model (the int8 experiment passes its own)."""
        embedder = embedder or load_embedder(settings, say=say)
        knowledge = settings.knowledge_path
        kb = load_knowledge(knowledge)
        try:
            index = open_index(settings, embedder.model_name, embedder.dimension)
        except StoreError as exc:
            if not build_if_empty or "empty" not in str(exc):
                raise
            from ingest.pipeline import ingest

            say("The knowledge store is empty: building it now (this happens once)...")
            summary = ingest(settings, embedder)
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
            bank=SentenceBank.build(index, embedder, settings.data_dir / "cache"),
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
        vectors = self.embedder.encode([i["question"] for i in items]) if items else []
        self.retriever.set_approved(
            [Approved(i["id"], i["question"], i["answer"], i.get("reviewer", ""), v) for i, v in zip(items, vectors, strict=True)]
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
        words = reply.answer.split(" ")
        for i in range(8, len(words), 8):
            yield " ".join(words[:i]), None
        yield reply.answer, reply

    def _log(self, conversation_id: str, message: str, reply: Reply, client_id: str | None) -> None:
        from assistant.records.outbox import LogOutbox  # here: `ask` never touches the records database

        if self.outbox is None or self.outbox.records is not self.records:
            self.outbox = LogOutbox(self.records)
        reply.turn_id = self.outbox.log(conversation_id, message, reply.contract(), client_id)

    # ---- composing ---------------------------------------------------------------------------
    def _compose(self, check: InputCheck, triage: Triage, turns: list[Turn]) -> Reply:
        p = self.policy
        level = triage.level
        crisis = any(f.id == "self_harm" for f in triage.flags)
        if check.blocked:
            limit = self.settings.max_message_chars
            text = p.refusal(check.kind, limit=limit)
            if level in (Level.emergency, Level.urgent):
                text = self._lead(triage) + "\n\n" + text
            return self._finish(text, triage, [], [], refused=True, reason=check.kind)
        if crisis:
            hit = next(f for f in triage.flags if f.id == "self_harm")
            text = p.file.crisis_other if _ABOUT_SOMEONE_ELSE.search(hit.evidence) and not _ABOUT_ME.search(hit.evidence) else p.file.crisis
            return self._finish(p.text(text), triage, [], [], refused=False, reason=None, help_section=False)

        reminder = ""
        if level == Level.emergency:
            earlier = self._earlier_triage(turns)
            if earlier is None or earlier.level != Level.emergency:
                return self._emergency(triage)  # raised by this message: the full emergency reply
            # the emergency was raised earlier: not a dead end. Answer the new message, with a reminder
            triage, reminder = self._after_emergency(check.cleaned, triage)
            level = triage.level

        query_text = resolve_followup(check.cleaned, turns)
        on_topic = check.on_topic or (query_text != check.cleaned and bool(p.on_topic.search(normalise(query_text))))
        if check.medication_dose:
            query_text += " (medicines and painkillers for sciatica: what a pharmacist or GP advises)"
        vector, hits = self.retrieve(check.cleaned, turns, query_text=query_text)
        weak = (
            not hits
            or max(h.cosine for h in hits) < self.settings.weak_retrieval_threshold
            or (self.retriever.unknown_share(check.cleaned) >= 0.5 and max(h.cosine for h in hits) < 0.8)
        )

        parts: list[str] = [reminder] if reminder else []
        if level == Level.urgent:
            parts.append(self._lead(triage))
        if triage.screening_question:
            parts.append(f"{p.file.screening_intro} {triage.screening_question}")
            if triage.safety_advice:
                parts.append(p.text(triage.safety_advice))
        refused, reason = False, None
        if check.injection:
            parts.append(p.refusal("injection"))
            refused, reason = True, "injection"
        if _CLINIC_INTENT.search(check.cleaned.lower()):
            parts.append(self._clinic_answer())
            return self._finish("\n\n".join(parts), triage, [], [], refused=refused, reason=reason)
        if check.elsewhere and not triage.flags and query_text == check.cleaned:
            parts.append(p.refusal("elsewhere"))
            return self._finish("\n\n".join(parts), triage, [], [], refused=True, reason=reason or "elsewhere")
        if p.stopping_medicine.search(normalise(check.cleaned)):
            parts.append(p.text(p.file.stopping_medicine_advice))
        if check.medication_dose:
            parts.append(p.refusal("medication_dose"))
            refused, reason = True, "medication_dose"
        if weak or (not on_topic and (hits[0].cosine if hits else 0) < self.settings.weak_retrieval_threshold + 0.1):
            if not on_topic and not triage.flags:
                parts.append(p.refusal("off_topic"))
                return self._finish("\n\n".join(parts), triage, [], [], refused=True, reason=reason or "off_topic")
            if not (check.injection and not triage.flags):
                parts.append(p.refusal("weak_retrieval"))
            return self._finish("\n\n".join(parts), triage, [], [], refused=True, reason=reason or "weak_retrieval")
        if check.injection and not on_topic:
            return self._finish("\n\n".join(parts), triage, [], [], refused=True, reason="injection")

        approved = self.retriever.match_approved(vector, self.settings.approved_answer_threshold)
        sources: list[SourceRef] = []
        if approved is not None:
            item, sim = approved
            parts.append(html.escape(item.answer))
            sources.append(SourceRef(id=f"approved-{item.id}", title="Answer checked by a physiotherapist", score=round(sim, 3), kind="approved", status="approved"))
        else:
            chosen = self._answer_sources(hits)
            body, used = self._body(check.cleaned, vector, chosen)
            if body:
                parts.append(body)
            sources.extend(self._source_ref(h) for h in chosen if h.source_id in used)

        exercises: list[ExerciseRef] = []
        if level in (Level.self_care, Level.routine) and not reminder and self._exercise_fitting(check.cleaned, hits):
            cards = self._plan(turns, check.cleaned, vector)
            if cards:
                lines = [render_card(c) for c in cards]
                parts.append("**What you can try**\n\n" + "\n".join(lines) + "\n\n" + p.text(p.file.exercise_general_rule))
                exercises = [ExerciseRef(id=c.id, name=c.name, category=c.category) for c in cards]
                for c in cards:
                    sources.append(SourceRef(id=c.id, title=c.name, score=round(float(self.card_vectors.get(c.id, vector) @ vector), 3), kind="exercise", status=self._status(c.id, c.review.status)))
        elif level == Level.urgent and wants_exercises(check.cleaned, p):
            parts.append(p.text(p.file.exercise_blocked))
        return self._finish("\n\n".join(parts), triage, sources, exercises, refused=refused, reason=reason)

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

    def _answer_sources(self, hits: list[Hit]) -> list[Hit]:
        """The best source, plus the next one when it is nearly as good."""
        chosen = [hits[0]]
        if len(hits) > 1 and hits[1].score >= 0.8 * hits[0].score:
            chosen.append(hits[1])
        return chosen

    def _body(self, message: str, vector: np.ndarray, chosen: list[Hit]) -> tuple[str, set[str]]:
        ids = [h.source_id for h in chosen]
        sentences = extractive_answer(self.bank, vector, ids, limit=4)
        text = " ".join(s.text for s in sentences)
        used = {s.source_id for s in sentences}
        if self.llm is not None:
            drafted = self._llm_answer(message, ids)
            if drafted:
                text, used = drafted
        text, _ = scrub(text, self.policy)
        self._last_provenance = sentences  # kept for tests and the eval's citation check
        return text, used

    def _llm_answer(self, message: str, ids: list[str]) -> tuple[str, set[str]] | None:
        """An optional LLM draft, kept only if most of it is supported by the sources."""
        source_text = "\n\n".join(
            f"[{sid}] " + " ".join(self.bank.sentences[i].text for i in self.bank.by_source.get(sid, [])) for sid in ids
        )
        try:
            from langchain_core.messages import HumanMessage, SystemMessage

            result = self.llm.invoke([SystemMessage(self.system_prompt.replace("{sources}", source_text)), HumanMessage(message)])
            draft = str(getattr(result, "content", result))
        except Exception as exc:  # noqa: BLE001 - the extractive answer is always there to fall back on
            log.warning("LLM unavailable, using the extractive answer: %s", type(exc).__name__)
            return None
        grounded = ground_draft(draft, self.bank, self.embedder, ids)
        total = len(grounded.provenance) + len(grounded.dropped)
        if total == 0 or len(grounded.dropped) > total / 3:
            return None
        self._last_provenance = grounded.provenance
        return grounded.text, {s.source_id for s in grounded.provenance}

    def _exercise_fitting(self, message: str, hits: list[Hit]) -> bool:
        if wants_exercises(message, self.policy):
            return True
        top = self.kb.articles.get(hits[0].source_id) if hits else None
        return bool(top and set(top.topics) & _EXERCISE_TOPICS and hits[0].cosine > 0.45)

    def _plan(self, turns: list[Turn], message: str, vector: np.ndarray) -> list[Any]:
        texts = [t.content for t in turns if t.role == "user"] + [message]
        conditions = conditions_in(texts, self.policy, self.engine.mentioned)
        ranked = self.retriever.search(vector, message, k=len(self.kb.cards), kinds=("exercise",))
        asked = set(tokens(message))
        relevance = {h.source_id: h.score + (1.0 if asked & _name_tokens(self.kb.cards[h.source_id].name) else 0.0) for h in ranked}
        return plan(self.kb.cards, relevance, conditions, leg_symptoms_in(texts))

    def _earlier_triage(self, turns: list[Turn]) -> Triage | None:
        """The triage as it stood after the writer's previous message (None when there was none)."""
        last = max((i for i, t in enumerate(turns) if t.role == "user"), default=None)
        if last is None:
            return None
        return self.triager.triage(turns[last].content, turns[:last])

    def _after_emergency(self, message: str, triage: Triage) -> tuple[Triage, str]:
        """A later message in an emergency conversation: a reminder, or (checked and cleared) the question again."""
        p = self.policy
        top = triage.flags[0]
        rule = self.engine.flag(top.id) if top.id in self.engine.rules.source.flag_ids else None
        if p.seen_and_cleared.search(normalise(message)):
            now = self.triager.triage(message)
            question = next((f.screening_question for f in self.engine.rules.source.flags if f.screen and f.escalate_to == top.id), None)
            question = question or (rule.screening_question if rule else None) or now.screening_question
            cleared = now.model_copy(update={"level": max_level(now.level, Level.routine), "screening_question": question})
            return cleared, p.text(p.file.screening_again)
        condition = (rule.condition if rule else top.condition).rstrip(".").lower()
        # answer the new message as if urgent: no exercises, the emergency banner kept by the level
        return triage, p.text(p.file.emergency_reminder, condition=condition)

    def _emergency(self, triage: Triage) -> Reply:
        """Short: what to do, why, and the one article that explains the warning sign."""
        top = triage.flags[0]
        if top.id not in self._emergency_sources:  # the condition text is fixed: search for it once per flag
            condition = self.engine.flag(top.id).condition
            hits = self.retriever.search(self.embedder.encode_one(condition), condition, k=1)
            self._emergency_sources[top.id] = hits[:1]
        sources = [self._source_ref(h) for h in self._emergency_sources[top.id]]
        return self._finish(self._lead(triage), triage, sources, [], refused=False, reason=None)

    def _lead(self, triage: Triage) -> str:
        """The first lines of an emergency or urgent reply: what to do, then why, in one line."""
        top = next((f for f in triage.flags if f.level == triage.level), triage.flags[0] if triage.flags else None)
        lead = self.policy.referral(triage.level)
        if top is not None and top.id in self.engine.rules.source.flag_ids:
            reason = self.engine.flag(top.id).reason
            if reason:
                lead += f"\n\n**Why:** {reason}"
        return lead

    def _clinic_answer(self) -> str:
        c = self.kb.clinic
        now = dt.datetime.now(ZoneInfo(c.timezone))
        return f"{open_status(c, now).sentence(c, now)}\n\nOpening hours: {hours_table(c)}. Phone: {c.phone}. Address: {c.address}."

    def _status(self, source_id: str, default: str) -> str:
        return self.status_overlay.get(source_id, default)

    def _source_ref(self, hit: Hit) -> SourceRef:
        return SourceRef(id=hit.source_id, title=hit.title, score=round(hit.cosine, 3), kind=hit.kind, status=self._status(hit.source_id, hit.status))

    def _finish(
        self,
        body: str,
        triage: Triage,
        sources: list[SourceRef],
        exercises: list[ExerciseRef],
        *,
        refused: bool,
        reason: str | None,
        help_section: bool = True,
    ) -> Reply:
        p = self.policy
        parts = [body] if body else []
        if help_section and triage.level != Level.emergency:
            help_text = p.referral(triage.level) if triage.level != Level.urgent else ""
            safety = p.text(p.file.safety_net)
            parts.append("**When to get help**\n\n" + " ".join(x for x in (help_text, safety) if x))
        elif help_section and triage.level == Level.emergency:
            parts.append(p.text(p.file.safety_net))
        draft = any(s.status == "draft" for s in sources)
        if sources:
            titles = "; ".join(dict.fromkeys(s.title for s in sources))
            parts.append(f"**Sources:** {titles}")
        disclaimer = p.text(p.file.disclaimer)
        if draft:
            disclaimer += " " + p.text(p.file.draft_note)
        parts.append(f"_{disclaimer}_")
        answer, _ = scrub("\n\n".join(parts), p)
        return Reply(
            triage=triage,
            answer=answer,
            sources=sources,
            exercises=exercises,
            disclaimer=disclaimer,
            refused=refused,
            refusal_reason=reason,
            draft_content=draft,
        )


_GENERIC = {"stretch", "exercis", "programme", "lying", "seat", "standing", "from"}


def _name_tokens(name: str) -> set[str]:
    """Distinctive words of a card's name ('walking programme' -> {'walk'}), to honour a named request."""
    return set(tokens(name)) - _GENERIC


def make_llm(settings: Settings) -> Any:
    """An OpenAI-compatible chat model (Ollama, llama.cpp, vLLM or a provider), if installed."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        log.warning("PHYSIO_LLM_* is set but langchain-openai is not installed: `pip install .[llm]`; using extractive answers")
        return None
    return ChatOpenAI(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key or "not-needed", temperature=0.2, timeout=30)

