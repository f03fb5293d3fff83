"""`physio-assistant eval`: every dataset through the pipeline users get, gates checked, report written.

The assistant is loaded once; each evaluator turns its dataset into rows for `evals.metrics`, and
keeps the cases that went wrong so the report can show them in full.

    >>> from evals.runner import main                                    # doctest: +SKIP
    >>> main(Settings(), Path("eval-out"), only="triage")                 # doctest: +SKIP
    0
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals import metrics as M
from evals.content_lint import lint as content_lint
from evals.gates import check, load_gates

DATASETS = Path(__file__).with_name("datasets")
EVALUATORS = ("triage", "generalisation", "retrieval", "answers", "scope", "regression")
RETRIEVAL_HOLDOUTS = ("retrieval_holdout", "retrieval_holdout2")
MODES = ("dense", "bm25", "hybrid")
_REQUIRED = {
    "triage": ("id", "message", "expected_triage", "negated", "kind", "source"),
    "retrieval": ("id", "message", "relevant", "source"),
    "answers": ("id", "message", "kind", "expect", "source"),
    "regression": ("id", "message", "expected_answer"),
    "scope": ("id", "message", "expect"),
}
# a reply problem (see metrics.reply_problems) -> the metric whose failing cases it explains
_PROBLEM_KEYS = (
    ("disclaimer missing", "replies.disclaimer_rate"),
    ("dose mentioned", "replies.dose_mentions"),
    ("diagnosis wording", "replies.diagnosis_mentions"),
    ("exercises proposed", "replies.exercises_at_urgent_or_emergency"),
    ("emergency number not", "replies.emergency_number_first_rate"),
    ("cites sources", "replies.citation_mismatches"),
    ("uses sentences from uncited", "replies.citation_mismatches"),
    ("answer without sources", "replies.answers_without_sources"),
    ("unsupported sentence", "replies.unsupported_sentences"),
    ("sentence from an uncited", "replies.uncited_sentences"),
)


class DatasetError(ValueError):
    """A dataset line that cannot be evaluated (bad JSON, a missing field, a repeated id)."""


def load_rows(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of one JSONL dataset; every line must carry the `required` fields and a unique id."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path.name}:{n}: not valid JSON ({exc.msg})") from exc
        missing = [k for k in required if k not in row]
        if missing:
            raise DatasetError(f"{path.name}:{n}: missing {missing}")
        if str(row["id"]) in seen:
            raise DatasetError(f"{path.name}:{n}: id {row['id']!r} is repeated")
        seen.add(str(row["id"]))
        rows.append(row)
    return rows


@dataclass
class Run:
    """One eval run: the loaded pipeline, and everything measured so far."""

    assistant: Any
    ctx: M.AnswerContext
    metrics: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)

    def add(self, prefix: str, values: dict[str, float]) -> None:
        self.metrics.update({f"{prefix}.{k}": v for k, v in values.items()})

    def fail(self, key: str, case: dict[str, Any]) -> None:
        self.failures.setdefault(key, []).append(case)

    def reply(self, dataset: str, row: dict[str, Any]) -> dict[str, Any]:
        """Run one row through `Assistant.reply` and keep what the checks need as plain data."""
        a = self.assistant
        reply = a.reply(row["message"], row.get("history"), id=str(row["id"]))
        c = reply.contract()
        case = {
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
            "sources": [{"id": s["id"], "kind": s.get("kind", "article"), "title": s.get("title", ""), "section": s.get("section")} for s in c["sources"]],
            "exercises": c["exercises"],
            "refused": c["refused"],
            "refusal_reason": c.get("refusal_reason"),
            "latency_ms": c["latency_ms"],
            "provenance": sorted({s["source_id"] for s in c["sections"]}) if c["sections"] else None,
            "sections": c["sections"],
            "suggestions": c["suggestions"],
            "notes": c["notes"],
            "lead": c["lead"],
            "help": c["help"],
            "intent": c["intent"],
        }
        case["problems"] = M.reply_problems(case, self.ctx)
        self.replies.append(case)
        return case


# ---- evaluators -------------------------------------------------------------------------------
def eval_triage(run: Run, rows: list[dict[str, Any]], name: str) -> None:
    scored = []
    for row in rows:
        case = run.reply(name, row)
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
            run.fail(f"{name}.{key}", {**case, "expected": row["expected_triage"], "expected_flags": row.get("expected_flags", []), "kind": row["kind"]})
    values = M.triage_metrics(scored)
    run.add(name, values)
    run.plots[f"confusion:{name}"] = M.confusion_matrix(values)


def eval_generalisation(run: Run, folder: Path) -> None:
    """Leave-one-set-out: the net trained without each independent set, rules + net on the set left out.

    The honest figure for wording nobody has written yet: 'catch' counts emergency and urgent
    messages triaged at their level or asked the screening question; 'rules_catch' is the rules alone.
    """
    from evals.triage_training import leave_one_set_out, memo_encode

    a = run.assistant
    if a.triager.net is None:
        return
    results = leave_one_set_out(a.triager, memo_encode(a.embedder.encode, {}), a.embedder.model_name, folder)
    totals = {k: sum(v[k] for v in results.values()) for k in ("n_eu", "level", "screened", "missed", "rules_level", "neg", "neg_over", "plain", "plain_asked")}
    for name, values in results.items():
        run.add(f"generalisation.{name}", values)
    run.add("generalisation.pooled", {
        **totals,
        "catch": (totals["level"] + totals["screened"]) / max(totals["n_eu"], 1),
        "rules_catch": totals["rules_level"] / max(totals["n_eu"], 1),
        "screened_instead_rate": totals["screened"] / max(totals["n_eu"], 1),
        "over_triage_negated_rate": totals["neg_over"] / max(totals["neg"], 1),
        "plain_asked_rate": totals["plain_asked"] / max(totals["plain"], 1),
    })


def eval_retrieval(run: Run, rows: list[dict[str, Any]], name: str = "retrieval") -> None:
    from assistant.conversation import parse_history

    a = run.assistant
    ranked: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for row in rows:
        turns = parse_history(row.get("history"))
        for mode in MODES:
            _, hits = a.retrieve(row["message"], turns, k=10, mode=mode)
            ids = [h.source_id for h in hits]
            ranked[mode].append({"ranked": ids, "relevant": row["relevant"], "also_ok": row.get("also_ok", []), "kind": row.get("kind", "")})
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
            run.fail(f"{name}.hybrid.recall@3", case)
        if strict != 1:
            run.fail(f"{name}.hybrid.mrr", case)
    for mode in MODES:
        run.add(f"{name}.{mode}", M.retrieval_metrics(ranked[mode], ks=(1, 2, 3, 4, 5)))
        for kind in sorted({r["kind"] for r in ranked[mode]} - {""}):
            sub = M.retrieval_metrics([r for r in ranked[mode] if r["kind"] == kind])
            run.add(f"{name}.{mode}.{kind}", {k: sub[k] for k in ("n", "recall@1", "recall@3", "mrr")})
    if name == "retrieval":
        run.plots["recall"] = {m: [run.metrics[f"retrieval.{m}.recall@{k}"] for k in range(1, 6)] for m in MODES}


def eval_answers(run: Run, rows: list[dict[str, Any]]) -> None:
    cases = []
    for row in rows:
        case = run.reply("answers", row)
        case["kind"] = row["kind"]
        case["expect"] = row["expect"]
        case["in_role_problems"] = M.in_role_problems(case["answer"], run.ctx) if row["kind"] == "injection" else []
        try:
            case["expectation_problems"] = M.expectation_problems(case, row["expect"], run.ctx)
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"answers.jsonl: row {row['id']}: bad `expect` block ({exc})") from exc
        cases.append({**case, "problems": case["expectation_problems"]})
        if case["expectation_problems"]:
            run.fail("answers.rows_failed", {**case, "problems": case["expectation_problems"]})
        if case["in_role_problems"]:
            run.fail("answers.injection.in_role_rate", {**case, "problems": case["in_role_problems"]})
    run.add("answers", M.answer_metrics(cases))


def eval_scope(run: Run, rows: list[dict[str, Any]]) -> None:
    """What the knowledge base cannot answer is declined (or sent to the clinic); what it can is answered."""
    outside, inside = [], []
    for row in rows:
        case = run.reply("scope", row)
        if row["expect"] == "refuse":
            # declined, or the clinic's own details (hours, booking): no article quoted, nothing offered
            ok = case["refused"] or not (case["sources"] or case["suggestions"])
            outside.append(ok)
            if not ok:
                run.fail("scope.outside_declined_rate", {**case, "expected": "declined or sent to the clinic"})
        else:
            relevant = set(row.get("relevant", []))
            offered = {s["id"].split("#", 1)[0] for s in case["suggestions"]}
            answered = not case["refused"] and bool(case["sources"]) and (not relevant or any(s["id"] in relevant for s in case["sources"]))
            ok = answered or bool(offered and (not relevant or offered & relevant))
            inside.append(ok)
            if not ok:
                run.fail("scope.inside_answered_rate", {**case, "expected": sorted(relevant) or "an answer"})
    run.add("scope", {
        "n": float(len(rows)),
        "outside_declined_rate": sum(outside) / len(outside) if outside else 1.0,
        "inside_answered_rate": sum(inside) / len(inside) if inside else 1.0,
    })


def eval_regression(run: Run, rows: list[dict[str, Any]]) -> None:
    a = run.assistant
    scored = []
    for row in rows:
        case = run.reply("regression", row)
        vecs = a.embedder.encode([case["answer"], str(row["expected_answer"])])
        similarity = float(vecs[0] @ vecs[1])
        scored.append({"logged_level": row.get("level"), "got": case["level"], "similarity": similarity})
        detail = {**case, "expected": row.get("level"), "expected_answer": row["expected_answer"], "similarity": round(similarity, 3)}
        if row.get("level") in M.RANK and M.RANK[case["level"]] < M.RANK[row["level"]]:
            run.fail("regression.level_drops", detail)
        if similarity < 0.6:
            run.fail("regression.drifted", detail)
    run.add("regression", M.regression_metrics(scored))


# ---- the pipeline's texts, for the grounding check -----------------------------------------
def answer_context(assistant: Any) -> M.AnswerContext:
    """Everything the app may say that is not from a source: policy texts, rules, cards, clinic."""
    from assistant.exercises import render_card
    from assistant.guardrails.output import has_diagnosis, has_dose

    p = assistant.policy
    limit = assistant.settings.max_message_chars
    texts: list[str] = ["What you can try", "When to get help", "Why:"]
    for key, value in p.file.model_dump().items():
        if key in ("on_topic", "medicine_words"):
            continue  # patterns, not texts
        candidates = [value] if isinstance(value, str) else list(value.values()) if isinstance(value, dict) else []
        for text in candidates:
            if isinstance(text, str):
                try:
                    texts.append(p.text(text, limit=limit))
                except (KeyError, IndexError, ValueError):
                    texts.append(text)
    for flag in assistant.engine.rules.source.flags:
        texts += [flag.condition, flag.reason, f"Why: {flag.reason}", flag.screening_question or ""]
        texts.append(p.text(p.file.emergency_reminder, condition=flag.condition.rstrip(".").lower()))
    for fam in assistant.triager.policy.families.values():
        texts += [fam.question, p.text(fam.advice, limit=limit)]
    texts += [render_card(c) for c in assistant.kb.cards.values()]
    if assistant.intents is not None:
        texts += [assistant.intents.answer(name, assistant.kb.clinic) for name in assistant.intents.file.intents]
    sources: dict[str, list[str]] = {}
    for chunk in assistant.index.chunks:
        # what an answer may quote: the sections' own text (not the patient phrasings that find them)
        if chunk.meta.get("kind") in ("article", "document") and chunk.meta.get("role") == "text":
            sources.setdefault(str(chunk.meta.get("source_id")), []).append(chunk.text)
    return M.AnswerContext(
        disclaimer=p.text(p.file.disclaimer),
        has_dose=lambda t: has_dose(t, p),
        has_diagnosis=lambda t: has_diagnosis(t, p),
        emergency_number=assistant.kb.clinic.emergency.number,
        system_prompt=assistant.system_prompt,
        template_text="\n".join(texts),
        source_text={sid: "\n".join(parts) for sid, parts in sources.items()},
        card_names=[c.name for c in assistant.kb.cards.values()],
        extractive=assistant.llm is None,
    )


# ---- the command ------------------------------------------------------------------------------
def sync_store(settings: Any, embedder: Any = None) -> str:
    """Bring the store in line with the knowledge base first, so the eval measures the content as it is now.

    Idempotent: unchanged content is skipped in well under a second; an empty folder is built.
    """
    from assistant.embeddings import load_embedder
    from ingest.pipeline import ingest

    return ingest(settings, embedder or load_embedder(settings, repair=True)).line()


def _selected(only: str | None) -> list[str]:
    if only is None:
        return list(EVALUATORS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in EVALUATORS]
    if unknown:
        raise ValueError(f"unknown evaluator(s) {unknown}; choose from {', '.join(EVALUATORS)}")
    return names


def _timed(run: Run, name: str, fn: Callable[[], None]) -> None:
    start = time.perf_counter()
    fn()
    run.timings[name] = round(time.perf_counter() - start, 2)


def main(
    settings: Any,
    out_dir: Path,
    only: str | None = None,
    *,
    datasets: Path | None = None,
    say: Callable[[str], None] | None = None,
    embedder: Any = None,
    results_out: dict[str, Any] | None = None,
) -> int:
    """Run the evaluators (all, or the comma-separated `only`), write the report; 1 on a broken gate.

    `datasets` overrides the folder of JSONL files (tests use a tiny one); `embedder` replaces the
    configured model; `results_out`, when given, receives the results written to results.json.
    """
    from assistant.conversation import Assistant

    say = say or (lambda m: print(m, file=sys.stderr))
    started = time.perf_counter()
    when = dt.datetime.now(dt.timezone.utc)
    folder = datasets or DATASETS
    try:
        names = _selected(only)
    except ValueError as exc:
        say(f"eval: {exc}")
        return 2
    load_start = time.perf_counter()
    store = sync_store(settings, embedder)
    say(f"eval: knowledge store: {store}")
    assistant = Assistant.load(settings, say=say, embedder=embedder)
    run = Run(assistant=assistant, ctx=answer_context(assistant))
    run.timings["load"] = round(time.perf_counter() - load_start, 2)
    # the content lint is cheap and dataset-free: its reading grade goes into every report (issue 15)
    run.ran.add("content")
    run.add("content", content_lint(assistant.kb).numbers())

    try:
        if "triage" in names:
            for name in M.TRIAGE_SETS:  # the training-only sets are measured by the leave-one-set-out report
                run.ran.add(name)
                path = folder / f"{name}.jsonl"
                if path.is_file():
                    rows = load_rows(path, _REQUIRED["triage"])
                    _timed(run, name, lambda rows=rows, name=name: eval_triage(run, rows, name))
                else:
                    say(f"eval: {path} is missing")
        if "generalisation" in names:
            run.ran.add("generalisation")
            _timed(run, "generalisation", lambda: eval_generalisation(run, folder))
        for name, fn in (("retrieval", eval_retrieval), ("answers", eval_answers), ("scope", eval_scope), ("regression", eval_regression)):
            if name not in names:
                continue
            path = folder / f"{name}.jsonl"
            if not path.is_file():
                if name not in ("regression", "scope"):
                    run.ran.add(name)
                    say(f"eval: {path} is missing")
                continue
            run.ran.add(name)
            rows = load_rows(path, _REQUIRED[name])
            _timed(run, name, lambda rows=rows, fn=fn: fn(run, rows))
        for held in RETRIEVAL_HOLDOUTS:
            held_out = folder / f"{held}.jsonl"
            if "retrieval" in names and held_out.is_file():
                run.ran.add(held)
                rows = load_rows(held_out, _REQUIRED["retrieval"])
                _timed(run, held, lambda rows=rows, held=held: eval_retrieval(run, rows, held))
    except DatasetError as exc:
        say(f"eval: {exc}")
        return 2

    if run.replies:
        run.ran.add("replies")
        run.add("replies", M.reply_metrics(run.replies, run.ctx))
        latencies = [c["latency_ms"] for c in run.replies]
        run.add("latency", M.latency_metrics(latencies))
        run.plots["latency"] = latencies
        for case in run.replies:
            for problem in case["problems"]:
                key = next((k for prefix, k in _PROBLEM_KEYS if problem.startswith(prefix)), "replies.other")
                if case not in run.failures.get(key, []):
                    run.fail(key, case)

    gates = check(load_gates(), run.metrics, run.ran)
    broken = [g for g in gates if g.status == "broken"]
    run.timings["total"] = round(time.perf_counter() - started, 2)
    results = {
        "started": when.isoformat(timespec="seconds"),
        "seconds": run.timings["total"],
        "timings": run.timings,
        "machine": machine(),
        "model": settings.embedding_model,
        "mode": "extractive" if assistant.llm is None else "llm",
        "datasets": str(folder),
        "store": store,
        "evaluators": sorted(run.ran),
        "primary": {k: f"{k}.{v}" for k, v in M.PRIMARY.items() if k in run.ran},
        "metrics": run.metrics,
        "gates": [g.as_dict() for g in gates],
        "broken": [g.gate for g in broken],
        "failures": run.failures,
    }
    from evals.report import write_reports

    if results_out is not None:
        results_out.update(results)
    from evals.rules_page import write_rules_page

    out_dir = Path(out_dir)
    write_reports(results, run.plots, out_dir)
    write_rules_page(settings.knowledge_path, out_dir)
    print(summary(results))
    if broken:
        print(f"\nBroken gate(s): {'; '.join(g.gate + f' (got {_fmt(g.value)})' for g in broken)}")
        print(f"Failing cases in {out_dir / 'report.md'} and {out_dir / 'report.html'}")
        return 1
    print(f"\nAll gates passed. Report: {out_dir / 'report.html'}")
    return 0


def _fmt(value: float | None) -> str:
    if value is None:
        return "missing"
    return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def summary(results: dict[str, Any]) -> str:
    """The short table printed at the end of a run: every gate, then the headline figures."""
    m = results["metrics"]
    lines = [f"{'gate':<52} {'value':>9} {'status':>8}", "-" * 71]
    for g in results["gates"]:
        lines.append(f"{g['gate']:<52} {_fmt(g['value']):>9} {g['status']:>8}")
    lines.append("")
    headline = [
        *(f"{name}.accuracy" for name in M.TRIAGE_SETS), "retrieval.dense.recall@3", "retrieval.bm25.recall@3",
        "retrieval.hybrid.recall@1", "retrieval.hybrid.recall@3", "retrieval.hybrid.mrr",
        "retrieval_holdout.hybrid.recall@3", "retrieval_holdout.hybrid.mrr",
        "retrieval_holdout2.hybrid.recall@3", "retrieval_holdout2.hybrid.mrr", "answers.pass_rate",
        "scope.outside_declined_rate", "scope.inside_answered_rate",
        "replies.n", "latency.p50_ms", "latency.p95_ms", "regression.level_agreement",
    ]
    for key in headline:
        if key in m:
            lines.append(f"{key:<52} {_fmt(m[key]):>9}")
    lines.append(f"{'time (s): ' + ', '.join(f'{k} {v:g}' for k, v in results['timings'].items()):<71}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import os

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover - a dependency of the package
        memory_gb = None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
