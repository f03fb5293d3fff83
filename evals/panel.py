"""The physio panel: everyday questions scored 0-2 by a reviewer working as a physiotherapist.

`evals/panel/questions.jsonl` holds the questions (with what a good answer contains and must not
say), `evals/panel/rubric.md` the written rubric. `python -m evals.panel replies` writes the
current replies for a reviewer; the reviewer's scores and notes go to `evals/panel/scores-<date>.jsonl`
({"id", "answer_sha", "score", "notes"}). The eval reports the mean of the newest scores, and how
many of today's answers differ from the ones that were scored (those scores are stale: re-review).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

PANEL = Path(__file__).with_name("panel")


def answer_sha(answer: str) -> str:
    return hashlib.sha256(answer.encode("utf-8")).hexdigest()[:12]


def questions(folder: Path = PANEL) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def newest_scores(folder: Path = PANEL) -> tuple[str, dict[str, dict[str, Any]]]:
    files = sorted(folder.glob("scores-*.jsonl"))
    if not files:
        return "", {}
    rows = [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
    return files[-1].name, {str(r["id"]): r for r in rows}


def replies(assistant: Any, folder: Path = PANEL) -> list[dict[str, Any]]:
    """Each panel question through the real pipeline, as the reviewer will read it."""
    out = []
    for q in questions(folder):
        reply = assistant.reply(q["message"], q.get("history") or [])
        out.append(
            {
                "id": q["id"],
                "message": q["message"],
                "history": q.get("history") or [],
                "answer": reply.answer,
                "answer_sha": answer_sha(reply.answer),
                "level": reply.triage.level.value,
                "intent": reply.intent,
                "refused": reply.refused,
                "sections": [s.id for s in reply.sections],
                "suggestions": [s.title for s in reply.suggestions],
                "exercises": [e.id for e in reply.exercises],
            }
        )
    return out


def figures(current: list[dict[str, Any]], folder: Path = PANEL) -> dict[str, float]:
    """Mean score of the newest review, and how much of it still describes today's answers."""
    name, scores = newest_scores(folder)
    if not scores:
        return {"n": float(len(current)), "scored": 0.0}
    now = {r["id"]: r["answer_sha"] for r in current}
    values = [float(s["score"]) for s in scores.values()]
    stale = sum(1 for i, s in scores.items() if now.get(i) != s.get("answer_sha"))
    return {
        "n": float(len(current)),
        "scored": float(len(scores)),
        "mean_score": sum(values) / len(values),
        "good": float(sum(v == 2 for v in values)),
        "weak": float(sum(v == 1 for v in values)),
        "wrong": float(sum(v == 0 for v in values)),
        "stale_scores": float(stale),
    }


def main(argv: list[str]) -> int:
    if argv[:1] != ["replies"]:
        print("usage: python -m evals.panel replies > evals/panel/replies-<date>.jsonl")
        return 2
    from assistant.conversation import Assistant
    from assistant.settings import Settings
    from ingest.pipeline import ingest

    assistant = Assistant.load(Settings(), build=ingest, say=lambda *_: None)
    for row in replies(assistant):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
