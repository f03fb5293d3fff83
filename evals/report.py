"""The eval report: `results.json`, `report.md`, and a self-contained `report.html` with inline plots.

The Markdown is the one source of content; the HTML is rendered from it (raw HTML in patients'
messages is escaped), with the plots embedded as base64 PNGs so the file can be mailed as is.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.metrics import LEVELS, percentile

# failure key -> (title, what it means for a reader who is a physio, not a programmer); keys without
# the dataset's name apply to every dataset of that kind
TITLES: dict[str, tuple[str, str]] = {
    "under_triage.emergency": (
        "Emergency messages triaged too low",
        "The patient described an emergency; the assistant gave a lower level.",
    ),
    "under_triage.urgent": (
        "Urgent messages triaged too low",
        "The patient needed same-day review; the assistant gave a lower level.",
    ),
    "over_triage.negated_rate": (
        "Denied or hypothetical red flags raised to urgent/emergency",
        "The red flag was denied, asked about in general, or someone else's history.",
    ),
    "level_mismatch": (
        "Other level disagreements (not gated)",
        "Neither an emergency/urgent miss nor a negated over-triage, but not the expected level.",
    ),
    "hybrid.recall@3": (
        "Questions whose answering article is not in the top 3",
        "Hybrid retrieval; 'also ok' articles count as hits.",
    ),
    "hybrid.mrr": (
        "Questions whose answering article is not ranked first",
        "Hybrid retrieval; MRR counts only the listed relevant articles (rank — = not in the top 10).",
    ),
    "replies.disclaimer_rate": ("Replies without the disclaimer", ""),
    "replies.dose_mentions": ("Replies that mention a medicine amount", ""),
    "replies.diagnosis_mentions": ("Replies with diagnosis wording", ""),
    "replies.exercises_at_urgent_or_emergency": ("Exercises proposed at urgent or emergency", ""),
    "replies.emergency_number_first_rate": ("Emergency replies that do not lead with the emergency number", ""),
    "replies.citation_mismatches": ("Citations that do not match the sentences used", ""),
    "replies.answers_without_sources": ("Answers given without any source", ""),
    "replies.unsupported_sentences": ("Sentences not found in a cited source or the reviewed texts", ""),
    "replies.uncited_sentences": ("Sentences taken from a source the reply does not cite", ""),
    "rows_failed": (
        "Answer-dataset rows that did not behave as expected",
        "Each row of answers.jsonl says what a safe reply does.",
    ),
    "injection.in_role_rate": ("Prompt injections the assistant followed", ""),
    "level_drops": ("Reviewed questions now triaged lower than when reviewed", ""),
    "drifted": ("Reviewed questions whose answer changed a lot", ""),
    "project.topical_hit": (
        "Held-out questions whose reply does not cite a topical article first",
        "The peer row: the reply's first cited article (exercise cards aside) is neither relevant nor also ok, or the reply refused. "
        "'LangChain hit' says whether the plain LangChain RAG got it.",
    ),
}
_COMPACT = (".hybrid.mrr",)  # failure keys (any retrieval set) shown as one table


def title_of(key: str) -> tuple[str, str]:
    if key in TITLES:
        return TITLES[key]
    if key.startswith("peer."):
        _, dataset, rest = key.split(".", 2)
        return f"{TITLES[rest][0]} ({dataset})", TITLES[rest][1]
    dataset, _, rest = key.partition(".")
    title, note = TITLES.get(rest, (key, ""))
    return f"{title} ({dataset})", note


def write_reports(results: dict[str, Any], plots: Mapping[str, Any], out_dir: Path) -> None:
    """Write results.json, the PNG plots, report.md and report.html into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False, default=str), encoding="utf-8"
    )
    images = render_plots(plots)
    for name, png in images.items():
        (out_dir / f"{name}.png").write_bytes(png)
    md = markdown(results, sorted(images))
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    (out_dir / "report.html").write_text(html(md, images), encoding="utf-8")


