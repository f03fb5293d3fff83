"""The patient chat: a gradio Blocks page around a Chatbot, with a call-back form and the `/chat` API.

Every reply goes through `Assistant.reply` (logged under a per-session conversation id); the page
shows it through `render.reply_html`. API endpoints (gradio_client):

- `/chat`  message -> the answer text (Markdown, Contract 1 `answer`), in one message (the page streams; the API
  does not); the conversation continues per client session
- `/reply` message -> the whole Contract 1 object (level, flags, sources, exercises, disclaimer...)
- `/callback` name, contact, preferred time, note, consent -> a message saying whether it was stored
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import gradio as gr

from assistant import streaming
from assistant.clinic_hours import open_status
from assistant.content import Clinic
from assistant.models import Level, Reply, Triage, Turn
from assistant.web.ratelimit import ChatLimiter
from assistant.web.render import answer_markdown, e, markdown_html, notice_html, reply_html, tel, user_message_html

log = logging.getLogger("physio.web.chat")

EXAMPLES = [
    "Is walking OK with sciatica?",
    "What exercises can I do for sciatica?",
    "How long does sciatica usually last?",
    "Should I use heat or ice for back pain?",
    "When should I see a GP or a physio?",
    "Is the clinic open today?",
]
_CONTACT = re.compile(r"^(?:[^@\s]+@[^@\s]+\.[^@\s]+|\+?[\d\s().-]{7,20})$")
_STREAM_PAUSE = 0.02
STATUS_SECONDS = 10.0  # how often a visitor waiting in the queue hears its place
_SALT = secrets.token_bytes(16)  # per process: client ids are pseudonymous and not linkable across restarts


def client_id(request: gr.Request | None) -> str:
    """A pseudonymous id for the visitor's address (never the address itself)."""
    host = getattr(getattr(request, "client", None), "host", None) or "unknown"
    return hashlib.sha256(_SALT + host.encode()).hexdigest()[:16]


def _address(request: gr.Request | None) -> str:
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "none"


def _history(turns: list[dict[str, str]]) -> list[Turn]:
    """The conversation so far as triage reads it; anything malformed (an API caller's) is left out."""
    history: list[Turn] = []
    for item in turns[-20:] if isinstance(turns, list) else []:
        try:
            history.append(Turn.model_validate(item))
        except ValueError:
            continue
    return history


# ---- static parts of the page ---------------------------------------------------------------


def _now(clinic: Clinic) -> dt.datetime:
    return dt.datetime.now(ZoneInfo(clinic.timezone))


def _day(moment: dt.datetime, now: dt.datetime) -> str:
    days = (moment.date() - now.date()).days
    return "today" if days == 0 else "tomorrow" if days == 1 else f"on {moment:%A}"


def status_pill(clinic: Clinic, now: dt.datetime) -> str:
    status = open_status(clinic, now)
    if status.open_now and status.closes_at:
        return f'<span class="pa-status pa-status--open"><span class="pa-dot" aria-hidden="true"></span>Open now, until {status.closes_at:%H:%M}</span>'
    if status.next_open:
        day = _day(status.next_open, now)
        return f'<span class="pa-status pa-status--closed"><span class="pa-dot" aria-hidden="true"></span>Closed, opens {e(day)} at {status.next_open:%H:%M}</span>'
    return '<span class="pa-status pa-status--closed"><span class="pa-dot" aria-hidden="true"></span>Closed</span>'


def header_html(clinic: Clinic, now: dt.datetime) -> str:
    logo = (
        '<svg class="pa-logo" viewBox="0 0 40 40" width="40" height="40" aria-hidden="true" focusable="false">'
        '<rect width="40" height="40" rx="10" fill="currentColor"/>'
        '<path d="M20 8v24M14 12h12M13 18h14M14 24h12M16 30h8" stroke="#fff" stroke-width="2.6" stroke-linecap="round"/></svg>'
    )
    return (
        '<header class="pa-header">'
        f'<div class="pa-brand">{logo}<div><h1 class="pa-clinic">{e(clinic.name)}</h1>'
        '<p class="pa-tagline">Questions about sciatica and back pain, answered from information our physiotherapists use.</p></div></div>'
        f'<div class="pa-header__actions">{status_pill(clinic, now)}'
        f'<a class="pa-btn" href="{e(tel(clinic.phone))}">Call {e(clinic.phone)}</a>'
        f'<a class="pa-btn pa-btn--primary" href="{e(clinic.booking_url)}" target="_blank" rel="noopener noreferrer">Book online</a></div>'
        "</header>"
        f'<p class="pa-strip" role="note"><strong>In an emergency, call {e(clinic.emergency.number)}.</strong> '
        "This chat cannot call for help or see your messages in real time.</p>"
    )


