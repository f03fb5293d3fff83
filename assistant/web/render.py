r"""Reply -> HTML for the chat: safety banner first, the answer, exercise cards, citations, disclaimer.

Everything that reaches the page is escaped here: patient and clinician text is never live HTML.
The assistant's Markdown is rendered with raw HTML switched off, so even a stray tag shows as text.

>>> user_message_html("<script>alert(1)</script> *hi* ![x](http://e/x.png)")
'&lt;script&gt;alert(1)&lt;/script&gt; \\*hi\\* \\!\\[x\\](http://e/x.png)'
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from markdown_it import MarkdownIt

from assistant.content import Clinic, ExerciseCard, KnowledgeBase
from assistant.models import Level, Reply

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_BARE_URL = re.compile(r"(?<![<(\[])\bhttps?://[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"]")
_LINK = re.compile(r"<a href=")
_MD_INLINE = re.compile(r"([\\`*_\[\]~|!])")
_MD_LINE_START = re.compile(r"^(\s*\d*)([#+\-.)])", re.M)

CATEGORY_LABELS = {
    "strengthening": "Strengthening",
    "stretching": "Stretching",
    "aerobic": "Gentle activity",
    "nerve_mobility": "Nerve glide",
    "mobility": "Mobility",
}

# One simple line drawing per category (decorative: hidden from screen readers).
_FIGURES = {
    "aerobic": '<circle cx="30" cy="9" r="4.5"/><path d="M30 14 28 29M29 17l-7 8M29 17l8 6M28 29l-7 13M28 29l8 12M8 44h48"/>',
    "strengthening": '<circle cx="9" cy="36" r="4.5"/><path d="M14 38 33 26l10 7 3 11M15 40l12 3M6 44h52"/>',
    "stretching": '<circle cx="9" cy="38" r="4.5"/><path d="M14 40h22l20 0M36 40 46 13M19 39l22-17M6 44h52"/>',
    "nerve_mobility": '<circle cx="20" cy="8" r="4.5"/><path d="M20 13l2 16h14l15-6M12 44V30h14M26 30v14M20 17l8 9"/>'
    '<path d="M24 33q4-3 8 0t8 0 8-2" stroke-dasharray="2 3"/>',
    "mobility": '<circle cx="51" cy="24" r="4.5"/><path d="M14 26Q30 14 45 25M45 25v19M14 26v18H5M6 44h52"/>',
}


def _svg(category: str) -> str:
    shape = _FIGURES.get(category, _FIGURES["mobility"])
    return (
        '<svg class="pa-figure" viewBox="0 0 64 48" width="64" height="48" aria-hidden="true" focusable="false" '
        'fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round">'
        f"{shape}</svg>"
    )


def e(text: object) -> str:
    """Escape text for HTML content and attributes."""
    return html.escape(str(text), quote=True)


def markdown_html(text: str) -> str:
    """The assistant's Markdown as HTML, raw HTML disabled, links opening in a new tab."""
    text = _BARE_URL.sub(lambda m: f"<{m.group(0)}>", text)
    out = _MD.render(text)
    out = _LINK.sub('<a target="_blank" rel="noopener noreferrer" href=', out)
    return _one_line(out)


def _one_line(fragment: str) -> str:
    # the chatbot runs Markdown over messages: a blank line would end an HTML block early
    return re.sub(r"\n\s*", " ", fragment).strip()


def user_message_html(text: str) -> str:
    """A visitor's own words for the chat: HTML escaped, and Markdown's link, image and emphasis marks neutralised."""
    escaped = html.escape(text.strip(), quote=False)
    escaped = _MD_INLINE.sub(r"\\\1", escaped)
    return _MD_LINE_START.sub(r"\1\\\2", escaped)


def tel(number: str) -> str:
    return "tel:" + re.sub(r"[^\d+]", "", number)


# ---- the pieces -------------------------------------------------------------------------------