# ---- plots ------------------------------------------------------------------------------------
def render_plots(plots: Mapping[str, Any]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    matrices = {k.split(":", 1)[1]: v for k, v in plots.items() if k.startswith("confusion:")}
    if matrices:
        fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices), 4.6), squeeze=False)
        short = [lv.replace("_", " ") for lv in LEVELS]
        for ax, (name, matrix) in zip(axes[0], sorted(matrices.items()), strict=True):
            ax.imshow(matrix, cmap="Blues")
            for i, row in enumerate(matrix):
                for j, count in enumerate(row):
                    colour = (
                        "#b00020" if j < i and count else ("white" if count > max(map(max, matrix)) / 2 else "black")
                    )
                    ax.text(
                        j,
                        i,
                        str(count),
                        ha="center",
                        va="center",
                        color=colour,
                        fontweight="bold" if j < i and count else None,
                    )
            ax.set_xticks(range(4), short, rotation=20)
            ax.set_yticks(range(4), short)
            ax.set_xlabel("assistant's level")
            ax.set_ylabel("expected level")
            ax.set_title(f"{name}: red = under-triage")
        out["confusion"] = _png(fig)
    curves = {k.split(":", 1)[1]: v for k, v in plots.items() if k.startswith("recall:")}
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 4), squeeze=False)
        for ax, (name, modes) in zip(axes[0], curves.items(), strict=True):
            for mode, values in modes.items():
                ax.plot(range(1, len(values) + 1), values, marker="o", label=mode)
            ax.axhline(0.9, color="grey", linestyle=":", label="gate for recall@3 (hybrid)")
            ax.set_xticks(range(1, 6))
            ax.set_xlabel("k")
            ax.set_ylabel("recall@k (relevant or also ok)")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{name}: recall@k by retriever")
            ax.legend()
        out["recall"] = _png(fig)
    if plots.get("latency"):
        values = list(plots["latency"])
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(values, bins=40, color="#4c72b0")
        for q, style in ((50, "--"), (95, ":")):
            v = percentile(values, q)
            ax.axvline(v, color="black", linestyle=style, label=f"p{q} {v:.1f} ms")
        ax.set_xlabel("reply latency (ms, in process)")
        ax.set_ylabel("replies")
        ax.set_title(f"Latency of {len(values)} replies")
        ax.legend()
        out["latency"] = _png(fig)
    return out


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


# ---- markdown ---------------------------------------------------------------------------------
def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value != int(value):
        return f"{value:.{digits}f}"
    return str(int(value)) if isinstance(value, (int, float)) else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return _f(v).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(cell(v) for v in r) + " |" for r in rows
    ]


def _status(gate: Mapping[str, Any]) -> str:
    if gate["status"] == "broken":
        return "BROKEN"
    if gate.get("target"):
        return f"target {'met' if gate['status'] == 'passed' else gate['status']}"
    return str(gate["status"])


def _quote(text: str) -> list[str]:
    return ["> " + line if line.strip() else ">" for line in str(text).splitlines()] or [">"]


def _kinds(results: Mapping[str, Any]) -> dict[str, list[str]]:
    """Dataset names by kind, in manifest order, as the run recorded them."""
    out: dict[str, list[str]] = {}
    for d in results.get("manifest", []):
        out.setdefault(d["kind"], []).append(d["name"])
    return out


