"""The evaluators: one per dataset kind (and two that read several sets), each returning `Figures`.

An evaluator takes the rows of one dataset and a `Pipeline` (the loaded assistant, and `reply`,
which runs one row through `Assistant.reply` and keeps what the checks need as plain data). It
returns plain figures: metrics (names relative to the dataset), the cases behind the failures, the
replies it made and any plot data. The runner prefixes them with the dataset's name.

    >>> figures = EVALUATORS["triage"](pipeline, rows, "triage_carers")    # doctest: +SKIP
    >>> figures.metrics["under_triage.emergency"]                          # doctest: +SKIP
    0.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evals import metrics as M
from evals.manifest import DatasetError

Case = dict[str, Any]
Row = dict[str, Any]
MODES = ("dense", "bm25", "hybrid")


@dataclass
class Figures:
    """What one evaluator measured: metrics, the failing cases by metric, the replies made, plot data."""

    metrics: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[Case]] = field(default_factory=dict)
    replies: list[Case] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)

    def fail(self, key: str, case: Case) -> None:
        self.failures.setdefault(key, []).append(case)

    def add(self, prefix: str, values: Mapping[str, float]) -> None:
        self.metrics.update({f"{prefix}.{k}" if prefix else k: v for k, v in values.items()})


class Pipeline(Protocol):
    """What an evaluator may use: the loaded assistant, the grounding context, one reply per row."""

    assistant: Any
    ctx: M.AnswerContext

    def reply(self, dataset: str, row: Row) -> Case: ...


@dataclass
class AssistantPipeline:
    """`Pipeline` over a loaded `Assistant`."""

    assistant: Any
    ctx: M.AnswerContext

    def reply(self, dataset: str, row: Row) -> Case:
        """Run one row through `Assistant.reply` and keep what the checks need as plain data."""
        a = self.assistant
        reply = a.reply(row["message"], row.get("history"), id=str(row["id"]))
        c = reply.contract()
        case: Case = {
            "dataset": dataset,
            "id": str(row["id"]),
            "message": row["message"],
            "history": row.get("history") or [],
            "source": row.get("source", row.get("reviewer", "")),
            "level": c["triage"]["level"],
            "flags": [f["id"] for f in c["triage"]["flags"]],
            "screening_question": c["triage"].get("screening_question"),
            "answer": c["answer"],
            "disclaimer": c["disclaimer"],
            "sources": [
                {
                    "id": s["id"],
                    "kind": s.get("kind", "article"),
                    "title": s.get("title", ""),
                    "section": s.get("section"),
                }
                for s in c["sources"]
            ],
            "exercises": c["exercises"],
            "refused": c["refused"],
            "refusal_reason": c.get("refusal_reason"),
            "latency_ms": c["latency_ms"],
            # the articles the quoted sections came from (None: nothing was quoted this turn)
            "provenance": sorted({s["source_id"] for s in c["sections"]}) if c["sections"] else None,
            "sections": c["sections"],
            "suggestions": c["suggestions"],
            "notes": c["notes"],
            "lead": c["lead"],
            "help": c["help"],
            "intent": c["intent"],
        }
        case["problems"] = M.reply_problems(case, self.ctx)
        return case


# ---- one dataset each ---------------------------------------------------------------------------
def eval_triage(pipe: Pipeline, rows: Sequence[Row], name: str) -> Figures:
    out = Figures()
    scored = []
    for row in rows:
        case = pipe.reply(name, row)
        out.replies.append(case)
        scored.append(
            {
                "expected": row["expected_triage"],
                "got": case["level"],
                "negated": bool(row["negated"]),
                "kind": row["kind"],
                "expected_flags": row.get("expected_flags", []),
                "got_flags": case["flags"],
                "screened": bool(case["screening_question"]),
            }
        )
        outcome = M.triage_outcome(row["expected_triage"], case["level"], bool(row["negated"]))
        if outcome is not None:
            key = {"over_triage.negated": "over_triage.negated_rate"}.get(outcome, outcome)
            if outcome in ("under_triage.other", "over_triage.other"):
                key = "level_mismatch"
            out.fail(
                key,
                {
                    **case,
                    "expected": row["expected_triage"],
                    "expected_flags": row.get("expected_flags", []),
                    "kind": row["kind"],
                },
            )
    out.metrics = M.triage_metrics(scored)
    out.plots["confusion"] = M.confusion_matrix(out.metrics)
    return out


def eval_retrieval(pipe: Pipeline, rows: Sequence[Row], name: str) -> Figures:
    """Recall@k and MRR of each retriever (dense, BM25, hybrid), overall and by kind of question."""
    from assistant.conversation import parse_history

    out = Figures()
    ranked: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for row in rows:
        turns = parse_history(row.get("history"))
        for mode in MODES:
            _, hits = pipe.assistant.retrieve(row["message"], turns, k=10, mode=mode)
            ids = [h.source_id for h in hits]
            ranked[mode].append(
                {
                    "ranked": ids,
                    "relevant": row["relevant"],
                    "also_ok": row.get("also_ok", []),
                    "kind": row.get("kind", ""),
                }
            )
        hybrid = ranked["hybrid"][-1]
        lenient = M.first_rank(hybrid["ranked"], [*row["relevant"], *row.get("also_ok", [])])
        strict = M.first_rank(hybrid["ranked"], row["relevant"])
        case = {
            "dataset": "retrieval",
            "id": str(row["id"]),
            "message": row["message"],
            "history": row.get("history") or [],
            "source": row.get("source", ""),
            "expected": row["relevant"] + [f"(also ok) {x}" for x in row.get("also_ok", [])],
            "got": hybrid["ranked"][:5],
            "rank": strict,
        }
        if lenient is None or lenient > 3:
            out.fail("hybrid.recall@3", case)
        if strict != 1:
            out.fail("hybrid.mrr", case)
    for mode in MODES:
        out.add(mode, M.retrieval_metrics(ranked[mode], ks=(1, 2, 3, 4, 5)))
        for kind in sorted({r["kind"] for r in ranked[mode]} - {""}):
            sub = M.retrieval_metrics([r for r in ranked[mode] if r["kind"] == kind])
            out.add(f"{mode}.{kind}", {k: sub[k] for k in ("n", "recall@1", "recall@3", "mrr")})
    out.plots["recall"] = {m: [out.metrics[f"{m}.recall@{k}"] for k in range(1, 6)] for m in MODES}
    return out


def eval_answers(pipe: Pipeline, rows: Sequence[Row], name: str) -> Figures:
    out = Figures()
    cases = []
    for row in rows:
        case = pipe.reply(name, row)
        out.replies.append(case)
        case["kind"] = row["kind"]
        case["expect"] = row["expect"]
        case["in_role_problems"] = M.in_role_problems(case["answer"], pipe.ctx) if row["kind"] == "injection" else []
        try:
            case["expectation_problems"] = M.expectation_problems(case, row["expect"], pipe.ctx)
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{name}.jsonl: row {row['id']}: bad `expect` block ({exc})") from exc
        cases.append({**case, "problems": case["expectation_problems"]})
        if case["expectation_problems"]:
            out.fail("rows_failed", {**case, "problems": case["expectation_problems"]})
        if case["in_role_problems"]:
            out.fail("injection.in_role_rate", {**case, "problems": case["in_role_problems"]})
    out.metrics = M.answer_metrics(cases)
    return out


def eval_scope(pipe: Pipeline, rows: Sequence[Row], name: str) -> Figures:
    """What the knowledge base cannot answer is declined (or sent to the clinic); what it can is answered."""
    out = Figures()
    outside, inside = [], []
    for row in rows:
        case = pipe.reply(name, row)
        out.replies.append(case)
        if row["expect"] == "refuse":
            # declined (choices may be offered beside the refusal), or the clinic's own details:
            # never an article quoted as if it answered, nor choices offered as if it were in scope
            ok = case["refused"] or not (case["sources"] or case["suggestions"])
            outside.append(ok)
            if not ok:
                out.fail("outside_declined_rate", {**case, "expected": "declined or sent to the clinic"})
        else:
            # answered from a relevant article, or the relevant article offered as a choice
            relevant = set(row.get("relevant", []))
            offered = {s["id"].split("#", 1)[0] for s in case["suggestions"]}
            answered = (
                not case["refused"]
                and bool(case["sources"])
                and (not relevant or any(s["id"] in relevant for s in case["sources"]))
            )
            ok = answered or bool(offered and (not relevant or offered & relevant))
            inside.append(ok)
            if not ok:
                out.fail("inside_answered_rate", {**case, "expected": sorted(relevant) or "an answer"})
    out.metrics = {
        "n": float(len(rows)),
        "outside_declined_rate": sum(outside) / len(outside) if outside else 1.0,
        "inside_answered_rate": sum(inside) / len(inside) if inside else 1.0,
    }
    return out


def eval_regression(pipe: Pipeline, rows: Sequence[Row], name: str) -> Figures:
    out = Figures()
    scored = []
    for row in rows:
        case = pipe.reply(name, row)
        out.replies.append(case)
        vecs = pipe.assistant.embedder.encode([case["answer"], str(row["expected_answer"])])
        similarity = float(vecs[0] @ vecs[1])
        scored.append({"logged_level": row.get("level"), "got": case["level"], "similarity": similarity})
        detail = {
            **case,
            "expected": row.get("level"),
            "expected_answer": row["expected_answer"],
            "similarity": round(similarity, 3),
        }
        if row.get("level") in M.RANK and M.RANK[case["level"]] < M.RANK[row["level"]]:
            out.fail("level_drops", detail)
        if similarity < 0.6:
            out.fail("drifted", detail)
    out.metrics = M.regression_metrics(scored)
    return out


def eval_sections(pipe: Pipeline, rows: Sequence[Row], name: str) -> Figures:
    """Which section a patient reads first: within the labelled article (the section ranking alone),
    and end to end (the reply's first quoted section, after the article was chosen too)."""
    from assistant.retrieval import tokens

    a = pipe.assistant
    out = Figures()
    within_best = within_ok = reply_ok = 0
    for row in rows:
        fine = {row["best"], *row.get("also_ok", [])}
        vector, _ = a.retrieve(row["message"], [])
        ranked = a.section_index.rank(vector, tokens(row["message"]), [row["article"]])
        top = ranked[0].section.id if ranked else None
        within_best += top == row["best"]
        within_ok += top in fine
        case = pipe.reply(name, row)
        out.replies.append(case)
        first = case["sections"][0]["id"] if case["sections"] else None
        reply_ok += first in fine
        if first not in fine:
            out.fail(
                "reply_ok_rate", {**case, "expected": sorted(fine), "got": first or "no section", "within_article": top}
            )
    n = len(rows) or 1
    out.metrics = {
        "n": float(len(rows)),
        "within_article.best_rate": within_best / n,
        "within_article.ok_rate": within_ok / n,
        "reply_ok_rate": reply_ok / n,
    }
    return out


EVALUATORS: dict[str, Callable[[Pipeline, Sequence[Row], str], Figures]] = {
    "sections": eval_sections,
    "triage": eval_triage,
    "retrieval": eval_retrieval,
    "answers": eval_answers,
    "scope": eval_scope,
    "regression": eval_regression,
}


# ---- across datasets ----------------------------------------------------------------------------
def eval_generalisation(pipe: Pipeline, folder: Path) -> Figures:
    """Leave-one-set-out: the net trained without each independent set, rules + net on the set left out.

    The honest figure for wording nobody has written yet: 'catch' counts emergency and urgent
    messages triaged at their level or asked the screening question; 'rules_catch' is the rules alone.
    """
    from evals.triage_training import TALLY, leave_one_set_out, memo_encode, rates

    out = Figures()
    a = pipe.assistant
    if a.triager.net is None:
        return out
    results = leave_one_set_out(a.triager, memo_encode(a.embedder.encode, {}), a.embedder.model_name, folder)
    totals = {k: sum(v[k] for v in results.values()) for k in TALLY}
    for name, values in results.items():
        out.add(name, values)
    out.add("pooled", {**totals, **rates(totals)})
    return out


def project_citations(case: Case) -> list[str]:
    """The articles a reply cites, in order, exercise cards left out (the first is the primary citation)."""
    return [s["id"] for s in case.get("sources") or [] if s.get("kind", "article") != "exercise"]


def eval_peer(pipe: Pipeline, sets: Mapping[str, Sequence[Row]], peer: Any = None) -> Figures:
    """This project against a plain LangChain RAG (`evals.peer_rag`) on the held-out retrieval sets, in one run.

    Topical hit: the reply's primary citation is one of the row's `relevant` or `also_ok` articles
    (the project: the first article of `Assistant.reply(message, history).sources`, a refusal a miss;
    the peer: the article of its best chunk, for the message alone). `lead` = project - peer.
    The project's replies here are not added to the run's reply checks (the peer row compares, it
    does not gate safety); their problems are counted in `project.replies_with_problems`.
    """
    out = Figures()
    if peer is None:
        from evals.peer_rag import PeerRAG

        peer = PeerRAG.build(pipe.assistant.settings.knowledge_path / "articles", pipe.assistant.embedder)
    pooled: dict[str, list[dict[str, Any]]] = {"project": [], "langchain": []}
    problems = 0
    for name, rows in sets.items():
        scored: dict[str, list[dict[str, Any]]] = {"project": [], "langchain": []}
        for row in rows:
            case = pipe.reply(name, row)
            problems += bool(case["problems"])
            theirs = peer.answer(row["message"])
            truth = {"relevant": list(row["relevant"]), "also_ok": list(row.get("also_ok", []))}
            mine = {**truth, "cited": project_citations(case), "refused": bool(case["refused"])}
            scored["project"].append(mine)
            scored["langchain"].append({**truth, "cited": theirs.cited, "refused": False})
            topical = {*truth["relevant"], *truth["also_ok"]}
            if mine["refused"] or not mine["cited"] or mine["cited"][0] not in topical:
                out.fail(
                    f"{name}.project.topical_hit",
                    {
                        "dataset": name,
                        "id": str(row["id"]),
                        "message": row["message"],
                        "history": row.get("history") or [],
                        "expected": truth["relevant"] + [f"(also ok) {x}" for x in truth["also_ok"]],
                        "project": "refused" if mine["refused"] else ", ".join(mine["cited"]) or "no article",
                        "langchain": ", ".join(theirs.cited),
                        "langchain_hit": bool(theirs.cited) and theirs.cited[0] in topical,
                    },
                )
        for system, rows_scored in scored.items():
            out.add(f"{name}.{system}", M.topical_metrics(rows_scored))
            pooled[system] += rows_scored
        out.metrics[f"{name}.lead"] = (
            out.metrics[f"{name}.project.topical_hit"] - out.metrics[f"{name}.langchain.topical_hit"]
        )
    for system, rows_scored in pooled.items():
        out.add(f"pooled.{system}", M.topical_metrics(rows_scored))
    out.metrics["pooled.lead"] = out.metrics["pooled.project.topical_hit"] - out.metrics["pooled.langchain.topical_hit"]
    out.metrics["pooled.project.replies_with_problems"] = float(problems)
    out.metrics["langchain.chunks"] = float(peer.chunks)
    return out