def banner_html(reply: Reply, clinic: Clinic, lead: str) -> str:
    """The red (emergency) or amber (urgent) box at the top of a reply, with the number to call."""
    level = reply.triage.level
    if level not in (Level.emergency, Level.urgent):
        return ""
    crisis = any(f.id == "self_harm" for f in reply.triage.flags)
    if level == Level.emergency:
        kind = "emergency"
        title = "Help is available now" if crisis else "Medical emergency"
        calls = [(f"Call {clinic.emergency.number}", clinic.emergency.number)]
        if crisis:
            calls.append((f"{clinic.crisis.name}: {clinic.crisis.number}", clinic.crisis.number))
        text = lead or (clinic.emergency.instruction if not crisis else clinic.crisis.instruction)
    else:
        kind = "urgent"
        title = "Please get medical advice today"
        calls = [(f"Call {clinic.urgent.name} on {clinic.urgent.number}", clinic.urgent.number)]
        text = lead or clinic.urgent.instruction
    title, text = _title_from_lead(text, title)
    buttons = "".join(
        f'<a class="pa-call pa-call--{kind if i == 0 else "alt"}" href="{e(tel(number))}">{e(label)}</a>'
        for i, (label, number) in enumerate(calls)
    )
    icon = '<span class="pa-banner__icon" aria-hidden="true">!</span>'
    return (
        f'<div class="pa-banner pa-banner--{kind}" role="alert">{icon}<div class="pa-banner__body">'
        f'<p class="pa-banner__title">{e(title)}</p><div class="pa-banner__text">{markdown_html(text)}</div>'
        f'<div class="pa-banner__calls">{buttons}</div></div></div>'
    )


def _title_from_lead(text: str, fallback: str) -> tuple[str, str]:
    """'**This could be an emergency. Call 999 now.** Do not wait' -> ('This could be an emergency', '**Call 999 now.** Do not wait')."""
    m = re.match(r"\*\*([^*.!]{6,80})[.!]\s*([^*]*)\*\*\s*(.*)", text, re.S)
    if not m:
        return fallback, text
    rest = (f"**{m.group(2).strip()}** " if m.group(2).strip() else "") + m.group(3)
    return m.group(1).strip(), rest.strip()


def card_html(card: ExerciseCard) -> str:
    """One exercise card: illustration, name, category, steps, how much, take care, stop if."""
    steps = "".join(f"<li>{e(s)}</li>" for s in card.steps)
    stop = "".join(f"<li>{e(s)}</li>" for s in card.stop_if)
    cautions = ""
    if card.cautions:
        cautions = (
            '<div class="pa-card__care"><p class="pa-card__label">Take care</p><ul>'
            + "".join(f"<li>{e(c)}</li>" for c in card.cautions)
            + "</ul></div>"
        )
    label = CATEGORY_LABELS.get(card.category, card.category.replace("_", " ").capitalize())
    return (
        f'<article class="pa-card pa-card--{e(card.category)}" aria-label="{e(card.name)}">'
        f'<div class="pa-card__head">{_svg(card.category)}<div>'
        f'<p class="pa-card__name">{e(card.name)}</p><span class="pa-card__cat">{e(label)}</span></div></div>'
        f'<p class="pa-card__summary">{e(card.summary)}</p>'
        f'<p class="pa-card__label">How to do it</p><ol class="pa-card__steps">{steps}</ol>'
        f'<p class="pa-card__dose"><strong>How much:</strong> {e(card.dosage.text)}</p>'
        f"{cautions}"
        f'<div class="pa-card__stop"><p class="pa-card__label">Stop and get advice if</p><ul>{stop}</ul></div>'
        "</article>"
    )


def sources_html(reply: Reply, kb: KnowledgeBase) -> str:
    """Citations as expandable items: title, whether our physios have checked it, and a short summary."""
    if not reply.sources:
        return ""
    items = []
    for s in reply.sources:
        if s.kind == "approved" or s.status == "approved":
            badge = '<span class="pa-badge pa-badge--ok">Checked by our physiotherapists</span>'
        else:
            badge = '<span class="pa-badge pa-badge--draft">Not yet checked by our physiotherapists</span>'
        summary = ""
        whole = ""
        if s.id in kb.articles:
            summary = kb.articles[s.id].summary
            whole = f'<details class="pa-article"><summary>Read the whole article</summary>{markdown_html(kb.articles[s.id].body)}</details>'
        elif s.id in kb.cards:
            summary = kb.cards[s.id].summary
        elif s.kind == "approved":
            summary = "A physiotherapist at the clinic reviewed this question and wrote this answer."
        kind = {"exercise": "Exercise", "approved": "Clinic answer"}.get(s.kind, "Article")
        items.append(
            f'<details class="pa-source"><summary><span class="pa-source__title">{e(s.title)}</span>{badge}</summary>'
            f'<p class="pa-source__meta">{e(kind)}{" · " + e(s.section) if s.section else ""}</p><p>{e(summary)}</p>{whole}</details>'
        )
    return f'<div class="pa-sources"><p class="pa-sources__label">Sources ({len(items)})</p>{"".join(items)}</div>'


