"""`physio-assistant eval`: every dataset through the pipeline users get, gates checked, report written.

The datasets and their kinds come from `evals/datasets/manifest.yaml` (`evals.manifest`). The
assistant is loaded once; each dataset goes to its kind's evaluator (`evals.evaluators`), which
returns plain figures; the runner names them after the dataset, checks the gates and writes the report.

    >>> from evals.runner import main                                    # doctest: +SKIP
    >>> main(Settings(), Path("eval-out"), only="triage")                 # doctest: +SKIP
    0
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from assistant.clinic_hours import DAYS, asked_days
from evals import metrics as M
from evals.content_lint import lint as content_lint
from evals.evaluators import EVALUATORS, AssistantPipeline, Figures, Pipeline, eval_generalisation, eval_peer
from evals.gates import check, load_gates
from evals.manifest import DATASETS, REQUIRED, DatasetError, Manifest, load_manifest, load_rows

__all__ = ["DATASETS", "DatasetError", "Run", "answer_context", "evaluate", "load_rows", "main", "summary"]
# evaluators that read several datasets rather than one
ACROSS = ("generalisation", "peer")
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


@dataclass
class Run:
    """Everything one eval run measured, gathered from the evaluators' figures."""

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

    def absorb(self, prefix: str, figures: Figures) -> None:
        """One evaluator's figures, named after its dataset (or itself)."""
        self.add(prefix, figures.metrics)
        for key, cases in figures.failures.items():
            self.failures.setdefault(f"{prefix}.{key}", []).extend(cases)
        self.replies += figures.replies
        self.plots.update({f"{key}:{prefix}": value for key, value in figures.plots.items()})

    def timed(self, name: str, fn: Callable[[], Figures]) -> Figures:
        start = time.perf_counter()
        figures = fn()
        self.timings[name] = round(time.perf_counter() - start, 2)
        return figures


# ---- the pipeline's texts, for the grounding check -----------------------------------------
def answer_context(assistant: Any) -> M.AnswerContext:
    """Everything the app may say that is not from a source: policy texts, rules, cards, clinic."""
    from assistant.exercises import render_card
    from assistant.guardrails.output import has_diagnosis, has_dose

    p = assistant.policy
    limit = assistant.settings.max_message_chars
    texts: list[str] = ["What you can try", "When to get help", "Why:"]
    for key, value in p.file.model_dump().items():
        if key in ("on_topic", "medicine_words", "crisis_someone_else", "crisis_writer"):
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
    unread = assistant.triager.policy.unread  # the checklist a message the triage cannot read is asked
    if unread is not None:
        texts += [unread.question, p.text(unread.advice, limit=limit)]
    texts += [render_card(c) for c in assistant.kb.cards.values()]
    if assistant.intents is not None:
        texts += [assistant.intents.answer(name, assistant.kb.clinic) for name in assistant.intents.file.intents]
        # the hours of a day a question names ("On Saturday we are open 09:00-13:00."), from the profile
        clinic = assistant.kb.clinic
        now = dt.datetime.now(ZoneInfo(clinic.timezone))
        texts += [asked_days(clinic, day, now) for day in (*DAYS, "today", "tomorrow")]
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


def selection(only: str | None, manifest: Manifest) -> set[str] | None:
    """What `--only` names: kinds, dataset names, or the evaluators across datasets; None = everything."""
    if only is None:
        return None
    names = {n.strip() for n in only.split(",") if n.strip()}
    evaluated = [e for e in manifest.datasets if e.kind in EVALUATORS]
    known = set(EVALUATORS) | {e.name for e in evaluated} | set(ACROSS)
    unknown = sorted(names - known)
    if unknown:
        raise ValueError(
            f"unknown evaluator(s) {unknown}; choose from kinds {', '.join(EVALUATORS)}, "
            f"{', '.join(ACROSS)}, or a dataset name"
        )
    return names