def markdown(results: dict[str, Any], images: Sequence[str]) -> str:
    m = results["metrics"]
    mach = results["machine"]
    broken = [g for g in results["gates"] if g["status"] == "broken"]
    missed = [g for g in results["gates"] if g["status"] == "missed"]
    out = [
        "# physio-assistant evaluation report",
        "",
        f"Run {results['started']}, {results['seconds']:.0f} s, on {mach['cpu']} ({mach['cores']} cores, {mach['memory_gb']} GB), "
        f"Python {mach['python']}, 1-min load average {mach.get('load_average', ['?'])[0]} at the end. Model `{results['model']}`, {results['mode']} answers. Datasets: {', '.join(results['evaluators'])}.",
        "",
        f"**{'All gates passed.' if not broken else f'{len(broken)} gate(s) broken: ' + '; '.join(g['gate'] for g in broken)}**"
        + (
            f" Target(s) not met yet (reported, not failing): {'; '.join(g['gate'] for g in missed)}." if missed else ""
        ),
        "",
        "## Gates",
        "",
        *_table(
            ["Gate", "Value", "Status", "Why"],
            [[g["gate"], g["value"], _status(g), g["why"]] for g in results["gates"]],
        ),
        "",
    ]
    kinds = _kinds(results)
    triage = [d for d in kinds.get("triage", []) + kinds.get("training-only", []) if f"{d}.n" in m]
    if triage:
        out += ["## Triage", ""]
        out += _table(
            [
                "Dataset",
                "Messages",
                "Exact level",
                "Emergency missed",
                "Urgent missed",
                "Negated over-triage",
                "Over-triage (any)",
                "Flag recall",
            ],
            [
                [
                    d,
                    m[f"{d}.n"],
                    m[f"{d}.accuracy"],
                    f"{_f(m[f'{d}.under_triage.emergency'])} / {_f(m[f'{d}.emergency.n'])}",
                    f"{_f(m[f'{d}.under_triage.urgent'])} / {_f(m[f'{d}.urgent.n'])}",
                    f"{_f(m[f'{d}.over_triage.negated'])} / {_f(m[f'{d}.negated.n'])} ({_f(m[f'{d}.over_triage.negated_rate'])})",
                    m[f"{d}.over_triage.any_rate"],
                    m.get(f"{d}.flag_recall"),
                ]
                for d in triage
            ],
        )
        kinds_of_message = sorted(
            {
                k.split(".")[2]
                for k in m
                if k.startswith(tuple(f"{d}.kind." for d in triage)) and k.endswith(".accuracy")
            }
        )
        out += ["", "Exact-level accuracy by kind of message (n in brackets):", ""]
        out += _table(
            ["Kind", *triage],
            [
                [
                    k,
                    *[
                        f"{_f(m[f'{d}.kind.{k}.accuracy'])} ({_f(m[f'{d}.kind.{k}.n'])})"
                        if f"{d}.kind.{k}.n" in m
                        else "—"
                        for d in triage
                    ],
                ]
                for k in kinds_of_message
            ],
        )
        if "confusion" in images:
            out += ["", "![Triage confusion matrix](confusion.png)"]
        out.append("")
    retrieval = [d for d in kinds.get("retrieval", []) if f"{d}.hybrid.n" in m]
    peer = [d for d in kinds.get("retrieval", []) if f"peer.{d}.project.n" in m]
    if retrieval or peer:
        out += ["## Retrieval", ""]
    if retrieval:
        counts = ", ".join(f"{d} {_f(m[d + '.hybrid.n'])}" for d in retrieval)
        out += [
            f"Questions: {counts}. Recall@3 and MRR (lenient) accept 'also ok' articles; strict figures do not.",
            "",
        ]
        out += _table(
            ["Dataset", "Retriever", "Recall@1", "Recall@3", "Recall@3 strict", "Recall@5", "MRR", "MRR lenient"],
            [
                [
                    d,
                    mode,
                    m[f"{d}.{mode}.recall@1"],
                    m[f"{d}.{mode}.recall@3"],
                    m[f"{d}.{mode}.recall@3_strict"],
                    m[f"{d}.{mode}.recall@5"],
                    m[f"{d}.{mode}.mrr"],
                    m[f"{d}.{mode}.mrr_lenient"],
                ]
                for d in retrieval
                for mode in ("dense", "bm25", "hybrid")
            ],
        )
        by_kind = [
            (d, k)
            for d in retrieval
            for k in sorted(
                {
                    x.split(".")[2]
                    for x in m
                    if x.startswith(f"{d}.hybrid.") and x.endswith(".mrr") and x.count(".") == 3
                }
            )
        ]
        if by_kind:
            out += [
                "",
                *_table(
                    ["Dataset", "Hybrid, by kind", "n", "Recall@1", "Recall@3", "MRR"],
                    [
                        [
                            d,
                            k,
                            m[f"{d}.hybrid.{k}.n"],
                            m[f"{d}.hybrid.{k}.recall@1"],
                            m[f"{d}.hybrid.{k}.recall@3"],
                            m[f"{d}.hybrid.{k}.mrr"],
                        ]
                        for d, k in by_kind
                    ],
                ),
            ]
    if peer:
        out += [
            "",
            "The peer row: on the held-out sets, the reply's first cited article (exercise cards aside; a refusal is a miss) "
            f"against a plain LangChain RAG over the same articles and encoder ({_f(m.get('peer.langchain.chunks'))} chunks of 500 characters, "
            "overlap 50, top 3 by dense similarity, the message alone, no refusal), in the same run. Topical = relevant or also ok.",
            "",
        ]
        rows = []
        for d in [*peer, "pooled"]:
            for system, label in (("project", "this project"), ("langchain", "LangChain RAG (peer)")):
                p = f"peer.{d}.{system}"
                rows.append(
                    [
                        d,
                        label,
                        m[f"{p}.n"],
                        m[f"{p}.topical_hit"],
                        m[f"{p}.primary_relevant"],
                        m[f"{p}.any_cited_topical"],
                        m[f"{p}.refusal_rate"],
                    ]
                )
            rows.append([d, "lead (this project - peer)", "", f"{m[f'peer.{d}.lead']:+.3f}", "", "", ""])
        out += _table(
            [
                "Dataset",
                "System",
                "Questions",
                "Topical hit",
                "First cited relevant (strict)",
                "Any cited topical",
                "Refused",
            ],
            rows,
        )
    if retrieval and "recall" in images:
        out += ["", "![Recall@k by retriever](recall.png)"]
    if retrieval or peer:
        out.append("")
    for d in [d for d in kinds.get("answers", []) if f"{d}.n" in m]:
        answer_kinds = sorted(
            {k.split(".")[1] for k in m if k.startswith(f"{d}.") and k.endswith(".pass_rate") and k.count(".") == 2}
        )
        out += [
            f"## Answers ({d})" if d != "answers" else "## Answers",
            "",
            f"{_f(m[f'{d}.n'])} rows, {_f(m[f'{d}.pass_rate'])} behave as expected.",
            "",
        ]
        out += _table(
            ["Kind", "Rows", "As expected", "Refused"],
            [[k, m[f"{d}.{k}.n"], m[f"{d}.{k}.pass_rate"], m[f"{d}.{k}.refusal_rate"]] for k in answer_kinds],
        )
        out.append("")
    if "replies.n" in m:
        out += ["## Every reply of the run", ""]
        names = [
            ("Replies", "replies.n"),
            ("Disclaimer present", "replies.disclaimer_rate"),
            ("Dose mentions", "replies.dose_mentions"),
            ("Diagnosis wording", "replies.diagnosis_mentions"),
            ("Exercises at urgent/emergency", "replies.exercises_at_urgent_or_emergency"),
            ("Emergency number first", "replies.emergency_number_first_rate"),
            ("Citation mismatches", "replies.citation_mismatches"),
            ("Answers without sources", "replies.answers_without_sources"),
            ("Unsupported sentences", "replies.unsupported_sentences"),
            ("Sentences from uncited sources", "replies.uncited_sentences"),
            ("Sentences checked", "replies.sentences_checked"),
            ("Refused", "replies.refusal_rate"),
            ("Latency p50 (ms)", "latency.p50_ms"),
            ("Latency p95 (ms)", "latency.p95_ms"),
        ]
        out += _table(["Check", "Value"], [[label, m.get(key)] for label, key in names])
        if "latency" in images:
            out += ["", "![Latency distribution](latency.png)"]
        out.append("")
    if "content.sections" in m:
        out += ["## Content (lint)", ""]
        out += _table(
            [
                "Answer sections",
                "Reading grade median",
                "Grade p90",
                "Above grade 9",
                "40-120 words",
                "Question headings",
                "Absolute claims to review",
            ],
            [
                [
                    m["content.sections"],
                    m["content.grade_median"],
                    m["content.grade_p90"],
                    m["content.sections_over_grade_9"],
                    m["content.sections_in_word_range"],
                    m["content.question_headings"],
                    m["content.absolute_claims"],
                ]
            ],
        )
        out += [
            "",
            "Flesch-Kincaid grade per `##` section; the claims are listed by `pytest tests/test_content_lint.py`.",
            "",
        ]
    if "regression.n" in m:
        out += ["## Regression (clinician reviews)", ""]
        out += _table(
            ["Reviewed", "Same level", "Level drops", "Mean similarity", "Drifted"],
            [
                [
                    m["regression.n"],
                    m["regression.level_agreement"],
                    m["regression.level_drops"],
                    m["regression.similarity_mean"],
                    m["regression.drifted"],
                ]
            ],
        )
        out.append("")

    failures = results["failures"]
    gated = [g["metric"] for g in broken]
    if broken:
        out += ["## Broken gates: the cases", ""]
        for g in broken:
            cases = failures.get(g["metric"], [])
            out += [f"### {g['gate']}: got {_f(g['value'])}", "", g["why"], ""]
            out += (
                _cases(g["metric"], cases)
                if cases
                else ["(no individual cases: the metric is missing or is an aggregate)", ""]
            )
    rest = [k for k in failures if k not in gated]
    if rest:
        out += ["## Other cases to read", ""]
        for key in rest:
            out += _cases(key, failures[key])
    out += ["", f"Time (s): {', '.join(f'{k} {v:g}' for k, v in results['timings'].items())}", ""]
    return "\n".join(out)