def answer_markdown(reply: Reply) -> str:
    """What the answer area shows first: notes (screening question, clinic details), then the quoted sections."""
    parts = [n for n in reply.notes if n]
    parts += [f"**{s.heading}**\n\n{s.text}" for s in reply.sections]
    parts += reply.check
    return "\n\n".join(parts)


def suggestions_html(reply: Reply) -> str:
    """'Did you mean...?' as buttons: chat.js sends a chip's message when it is chosen."""
    if not reply.suggestions:
        return ""
    chips = "".join(
        f'<button type="button" class="pa-chip" data-ask="{e(s.message)}" title="{e(s.article)}">{e(s.title)}</button>'
        for s in reply.suggestions
    )
    return f'<div class="pa-suggest" role="group" aria-label="Did you mean"><p class="pa-suggest__label">Did you mean...?</p>{chips}</div>'


def _details(label: str, inner: str, *, open_: bool = False, kind: str = "") -> str:
    return f'<details class="pa-more pa-more--{e(kind)}"{" open" if open_ else ""}><summary>{e(label)}</summary>{inner}</details>'


def reply_html(
    reply: Reply,
    kb: KnowledgeBase,
    *,
    cards: Mapping[str, ExerciseCard] | None = None,
    partial_words: int | None = None,
) -> str:
    """The whole assistant message, built from the structured reply (nothing parses `reply.answer`).

    A phone shows the banner and the answer first; exercises, when to get help and sources follow
    as collapsed details. With `partial_words`, only that many words of the answer (streaming)."""
    level = reply.triage.level.value
    out = [f'<div class="pa-reply pa-reply--{e(level)}">', banner_html(reply, kb.clinic, reply.lead)]
    body = answer_markdown(reply)
    if partial_words is not None:
        words = body.split(" ")
        if partial_words < len(words):
            out.append(f'<div class="pa-answer">{markdown_html(" ".join(words[:partial_words]))}</div></div>')
            return "".join(out)
    if any(s.kind == "approved" for s in reply.sources):
        out.append('<p class="pa-checked">&#10003; Answer written by one of our physiotherapists</p>')
    if body:
        out.append(f'<div class="pa-answer">{markdown_html(body)}</div>')
    out.append(suggestions_html(reply))
    if reply.exercises and reply.triage.level not in (Level.emergency, Level.urgent):
        deck = cards if cards is not None else kb.cards
        chosen = [deck[x.id] for x in reply.exercises if x.id in deck]
        if chosen:
            inner = '<div class="pa-cards">' + "".join(card_html(c) for c in chosen) + "</div>"
            if reply.plan_note:
                inner += f'<div class="pa-plan__note">{markdown_html(reply.plan_note)}</div>'
            label = f"Exercises you can try ({len(chosen)})"
            out.append(
                f'<section class="pa-plan" aria-label="Exercises you can try">{_details(label, inner, open_=reply.intent == "exercises", kind="plan")}</section>'
            )
    if reply.help:
        out.append(_details("When to get help", f'<div class="pa-help">{markdown_html(reply.help)}</div>', kind="help"))
    out.append(sources_html(reply, kb))
    out.append(f'<p class="pa-disclaimer">{e(reply.disclaimer)}</p></div>')
    return "".join(out)


def notice_html(text: str, kind: str = "info") -> str:
    """A short system message in the chat (rate limit, error), escaped."""
    return f'<div class="pa-reply pa-notice pa-notice--{e(kind)}"><p>{e(text)}</p></div>'