def greeting_html(clinic: Clinic, now: dt.datetime) -> str:
    sentence = open_status(clinic, now).sentence(clinic, now)
    return (
        '<div class="pa-greeting">'
        f'<p class="pa-greeting__hello">Hello! I\'m the {e(clinic.short_name)} assistant.</p>'
        "<p>I can explain sciatica and low back pain, what helps, when to get checked, and suggest safe exercises. "
        "I can't examine you or give a diagnosis.</p>"
        f'<div class="pa-greeting__hours">{markdown_html(sentence)}</div>'
        '<p class="pa-greeting__try">Try one of these questions, or type your own below.</p></div>'
    )


def footer_html(clinic: Clinic, disclaimer: str) -> str:
    return (
        '<footer class="pa-footer">'
        f'<p class="pa-footer__disclaimer"><strong>Please note:</strong> {e(disclaimer)}</p>'
        f'<p>Emergency: call <a href="{e(tel(clinic.emergency.number))}">{e(clinic.emergency.number)}</a>. '
        f'Urgent advice: {e(clinic.urgent.name)} on <a href="{e(tel(clinic.urgent.number))}">{e(clinic.urgent.number)}</a>. '
        f'If you are struggling to cope: {e(clinic.crisis.name)} on <a href="{e(tel(clinic.crisis.number))}">{e(clinic.crisis.number)}</a>.</p>'
        "<p>Your messages are kept so our physiotherapists can check and improve the answers. Names, phone numbers "
        "and email addresses are removed before they are stored. Answers marked "
        "<em>Not yet checked by our physiotherapists</em> come from information that is still being reviewed.</p>"
        f'<p class="pa-footer__clinic">{e(clinic.name)} · {e(clinic.address)} · '
        f'<a href="{e(tel(clinic.phone))}">{e(clinic.phone)}</a> · '
        f'<a href="mailto:{e(clinic.email)}">{e(clinic.email)}</a></p>'
        "</footer>"
    )


# ---- the page -----------------------------------------------------------------------------