def evaluate(manifest: Manifest, pipe: Pipeline, chosen: set[str] | None, run: Run, say: Callable[[str], None]) -> Run:
    """Every chosen dataset of the manifest through its kind's evaluator, then the evaluators across
    datasets, then the checks on every reply made; all of it gathered into `run`."""
    for entry in manifest.datasets:
        if entry.kind not in EVALUATORS or not (chosen is None or entry.kind in chosen or entry.name in chosen):
            continue  # training-only sets are measured by the leave-one-set-out report
        path = manifest.path(entry)
        if not path.is_file():
            if not entry.optional:
                run.ran.add(entry.name)  # its gates break: a listed dataset is missing
                say(f"eval: {path} is missing")
            continue
        run.ran.add(entry.name)
        rows = load_rows(path, REQUIRED[entry.kind])
        evaluator = EVALUATORS[entry.kind]
        run.absorb(
            entry.name,
            run.timed(
                entry.name, lambda rows=rows, entry=entry, evaluator=evaluator: evaluator(pipe, rows, entry.name)
            ),
        )
    if chosen is None or "generalisation" in chosen:
        run.ran.add("generalisation")
        run.absorb(
            "generalisation",
            run.timed("generalisation", lambda: eval_generalisation(pipe, manifest.folder or DATASETS)),
        )
    held_out = {e.name: manifest.path(e) for e in manifest.datasets if e.peer and manifest.path(e).is_file()}
    if (chosen is None or "peer" in chosen) and held_out:
        run.ran.add("peer")
        sets = {name: load_rows(path, REQUIRED["retrieval"]) for name, path in held_out.items()}
        run.absorb("peer", run.timed("peer", lambda: eval_peer(pipe, sets)))

    if run.replies:
        run.ran.add("replies")
        run.add("replies", M.reply_metrics(run.replies, pipe.ctx))
        latencies = [c["latency_ms"] for c in run.replies]
        run.add("latency", M.latency_metrics(latencies))
        run.plots["latency"] = latencies
        for case in run.replies:
            for problem in case["problems"]:
                key = next((k for prefix, k in _PROBLEM_KEYS if problem.startswith(prefix)), "replies.other")
                if case not in run.failures.get(key, []):
                    run.fail(key, case)
    return run


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

    `only` names kinds (`triage`: every triage set), datasets (`triage_round3`), `generalisation` or
    `peer` (this project against a plain LangChain RAG on the manifest's `peer: true` sets).
    `datasets` overrides the folder of JSONL files and its manifest (tests use a tiny one);
    `embedder` replaces the configured model; `results_out`, when given, receives the results
    written to results.json.
    """
    from assistant.conversation import Assistant

    say = say or (lambda m: print(m, file=sys.stderr))
    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC)
    folder = datasets or DATASETS
    try:
        manifest = load_manifest(folder)
        chosen = selection(only, manifest)
    except ValueError as exc:
        say(f"eval: {exc}")
        return 2
    for name in manifest.unlisted():
        say(f"eval: {folder / name} is not in {folder / 'manifest.yaml'}: not evaluated (add a line naming its kind)")
    load_start = time.perf_counter()
    store = sync_store(settings, embedder)
    say(f"eval: knowledge store: {store}")
    assistant = Assistant.load(settings, say=say, embedder=embedder)
    pipe = AssistantPipeline(assistant, answer_context(assistant))
    run = Run()
    run.timings["load"] = round(time.perf_counter() - load_start, 2)
    # the content lint is cheap and dataset-free: its reading grade goes into every report (issue 15)
    run.ran.add("content")
    run.add("content", content_lint(assistant.kb).numbers())

    try:
        evaluate(manifest, pipe, chosen, run, say)
    except DatasetError as exc:
        say(f"eval: {exc}")
        return 2

    gates = check(load_gates(manifest=manifest), run.metrics, run.ran)
    broken = [g for g in gates if g.status == "broken"]
    missed = [g for g in gates if g.status == "missed"]
    run.timings["total"] = round(time.perf_counter() - started, 2)
    results = {
        "started": when.isoformat(timespec="seconds"),
        "seconds": run.timings["total"],
        "timings": run.timings,
        "machine": machine(),
        "model": settings.embedding_model,
        "mode": "extractive" if assistant.llm is None else "llm",
        "datasets": str(folder),
        "manifest": manifest.as_list(),
        "store": store,
        "evaluators": sorted(run.ran),
        "primary": {k: f"{k}.{v}" for k, v in M.PRIMARY.items() if k in run.ran},
        "metrics": run.metrics,
        "gates": [g.as_dict() for g in gates],
        "broken": [g.gate for g in broken],
        "targets_missed": [g.gate for g in missed],
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
    if missed:
        print(f"\nTarget(s) not met yet (not failing): {'; '.join(g.gate + f' (got {_fmt(g.value)})' for g in missed)}")
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
    kinds = {d["name"]: d["kind"] for d in results.get("manifest", [])}
    headline = [
        *(f"{name}.accuracy" for name, kind in kinds.items() if kind == "triage"),
        "retrieval.dense.recall@3",
        "retrieval.bm25.recall@3",
        "retrieval.hybrid.recall@1",
        *(f"{name}.hybrid.{k}" for name, kind in kinds.items() if kind == "retrieval" for k in ("recall@3", "mrr")),
        *(
            f"peer.{name}.{k}"
            for name in [*kinds, "pooled"]
            for k in ("project.topical_hit", "langchain.topical_hit", "lead")
        ),
        "answers.pass_rate",
        "scope.outside_declined_rate",
        "scope.inside_answered_rate",
        "replies.n",
        "latency.p50_ms",
        "latency.p95_ms",
        "regression.level_agreement",
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