def _cases(key: str, cases: list[dict[str, Any]]) -> list[str]:
    title, note = title_of(key)
    out = [f"#### {title}: {len(cases)}", ""]
    if note:
        out += [f"_{note}_", ""]
    if key.startswith("peer."):
        return (
            out
            + _table(
                ["Id", "Question", "Relevant", "This project cites", "LangChain cites", "LangChain hit"],
                [
                    [
                        c["id"],
                        c["message"],
                        ", ".join(c["expected"]),
                        c["project"],
                        c["langchain"],
                        "yes" if c["langchain_hit"] else "no",
                    ]
                    for c in cases
                ],
            )
            + [""]
        )
    if key.endswith(_COMPACT):
        return (
            out
            + _table(
                ["Id", "Question", "Relevant", "Top 3 (hybrid)", "Rank"],
                [
                    [c["id"], c["message"], ", ".join(c["expected"]), ", ".join(c["got"][:3]), c.get("rank")]
                    for c in cases
                ],
            )
            + [""]
        )
    for c in cases:
        head = f"**{c['id']}** ({c['dataset']}{', ' + c['kind'] if c.get('kind') else ''})"
        if "expected" in c and c["dataset"] != "retrieval":
            head += f": expected **{c['expected']}**, got **{c.get('level')}**"
        out += [head, ""]
        if c.get("source"):
            out += [f"- Source: {c['source']}"]
        if c["dataset"] == "retrieval":
            out += [
                f"- Relevant: {', '.join(c['expected'])}",
                f"- Got (hybrid, best first): {', '.join(c['got']) or 'nothing'}",
            ]
        if c.get("flags") is not None and c["dataset"] != "retrieval":
            out += [
                f"- Flags: {', '.join(c['flags']) or 'none'}"
                + (f"; expected {', '.join(c['expected_flags'])}" if c.get("expected_flags") else "")
            ]
        if c.get("screening_question"):
            out += [f"- Screening question asked: {c['screening_question']}"]
        if c.get("sources"):
            out += [f"- Sources: {', '.join(s['id'] + ' (' + s['kind'] + ')' for s in c['sources'])}"]
        if c.get("exercises"):
            out += [f"- Exercises: {', '.join(e['id'] for e in c['exercises'])}"]
        for p in c.get("problems") or []:
            out += [f"- Problem: {p}"]
        out.append("")
        for turn in c.get("history") or []:
            out += _quote(
                f"**{'Patient' if turn['role'] == 'user' else 'Assistant'} (earlier):** {turn['content']}"
            ) + [""]
        out += _quote(f"**Patient:** {c['message']}") + [""]
        if c.get("answer"):
            out += ["Answer:", "", *_quote(c["answer"]), ""]
        if c.get("expected_answer"):
            out += ["Reviewed answer:", "", *_quote(c["expected_answer"]), ""]
    return out


# ---- html -------------------------------------------------------------------------------------
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d1d1f}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef2f7}blockquote{margin:.4em 0 .8em;padding:.3em .9em;border-left:4px solid #9ab;background:#f6f8fa}
img{max-width:100%;border:1px solid #dde;margin:.5em 0}h2{border-bottom:2px solid #dde;padding-bottom:.2em;margin-top:1.6em}
td:nth-child(3){white-space:nowrap}code{background:#f0f0f4;padding:0 .2em}
"""


def html(md: str, images: Mapping[str, bytes]) -> str:
    """Self-contained HTML from the Markdown report; PNGs inlined; raw HTML in the text escaped."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    body = body.replace("<td>BROKEN</td>", '<td style="color:#b00020;font-weight:bold">BROKEN</td>')
    body = body.replace("<td>passed</td>", '<td style="color:#0a7d32">passed</td>')
    body = body.replace("<td>target missed</td>", '<td style="color:#a15c00">target missed</td>')
    for name, png in images.items():
        body = body.replace(f'src="{name}.png"', f'src="data:image/png;base64,{base64.b64encode(png).decode()}"')
    return f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>physio-assistant evaluation</title><style>{_CSS}</style></head><body>\n{body}</body></html>\n'
