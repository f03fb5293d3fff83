"""The clinician review page (`/review`): conversations, corrections, articles, call-backs, export.

The server lets nobody reach this app without a signed-in session (see `server.py`); each handler
checks the signed-in user again, and records it as the reviewer.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

import gradio as gr

from assistant.records.errors import RecordsError
from assistant.web.render import e, markdown_html

log = logging.getLogger("physio.web.review")

LEVELS = [
    ("All levels", "all"),
    ("Emergency", "emergency"),
    ("Urgent", "urgent"),
    ("Routine", "routine"),
    ("Self-care", "self_care"),
]
REVIEWED = [("All", "all"), ("Not yet reviewed", "no"), ("Reviewed", "yes")]
TURN_HEADERS = ["#", "When", "Level", "Question", "Flags", "Sources", "Rating", "Review"]
ARTICLE_HEADERS = ["Article", "Title", "Status", "Flags for update"]
CALLBACK_HEADERS = ["Ref", "Received", "Name", "Contact", "Preferred time", "About", "Status"]


def _user(request: gr.Request | None) -> str:
    """The signed-in clinician; the server gate already refused anyone else, this is a second check."""
    user = getattr(request, "username", None)
    if not user:
        raise gr.Error("Your session has ended. Please reload the page and sign in again.")
    return str(user)


def _day(text: str, field: str, tz: ZoneInfo) -> dt.datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=tz)
    except ValueError:
        raise gr.Error(f"{field}: please write the date as YYYY-MM-DD, for example 2025-01-31.") from None


def _ok(text: str) -> str:
    return f'<div class="rv-msg rv-msg--ok" role="status">{e(text)}</div>'


def _err(text: str) -> str:
    return f'<div class="rv-msg rv-msg--error" role="alert">{e(text)}</div>'


class ReviewPage:
    def __init__(self, assistant: Any):
        self.assistant = assistant
        self.records = assistant.records
        self.kb = assistant.kb
        self.tz = ZoneInfo(assistant.kb.clinic.timezone)

    def _when(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return f"{moment.astimezone(self.tz):%Y-%m-%d %H:%M}"

    def _article_title(self, article_id: str) -> str:
        a = self.kb.articles.get(article_id) or self.kb.cards.get(article_id)
        return a.title if a is not None and hasattr(a, "title") else (a.name if a is not None else article_id)

    # ---- conversations ---------------------------------------------------------------------
    def list_turns(
        self, level: str, since: str, until: str, reviewed: str, current: Any, request: gr.Request
    ) -> tuple[Any, ...]:
        _user(request)
        start = _day(since, "From", self.tz)
        end = _day(until, "To", self.tz)
        rows = self.records.list_turns(
            level=None if level in (None, "all") else level,
            since=start,
            until=end + dt.timedelta(days=1) if end else None,
            reviewed=None if reviewed in (None, "all") else reviewed == "yes",
            limit=200,
        )
        table = []
        for r in rows:
            question = r["user_message"] or ""
            table.append(
                [
                    r["id"],
                    self._when(r["created"]),
                    (r["level"] or "").replace("_", "-"),
                    question if len(question) <= 140 else question[:137] + "...",
                    ", ".join(str(f.get("id", "")) for f in r["flags"] or [] if isinstance(f, dict)),
                    "; ".join(str(s.get("title", "")) for s in r["sources"] or [] if isinstance(s, dict)),
                    f"+{r['liked']} / -{r['disliked']}" if r["liked"] or r["disliked"] else "",
                    f"{r['review_status']} by {r['reviewer']}" if r["review_status"] else "not reviewed",
                ]
            )
        choices = [
            (f"#{r['id']} · {(r['level'] or '').replace('_', '-')} · {(r['user_message'] or '')[:60]}", r["id"])
            for r in rows
        ]
        note = f"{len(rows)} answer{'s' if len(rows) != 1 else ''}, newest first" + (
            " (showing the latest 200)" if len(rows) == 200 else ""
        )
        keep = current if current in {r["id"] for r in rows} else None
        return (
            gr.Dataframe(value=table, headers=TURN_HEADERS),
            gr.Dropdown(choices=choices, value=keep),
            note,
            {r["id"]: r for r in rows},
        )

    def pick_row(self, table: Any, evt: gr.SelectData) -> Any:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        try:
            values = table.values.tolist() if hasattr(table, "values") else table
            return int(values[row][0])
        except (IndexError, TypeError, ValueError):
            return gr.skip()

    def show_turn(self, turn_id: Any, rows: dict[int, dict[str, Any]], request: gr.Request) -> tuple[Any, ...]:
        _user(request)
        if turn_id in (None, ""):
            return (
                '<p class="rv-empty">Choose an answer in the table or the list above to review it.</p>',
                "",
                gr.Dropdown(),
            )
        row = (rows or {}).get(int(turn_id))
        if row is None:
            return (
                _err(f"Answer #{turn_id} is not in the list any more; press 'Show answers' to reload it."),
                "",
                gr.Dropdown(),
            )
        level = row["level"] or "self_care"
        flags = (
            "".join(
                f"<li><strong>{e(f.get('id', ''))}</strong>: {e(f.get('evidence', ''))}</li>"
                for f in row["flags"] or []
                if isinstance(f, dict)
            )
            or "<li>none</li>"
        )
        sources = (
            "".join(
                f'<li>{e(s.get("title", ""))} <span class="rv-muted">({e(s.get("id", ""))}, score '
                f"{e(s.get('score', ''))}, {e(s.get('status', ''))})</span></li>"
                for s in row["sources"] or []
                if isinstance(s, dict)
            )
            or "<li>none</li>"
        )
        comments = "".join(f"<li>{e(c)}</li>" for c in row["comments"])
        review = (
            f"{e(row['review_status'])} by {e(row['reviewer'])} on {e(self._when(row['reviewed_at']))}"
            if row["review_status"]
            else "Not reviewed yet"
        )
        corrected = ""
        if row["corrected_answer"]:
            corrected = (
                f'<h4>Corrected answer in use</h4><div class="rv-answer">{markdown_html(row["corrected_answer"])}</div>'
            )
        detail = (
            '<div class="rv-detail"><p class="rv-meta"><span class="rv-level '
            f'rv-level--{e(level)}">{e(level.replace("_", "-"))}</span> '
            f"Answer #{row['id']} · conversation {e(str(row['conversation_id'])[:8])} · "
            f"{e(self._when(row['created']))} · {e(row['latency_ms'])} ms</p>"
            "<h4>Question (personal details removed)</h4><blockquote "
            f'class="rv-question">{e(row["user_message"])}</blockquote>'
            f'<h4>Answer given</h4><div class="rv-answer">{markdown_html(row["answer"] or "")}</div>'
            f"<h4>Triage flags</h4><ul>{flags}</ul><h4>Sources</h4><ul>{sources}</ul>"
            f"<h4>Patient feedback</h4><p>Helpful: {row['liked']} · Not helpful: "
            f"{row['disliked']}</p>{f'<ul>{comments}</ul>' if comments else ''}"
            f"<h4>Review</h4><p>{review}</p>{corrected}</div>"
        )
        article_ids = [
            s.get("id") for s in row["sources"] or [] if isinstance(s, dict) and s.get("id") in self.kb.articles
        ]
        others = [a for a in sorted(self.kb.articles) if a not in article_ids]
        choices = [(f"{self._article_title(a)} ({a})", a) for a in [*article_ids, *others]]
        return (
            detail,
            row["corrected_answer"] or "",
            gr.Dropdown(choices=choices, value=article_ids[0] if article_ids else None),
        )

    def approve(self, turn_id: Any, request: gr.Request) -> str:
        user = _user(request)
        if turn_id in (None, ""):
            return _err("Choose an answer first.")
        try:
            self.records.approve_turn(int(turn_id), user)
        except (RecordsError, ValueError) as exc:
            return _err(str(exc))
        self.assistant.refresh_approved()
        return _ok(f"Answer #{turn_id} approved. Thank you.")

    def correct(self, turn_id: Any, text: str, request: gr.Request) -> str:
        user = _user(request)
        if turn_id in (None, ""):
            return _err("Choose an answer first.")
        if not (text or "").strip():
            return _err("Write the better answer in the box first.")
        try:
            self.records.correct_turn(int(turn_id), user, text)
        except (RecordsError, ValueError) as exc:
            return _err(str(exc))
        self.assistant.refresh_approved()
        return _ok(
            f"Correction saved for answer #{turn_id}. From now on, the same or a very similar question gets your "
            "answer."
        )

    def flag(self, article_id: str, note: str, request: gr.Request) -> str:
        user = _user(request)
        if not article_id:
            return _err("Choose the article that needs updating.")
        if not (note or "").strip():
            return _err("Say briefly what needs to change, so whoever edits the article knows.")
        try:
            self.records.flag_article(article_id, user, note)
        except (RecordsError, ValueError) as exc:
            return _err(str(exc))
        return _ok(f"Article '{self._article_title(article_id)}' flagged for update.")

    # ---- knowledge articles ----------------------------------------------------------------
    def list_articles(self, request: gr.Request) -> tuple[Any, ...]:
        _user(request)
        overlay = self.records.article_statuses()
        table = []
        for aid, article in sorted(self.kb.articles.items()):
            o = overlay.get(aid, {})
            status = o.get("status") or article.review.status
            flags = o.get("flags") or []
            latest = f" (latest: {flags[-1]['note'][:80]})" if flags else ""
            table.append(
                [
                    aid,
                    article.title,
                    "approved" if status == "approved" else "draft (not yet checked)",
                    f"{len(flags)}{latest}" if flags else "",
                ]
            )
        choices = [(f"{a.title} ({aid})", aid) for aid, a in sorted(self.kb.articles.items())]
        return gr.Dataframe(value=table, headers=ARTICLE_HEADERS), gr.Dropdown(choices=choices)

    def show_article(self, article_id: str, request: gr.Request) -> str:
        _user(request)
        article = self.kb.articles.get(article_id or "")
        if article is None:
            return '<p class="rv-empty">Choose an article to read it before approving.</p>'
        o = self.records.article_statuses().get(article.id, {})
        status = o.get("status") or article.review.status
        flags = "".join(
            f'<li>{e(f["note"])} <span class="rv-muted">({e(f["reviewer"])}, {e(self._when(f["created"]))})</span></li>'
            for f in o.get("flags") or []
        )
        return (
            '<div class="rv-detail"><p class="rv-meta"><span class="rv-status '
            f'rv-status--{e(status)}">{e(status)}</span> {e(article.id)}</p>'
            f"<h4>{e(article.title)}</h4><p><em>{e(article.summary)}</em></p><div "
            f'class="rv-answer">{markdown_html(article.body)}</div>'
            f'<p class="rv-muted">Sources: {e("; ".join(article.sources))}</p>'
            + (f"<h4>Flags for update</h4><ul>{flags}</ul>" if flags else "")
            + "</div>"
        )

    def approve_article(self, article_id: str, request: gr.Request) -> str:
        return self.set_status(article_id, "approved", request)

    def draft_article(self, article_id: str, request: gr.Request) -> str:
        return self.set_status(article_id, "draft", request)

    def set_status(self, article_id: str, status: str, request: gr.Request) -> str:
        user = _user(request)
        if not article_id:
            return _err("Choose an article first.")
        try:
            self.records.set_article_status(article_id, status, user)
        except (RecordsError, ValueError) as exc:
            return _err(str(exc))
        self.assistant.refresh_approved()
        word = (
            "approved: patients no longer see the 'not yet checked' label for it"
            if status == "approved"
            else "returned to draft"
        )
        return _ok(f"'{self._article_title(article_id)}' {word}.")

    # ---- call-backs --------------------------------------------------------------------------
    def list_callbacks(self, show_done: bool, request: gr.Request) -> tuple[Any, ...]:
        _user(request)
        rows = self.records.list_callbacks(None if show_done else "open")
        table = [
            [
                r["id"],
                self._when(r["created"]),
                r["name"],
                r["contact"],
                r["preferred_time"] or "",
                r["note"] or "",
                r["status"],
            ]
            for r in rows
        ]
        choices = [(f"#{r['id']} · {r['name']} · {r['contact']}", r["id"]) for r in rows if r["status"] == "open"]
        return gr.Dataframe(value=table, headers=CALLBACK_HEADERS), gr.Dropdown(choices=choices, value=None)

    def callback_done(self, callback_id: Any, request: gr.Request) -> str:
        _user(request)
        if callback_id in (None, ""):
            return _err("Choose a call-back request first.")
        try:
            self.records.mark_callback_done(int(callback_id))
        except (RecordsError, ValueError) as exc:
            return _err(str(exc))
        return _ok(f"Call-back #{callback_id} marked as done.")

    def export_summary(self, request: gr.Request) -> str:
        _user(request)
        count = len(self.records.export_reviews())
        return (
            f'<div class="rv-export"><p>{count} reviewed answer{"s" if count != 1 else ""} ready to export. Each '
            "line holds the question "
            "(personal details removed), the expected answer (the correction, or the approved answer), the verdict, "
            "the triage level and the reviewer, in the format the regression eval reads.</p>"
            '<p><a class="rv-download" href="export.jsonl" download>Download reviewed cases (JSONL)</a></p></div>'
        )


def build_review(assistant: Any, settings: Any) -> gr.Blocks:
    """The review app; mount it only behind the server's login gate."""
    page = ReviewPage(assistant)
    clinic = assistant.kb.clinic
    demo: gr.Blocks
    with gr.Blocks(title=f"{clinic.short_name}: clinician review", elem_id="rv-app") as demo:
        gr.HTML(
            '<header class="rv-header"><div><h1>Clinician review</h1>'
            f"<p>{e(clinic.name)}: check what the assistant told patients, correct it, and keep the knowledge base "
            "up to date.</p></div>"
            '<a class="rv-signout" href="logout">Sign out</a></header>',
            padding=False,
        )
        with gr.Tabs():
            with gr.Tab("Conversations", id="conversations"):
                with gr.Row(equal_height=False, elem_id="rv-filters"):
                    level = gr.Dropdown(LEVELS, value="all", label="Triage level", elem_id="rv-level")
                    reviewed = gr.Dropdown(REVIEWED, value="all", label="Review status", elem_id="rv-reviewed")
                    since = gr.Textbox(label="From (YYYY-MM-DD)", placeholder="2025-01-01", elem_id="rv-since")
                    until = gr.Textbox(label="To (YYYY-MM-DD)", placeholder="2025-12-31", elem_id="rv-until")
                    refresh = gr.Button("Show answers", variant="primary", elem_id="rv-refresh", scale=0, min_width=150)
                count = gr.Markdown("")
                table = gr.Dataframe(
                    headers=TURN_HEADERS,
                    interactive=False,
                    wrap=True,
                    elem_id="rv-turns",
                    label="Answers",
                    max_height=420,
                    datatype=["number", "str", "str", "str", "str", "str", "str", "str"],
                    column_widths=["48px", "104px", "92px", "27%", "120px", "21%", "72px", "124px"],
                )
                pick = gr.Dropdown([], label="Answer to review", elem_id="rv-pick", allow_custom_value=False)
                detail = gr.HTML(
                    '<p class="rv-empty">Choose an answer in the table or the list above to review it.</p>',
                    padding=False,
                    elem_id="rv-detail",
                )
                with gr.Row():
                    approve = gr.Button("Approve this answer", variant="primary", elem_id="rv-approve")
                correction = gr.Textbox(
                    label="Better answer (what the patient should have been told)",
                    lines=6,
                    elem_id="rv-correction",
                    info=(
                        "Saved as a clinician-approved answer: the assistant gives it the next time "
                        "the same or a very similar question comes."
                    ),
                )
                save = gr.Button("Save correction", variant="primary", elem_id="rv-save")
                with gr.Accordion("Flag a knowledge article for update", open=False):
                    flag_article = gr.Dropdown([], label="Article", elem_id="rv-flag-article")
                    flag_note = gr.Textbox(label="What needs to change?", lines=2, elem_id="rv-flag-note")
                    flag_btn = gr.Button("Flag for update", elem_id="rv-flag")
                action_msg = gr.HTML("", padding=False, elem_id="rv-action-msg")
            with gr.Tab("Knowledge articles", id="articles"):
                articles = gr.Dataframe(
                    headers=ARTICLE_HEADERS, interactive=False, wrap=True, max_height=420, label="Articles"
                )
                article_pick = gr.Dropdown([], label="Article", elem_id="rv-article")
                article_view = gr.HTML(
                    '<p class="rv-empty">Choose an article to read it before approving.</p>', padding=False
                )
                with gr.Row():
                    art_approve = gr.Button("Approve article", variant="primary", elem_id="rv-article-approve")
                    art_draft = gr.Button("Return to draft", elem_id="rv-article-draft")
                article_msg = gr.HTML("", padding=False)
            with gr.Tab("Call-back requests", id="callbacks"):
                show_done = gr.Checkbox(label="Show requests already done", value=False)
                callbacks = gr.Dataframe(
                    headers=CALLBACK_HEADERS, interactive=False, wrap=True, max_height=420, label="Call-back requests"
                )
                cb_pick = gr.Dropdown([], label="Request", elem_id="rv-callback")
                cb_done = gr.Button("Mark as done", variant="primary", elem_id="rv-callback-done")
                cb_msg = gr.HTML("", padding=False)
            with gr.Tab("Export", id="export"):
                export = gr.HTML("", padding=False)

        rows = gr.State({})
        filters = [level, since, until, reviewed, pick]
        priv: dict[str, Any] = {"api_visibility": "private"}
        load_turns = dict(fn=page.list_turns, inputs=filters, outputs=[table, pick, count, rows], **priv)
        refresh.click(**load_turns)
        for f in (level, reviewed):
            f.change(**load_turns)
        table.select(page.pick_row, [table], pick, **priv)
        pick.change(page.show_turn, [pick, rows], [detail, correction, flag_article], **priv)
        approve.click(page.approve, [pick], action_msg, **priv).then(**load_turns).then(
            page.show_turn, [pick, rows], [detail, correction, flag_article], **priv
        )
        save.click(page.correct, [pick, correction], action_msg, **priv).then(**load_turns).then(
            page.show_turn, [pick, rows], [detail, correction, flag_article], **priv
        )
        flag_btn.click(page.flag, [flag_article, flag_note], action_msg, **priv)
        article_pick.change(page.show_article, [article_pick], article_view, **priv)
        for button, action in ((art_approve, page.approve_article), (art_draft, page.draft_article)):
            button.click(action, [article_pick], article_msg, **priv).then(
                page.list_articles, None, [articles, article_pick], **priv
            ).then(page.show_article, [article_pick], article_view, **priv)
        show_done.change(page.list_callbacks, [show_done], [callbacks, cb_pick], **priv)
        cb_done.click(page.callback_done, [cb_pick], cb_msg, **priv).then(
            page.list_callbacks, [show_done], [callbacks, cb_pick], **priv
        )
        demo.load(**load_turns)
        demo.load(page.list_articles, None, [articles, article_pick], **priv)
        demo.load(page.list_callbacks, [show_done], [callbacks, cb_pick], **priv)
        demo.load(page.export_summary, None, export, **priv)
    return demo