class ChatPage:
    """Handlers of the patient page; one instance per server, state per browser session."""

    def __init__(self, assistant: Any, limiter: ChatLimiter):
        self.assistant = assistant
        self.kb = assistant.kb
        self.clinic: Clinic = assistant.kb.clinic
        self.policy = assistant.policy
        self.limiter = limiter

    # -- helpers
    def _busy(self) -> str:
        return (
            "You are sending messages faster than I can answer. Please wait a minute and try again. "
            f"If you need help now, call {self.clinic.phone}, or {self.clinic.emergency.number} in an emergency."
        )

    def _failed(self) -> str:
        return (
            "Sorry, something went wrong on our side and I couldn't answer. Please try again in a moment, "
            f"or call {self.clinic.phone}. In an emergency, call {self.clinic.emergency.number}."
        )

    def _ask(self, message: str, turns: list[dict[str, str]], conv_id: str, request: gr.Request | None) -> Reply:
        reply: Reply = self.assistant.reply(message, turns, conversation_id=conv_id, client_id=client_id(request))
        return reply

    def _admit(self, message: str, turns: list[dict[str, str]] | None, request: gr.Request | None) -> Reply | None:
        """Triage first, then the rate limit: None when the message may be answered, else the reply to show.

        A message over the limit is not answered, but it is triaged: when it is urgent or an
        emergency, the reply leads with that advice (the policy's referral, or the crisis text
        for self-harm) before the request to slow down.
        """
        triage = self._triage(message, turns or [])
        if self.limiter.allow(_address(request), _session(request)):
            return None
        return self._over_limit(triage)

    def _triage(self, message: str, turns: list[dict[str, str]]) -> Triage:
        # before the rate limit the rules read twice max_message_chars (the whole message is triaged
        # when it is answered), so a flood of huge refused messages costs little; the net runs only
        # for admitted messages, for the same reason
        limit = getattr(getattr(self.assistant, "settings", None), "max_message_chars", 4000)
        try:
            triage: Triage = self.assistant.engine.triage(message[: limit * 2], _history(turns))
            return triage
        except Exception:  # noqa: BLE001 - a triage fault must not stop the reply that follows
            log.exception("triage before the rate limit failed")
            return Triage()

    def _over_limit(self, triage: Triage) -> Reply:
        p = self.policy
        busy = self._busy()
        answer = busy
        if triage.level in (Level.emergency, Level.urgent):
            crisis = any(f.id == "self_harm" for f in triage.flags)
            lead = p.text(p.file.crisis) if crisis else p.referral(triage.level)
            answer = f"{lead}\n\n{busy}"
        lead = answer[: -len(busy)].strip()
        return Reply(
            triage=triage,
            answer=answer,
            lead=lead,
            notes=[busy],
            disclaimer=p.text(p.file.disclaimer),
            refused=True,
            refusal_reason="rate_limit",
        )

    def _over_limit_html(self, reply: Reply) -> str:
        if reply.triage.level in (Level.emergency, Level.urgent):
            return reply_html(reply, self.kb)
        return notice_html(reply.answer, "warn")

    # -- page load
    def on_load(self) -> tuple[str, Any]:
        now = _now(self.clinic)
        return header_html(self.clinic, now), gr.Chatbot(placeholder=greeting_html(self.clinic, now))

    # -- the chat in the page
    def respond(
        self,
        message: str,
        display: list[dict[str, Any]],
        turns: list[dict[str, str]],
        turn_ids: dict[int, int],
        conv_id: str | None,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        message = message or ""
        if not message.strip():
            yield gr.skip(), gr.skip(), display, turns, turn_ids, conv_id
            return
        conv_id = conv_id or uuid.uuid4().hex
        display = [*display, {"role": "user", "content": user_message_html(message)}]
        refused = self._admit(message, turns, request)
        if refused is not None:
            display.append({"role": "assistant", "content": self._over_limit_html(refused)})
            yield "", display, display, turns, turn_ids, conv_id
            return
        display.append(
            {
                "role": "assistant",
                "content": '<div class="pa-reply pa-typing" aria-label="Writing an answer"><span></span><span></span><span></span></div>',
            }
        )
        yield "", display, display, turns, turn_ids, conv_id
        try:
            reply = self._ask(message, turns, conv_id, request)
        except Exception:  # noqa: BLE001 - the visitor gets a way forward, the log gets the details
            log.exception("chat reply failed")
            display[-1] = {"role": "assistant", "content": notice_html(self._failed(), "error")}
            yield "", display, display, turns, turn_ids, conv_id
            return
        words = len(answer_markdown(reply).split(" "))
        for k in streaming.frames(words):
            display[-1] = {"role": "assistant", "content": reply_html(reply, self.kb, partial_words=k)}
            # only the chatbot changes while the answer streams: gradio stores and hashes every state
            # output of every frame, so the states are set once, with the whole answer, below
            yield gr.skip(), display, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            time.sleep(_STREAM_PAUSE)
        display[-1] = {"role": "assistant", "content": reply_html(reply, self.kb)}
        turns = [*turns, {"role": "user", "content": message}, {"role": "assistant", "content": reply.answer}][-20:]
        if reply.turn_id is not None:
            turn_ids = {**turn_ids, len(display) - 1: reply.turn_id}
        yield gr.skip(), display, display, turns, turn_ids, conv_id

    def example(self, evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value)

    def new_conversation(self) -> tuple[Any, ...]:
        return [], [], [], {}, None

    def like(self, turn_ids: dict[int, int], evt: gr.LikeData) -> None:
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        turn_id = (turn_ids or {}).get(index) or (turn_ids or {}).get(str(index))  # type: ignore[call-overload]
        liked = evt.liked
        if turn_id is None or not isinstance(liked, (bool, str)) or liked == "":
            return
        try:
            self.assistant.records.add_feedback(int(turn_id), liked is True or liked == "Like")
        except Exception as exc:  # noqa: BLE001 - feedback is a nicety; never break the chat
            log.warning("feedback not stored: %s", type(exc).__name__)
            return
        gr.Info("Thank you for your feedback.")

    # -- the API (gradio_client)
    def chat_api(
        self, message: str, turns: list[dict[str, str]], conv_id: str | None, request: gr.Request
    ) -> tuple[Any, ...]:
        """`/chat`: the answer text, in one message; the conversation continues for this client session.

        Not streamed: the answer is whole before its first word could be sent, so word-by-word
        frames gave a program nothing but cost the server a queue message and a state update each
        (up to 13 a call). The page in the browser still streams (`respond`).
        """
        conv_id = conv_id or uuid.uuid4().hex
        refused = self._admit(message or "", turns, request)
        if refused is not None:
            return refused.answer, turns, conv_id
        try:
            reply = self._ask(message or "", turns or [], conv_id, request)
        except Exception:  # noqa: BLE001
            log.exception("chat API reply failed")
            return self._failed(), turns, conv_id
        turns = [
            *(turns or []),
            {"role": "user", "content": message or ""},
            {"role": "assistant", "content": reply.answer},
        ][-20:]
        return reply.answer, turns, conv_id

    def reply_api(
        self, message: str, turns: list[dict[str, str]], conv_id: str | None, request: gr.Request
    ) -> tuple[Any, ...]:
        """`/reply`: the whole Contract 1 object for the message."""
        conv_id = conv_id or uuid.uuid4().hex
        refused = self._admit(message or "", turns, request)
        if refused is not None:
            return {**refused.contract(), "error": self._busy()}, turns, conv_id
        reply = self._ask(message or "", turns or [], conv_id, request)
        turns = [
            *(turns or []),
            {"role": "user", "content": message or ""},
            {"role": "assistant", "content": reply.answer},
        ][-20:]
        return reply.contract(), turns, conv_id

    # -- call-back requests
    def callback(
        self, name: str, contact: str, when: str, note: str, consent: bool, request: gr.Request
    ) -> tuple[Any, ...]:
        c = self.clinic
        keep = (gr.skip(),) * 5

        def fail(text: str) -> tuple[Any, ...]:
            return (f'<div class="pa-form-msg pa-form-msg--error" role="alert">{e(text)}</div>', *keep)

        if consent is not True:
            return fail(
                "Please tick the box to agree that we may store your details and contact you. "
                f"Nothing was stored. You can also call us on {c.phone}."
            )
        if not (name or "").strip():
            return fail("Please tell us your name, so the team knows who to ask for.")
        if not _CONTACT.match((contact or "").strip()):
            return fail("Please give a phone number or an email address we can reach you on.")
        if not self.limiter.allow(_address(request), "callback:" + _session(request)):
            return fail(f"Too many requests from this device just now. Please call us on {c.phone} instead.")
        try:
            ref = self.assistant.records.add_callback(name, contact, when or "", True, note or None)
        except ValueError as exc:
            return fail(f"{exc} Nothing was stored.")
        except Exception:  # noqa: BLE001 - tell the visitor what to do instead
            log.exception("call-back request not stored")
            return fail(
                f"Sorry, we could not save your request. Please call us on {c.phone} "
                f"or email {c.email} instead. In an emergency, call {c.emergency.number}."
            )
        now = _now(c)
        status = open_status(c, now)
        if status.open_now:
            when_text = "during today's opening hours"
        elif status.next_open:
            when_text = f"after the clinic opens {_day(status.next_open, now)} at {status.next_open:%H:%M}"
        else:
            when_text = "as soon as possible"
        message = (
            f'<div class="pa-form-msg pa-form-msg--ok" role="status"><strong>Thank you, {e(name.strip())}. Your request was received</strong> '
            f"(reference {ref}). The team will contact you {e(when_text)}. If things get worse before then, call {e(c.phone)}; "
            f"in an emergency call {e(c.emergency.number)}.</div>"
        )
        return message, "", "", "", "", False


def build_chat(assistant: Any, settings: Any, limiter: ChatLimiter) -> gr.Blocks:
    """The patient page. Mount it with `css=chat.css` and the theme from `server.py`."""
    page = ChatPage(assistant, limiter)
    clinic = page.clinic
    now = _now(clinic)
    disclaimer = page.policy.text(page.policy.file.disclaimer)
    with gr.Blocks(title=f"{clinic.short_name}: help with sciatica and back pain", elem_id="pa-app") as demo:
        header = gr.HTML(header_html(clinic, now), elem_id="pa-header-block", padding=False)
        display = gr.State([])
        turns = gr.State([])
        turn_ids = gr.State({})
        conv_id = gr.State(None)
        chatbot = gr.Chatbot(
            label="Conversation",
            show_label=False,
            elem_id="pa-chat",
            height="62vh",
            min_height=420,
            placeholder=greeting_html(clinic, now),
            examples=[{"text": q} for q in EXAMPLES],
            buttons=["copy"],
            feedback_options=("Like", "Dislike"),
            sanitize_html=True,
            allow_tags=False,
            latex_delimiters=[],
            group_consecutive_messages=False,
            layout="bubble",
            autoscroll=False,  # chat.js keeps the question in view while the answer streams in
        )
        with gr.Group(elem_id="pa-ask"):
            box = gr.Textbox(
                label="Your question",
                placeholder="Type your question about sciatica or back pain",
                lines=1,
                max_lines=6,
                submit_btn="Send",
                elem_id="pa-question",
            )
            # no max_length on the box: a browser would cut a long paste silently. chat.js counts,
            # and says plainly when a message is longer than the assistant reads (it is still triaged)
            gr.HTML(
                f'<p id="pa-count" class="pa-count" aria-live="polite" data-limit="{settings.max_message_chars}" '
                f'data-emergency="{e(clinic.emergency.number)}"></p>',
                elem_id="pa-count-wrap",
            )
        with gr.Row(elem_id="pa-tools"):
            new = gr.Button("Start a new conversation", variant="secondary", size="sm", elem_id="pa-new")
        with gr.Accordion("Would you like the clinic to call you back?", open=False, elem_id="pa-callback"):
            gr.HTML(
                '<p class="pa-form-intro">Leave your details and a member of the team will contact you during opening '
                f"hours. This is not for emergencies: if you need help now, call {e(clinic.emergency.number)}.</p>",
                padding=False,
            )
            with gr.Row():
                name = gr.Textbox(
                    label="Your name",
                    max_length=120,
                    min_width=240,
                    elem_id="pa-cb-name",
                    html_attributes=gr.InputHTMLAttributes(autocomplete="name"),
                )
                contact = gr.Textbox(
                    label="Phone number or email",
                    max_length=120,
                    min_width=240,
                    elem_id="pa-cb-contact",
                    html_attributes=gr.InputHTMLAttributes(autocomplete="tel"),
                )
            with gr.Row():
                when = gr.Textbox(
                    label="When is a good time? (optional)",
                    placeholder="For example: weekday mornings",
                    max_length=120,
                    min_width=240,
                    elem_id="pa-cb-when",
                )
                note = gr.Textbox(
                    label="What would you like to talk about? (optional)",
                    max_length=500,
                    min_width=240,
                    elem_id="pa-cb-note",
                )
            consent = gr.Checkbox(
                label=f"I agree that {clinic.name} may store these details and contact me about this request.",
                elem_id="pa-cb-consent",
            )
            send_cb = gr.Button("Send my call-back request", variant="primary", elem_id="pa-cb-send")
            cb_status = gr.HTML("", elem_id="pa-cb-status", padding=False)
        gr.HTML(footer_html(clinic, disclaimer), elem_id="pa-footer-block", padding=False)

        # hidden parts of the API (gradio_client): the states keep one conversation per client session
        with gr.Column(visible=False):
            api_message = gr.Textbox(label="message")
            api_answer = gr.Textbox(label="answer")
            api_reply = gr.JSON(label="reply")
            api_trigger = gr.Button("api")
        api_turns = gr.State([])
        api_conv = gr.State(None)

        chat_outputs = [box, chatbot, display, turns, turn_ids, conv_id]
        chat_inputs = [box, display, turns, turn_ids, conv_id]
        quiet: dict[str, Any] = {"api_visibility": "undocumented", "show_progress": "hidden"}
        box.submit(page.respond, chat_inputs, chat_outputs, concurrency_id="chat", concurrency_limit=4, **quiet)
        chatbot.example_select(page.example, None, box, queue=False, **quiet).then(
            page.respond, chat_inputs, chat_outputs, concurrency_id="chat", **quiet
        )
        chatbot.like(page.like, [turn_ids], None, api_visibility="undocumented")
        for start_again in (new.click, chatbot.clear):  # the button and the chatbot's own clear icon
            start_again(
                page.new_conversation,
                None,
                [chatbot, display, turns, turn_ids, conv_id],
                api_visibility="undocumented",
                queue=False,
            )
        send_cb.click(
            page.callback,
            [name, contact, when, note, consent],
            [cb_status, name, contact, when, note, consent],
            api_name="callback",
        )
        api_trigger.click(
            page.chat_api,
            [api_message, api_turns, api_conv],
            [api_answer, api_turns, api_conv],
            api_name="chat",
            concurrency_id="chat",
        )
        api_trigger.click(
            page.reply_api,
            [api_message, api_turns, api_conv],
            [api_reply, api_turns, api_conv],
            api_name="reply",
            concurrency_id="chat",
        )
        demo.load(page.on_load, None, [header, chatbot], queue=False, **quiet)
    # the page hides queue progress (show_progress="hidden"), so waiting visitors are told their place
    # every STATUS_SECONDS rather than on every start of a job ("auto"): under load "auto" sent every
    # waiting visitor a message each time any job started, which grew as the square of the queue
    demo.queue(default_concurrency_limit=4, status_update_rate=STATUS_SECONDS)
    blocks: gr.Blocks = demo
    return blocks
