"""The benchmark's verdicts against the issues' targets, its Markdown table and its plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# targets from the issues (issue 4 "Done means", issue 3 "Benchmark", issue 12 "Done when"); the bench reports, CI decides
TARGETS = {
    "turn_p50_ratio": ("<=", 0.5),
    "turn_p95_ratio": ("<=", 1.0),
    "jsonl_200_seconds": ("<", 20.0),
    "triage_p95_ms": ("<=", 5.0),
    "cold_start_ratio": ("<=", 0.25),
    "ask_vs_sentence_transformers": ("<=", 0.25),
    "serving_peak_rss_mb": ("<=", 350.0),
    "ingest_vs_raw_throughput": (">=", 1.5),
    "web_p95_vs_sentence_transformers": ("<=", 0.25),
}


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values = {
        "turn_p50_ratio": results["turn"]["turn_p50_ratio"],
        "turn_p95_ratio": results["turn"]["turn_p95_ratio"],
        "jsonl_200_seconds": results["jsonl"]["jsonl_seconds"],
        "triage_p95_ms": results["turn"]["triage_p95_ms"],
        "cold_start_ratio": results["cold_start"]["cold_start_ratio"],
        "ask_vs_sentence_transformers": results["cold_start"]["ask_vs_sentence_transformers"],
        "serving_peak_rss_mb": results["memory"]["serving_peak_rss_mb"],
        "ingest_vs_raw_throughput": results["ingest"]["ingest_vs_raw_throughput"],
    }
    if results.get("web_pair", {}).get("web_p95_vs_sentence_transformers") is not None:
        values["web_p95_vs_sentence_transformers"] = results["web_pair"]["web_p95_vs_sentence_transformers"]
    ops = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b}
    return {
        k: {"value": v, "target": f"{TARGETS[k][0]} {TARGETS[k][1]:g}", "met": ops[TARGETS[k][0]](v, TARGETS[k][1])}
        for k, v in values.items()
    }


def markdown(r: dict[str, Any]) -> str:
    t, i, c, j, mem = r["turn"], r["ingest"], r["cold_start"], r["jsonl"], r["memory"]
    tg = r["targets"]

    def mark(key: str) -> str:
        return f" ({'meets' if tg[key]['met'] else 'MISSES'} {tg[key]['target']})"

    m = r["machine"]
    rows = [
        (
            "Per-turn latency p50",
            f"{t['reply_ms']['p50']:.1f} ms vs bare sentence-transformers encode {t['encode_ms']['p50']:.1f} ms",
            f"{t['turn_p50_ratio']:.2f}x" + mark("turn_p50_ratio"),
        ),
        (
            "Per-turn latency p95",
            f"{t['reply_ms']['p95']:.1f} ms vs bare sentence-transformers encode {t['encode_ms']['p95']:.1f} ms",
            f"{t['turn_p95_ratio']:.2f}x" + mark("turn_p95_ratio"),
        ),
        (
            "Served query encode p50",
            f"{t['served_encode_ms']['p50']:.1f} ms ({t['backend']}) vs {t['encode_ms']['p50']:.1f} ms; a whole turn is {t['turn_p50_vs_served_encode']:.2f}x the served encode",
            f"{t['served_encode_p50_ratio']:.2f}x",
        ),
        (
            "Triage alone p95",
            f"{t['triage_ms']['p95']:.2f} ms (p50 {t['triage_ms']['p50']:.2f} ms)",
            f"{t['triage_p95_vs_encode_p95']:.3f}x encode p95" + mark("triage_p95_ms"),
        ),
        (
            "Ingest throughput",
            f"{i['ingest_chunks_per_s']:.0f} chunks/s vs raw sentence-transformers encode {i['raw_encode_chunks_per_s']:.0f} chunks/s ({i['chunks']} chunks; raw served encode {i['served_raw_encode_s']:.1f} s)",
            f"{i['ingest_vs_raw_throughput']:.2f}x" + mark("ingest_vs_raw_throughput"),
        ),
        (
            "Unchanged re-ingest",
            f"{i['reingest_unchanged_s']:.2f} s vs full ingest {i['full_ingest_s']:.1f} s",
            f"{i['reingest_vs_full']:.3f}x",
        ),
        (
            "Cold start to first answer",
            f"{c['ask_first_answer_s']:.1f} s vs bare sentence-transformers load + 1 encode {c['bare_model_load_s']:.1f} s (median of {c['runs']}; very first ask, building the sentence cache: {c['first_ever_ask_s']:.1f} s)",
            f"{c['cold_start_ratio']:.2f}x" + mark("cold_start_ratio"),
        ),
        (
            "One-shot `ask`",
            f"{c['ask_first_answer_s']:.1f} s vs {c['ask_sentence_transformers_s']:.1f} s on the sentence-transformers path (peak RSS {c['ask_peak_rss_mb']:.0f} vs {c['ask_sentence_transformers_peak_rss_mb']:.0f} MB)",
            f"{c['ask_vs_sentence_transformers']:.2f}x" + mark("ask_vs_sentence_transformers"),
        ),
        (
            f"`ask --jsonl`, {j['messages']} messages",
            f"{j['jsonl_seconds']:.1f} s incl. model load (median of {j['runs']}, range {j['jsonl_seconds_min_max'][0]:.1f}-{j['jsonl_seconds_min_max'][1]:.1f} s; {j['replies_seconds']:.1f} s of it in replies), {j['errors']} errors",
            mark("jsonl_200_seconds").strip(" ()"),
        ),
        (
            "Serving memory (peak RSS, `ask --jsonl`)",
            f"{mem['serving_peak_rss_mb']:.0f} MB vs bare sentence-transformers model {mem['bare_model_peak_rss_mb']:.0f} MB",
            f"{mem['serving_vs_bare_model']:.2f}x" + mark("serving_peak_rss_mb"),
        ),
    ]
    if "triage_long" in r:
        tl = r["triage_long"]
        for size in (1000, 4000, 8000):
            rows.append(
                (
                    f"Triage of a new {size:,}-character message, p50 / p95",
                    f"rules {tl[f'rules_{size}']['p50']:.1f} / {tl[f'rules_{size}']['p95']:.1f} ms; rules + net {tl[f'rules_net_{size}']['p50']:.1f} / {tl[f'rules_net_{size}']['p95']:.1f} ms",
                    "target (rules) 5 ms at 1,000 and 50 ms at 8,000",
                )
            )
        if "rules_1000_distinct" in tl:
            d = tl["rules_1000_distinct"]
            rows.append(
                (
                    "Triage (rules) of 40 different new 1,000-character messages, p50 / p95",
                    f"{d['p50']:.1f} / {d['p95']:.1f} ms",
                    "target 5 ms (p95)",
                )
            )
        rows.append(
            (
                "Triage with 10 long history turns (1,200 characters each), p50 / p95",
                f"rules {tl['rules_history_10x1200']['p50']:.1f} / {tl['rules_history_10x1200']['p95']:.1f} ms; rules + net {tl['rules_net_history_10x1200']['p50']:.1f} / {tl['rules_net_history_10x1200']['p95']:.1f} ms",
                "",
            )
        )
    if "web_pair" in r:
        rows += _web_pair_rows(r["web_pair"], mark)
    if "web" in r:
        w = r["web"]
        rows.append(
            (
                f"Web load ({w['visitors']} visitors x {w['messages_each']})",
                f"p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms, {w['errors']} errors, {w['skipped_after_timeout']} skipped",
                f"server peak {w['server_peak_rss_mb']} MB" if w["server_peak_rss_mb"] else "",
            )
        )
    if "web" not in r and "web_pair" not in r:
        rows.append(("Web load", "not run (give --web, or --url / PHYSIO_BENCH_URL)", ""))
    if "int8" in r:
        q = r["int8"]
        rows.append(("int8 dynamic quantisation", q["summary"], "kept" if q["keep_int8"] else "not kept: fp32 stays"))
    lines = [
        f"Benchmarks, {r['started']}, on {m['cpu']} ({m['cores']} cores, {m['memory_gb']} GB), Python {m['python']}; took {r['timings']['total']:.0f} s; "
        f"1-min load average {r['load_average_start'][0]:g} at the start, {r['load_average_end'][0]:g} at the end (a busy machine slows the absolute figures, less so the ratios).",
        "",
        "| Figure | Measured side by side | Ratio |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c_} |" for a, b, c_ in rows]
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    samples = r["turn"]["samples"]
    ax1.boxplot([samples["encode"], samples.get("served_encode", []), samples["reply"]], showfliers=True)
    ax1.set_xticks([1, 2, 3], ["bare s-t encode", "served encode", "assistant.reply"])
    ax1.set_yscale("log")
    ax1.set_ylabel("ms per message (log)")
    ax1.set_title(f"Per-turn latency, {r['turn']['n']} messages")
    labels = [
        "turn p50",
        "turn p95",
        "ingest\nthroughput",
        "re-ingest\nvs full",
        "cold start",
        "one-shot\nask",
        "memory",
    ]
    values = [
        r["turn"]["turn_p50_ratio"],
        r["turn"]["turn_p95_ratio"],
        r["ingest"]["ingest_vs_raw_throughput"],
        r["ingest"]["reingest_vs_full"],
        r["cold_start"]["cold_start_ratio"],
        r["cold_start"]["ask_vs_sentence_transformers"],
        r["memory"]["serving_vs_bare_model"],
    ]
    bars = ax2.bar(labels, values, color="#4c72b0")
    for bar, v in zip(bars, values, strict=True):
        ax2.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:.2f}x", ha="center", va="bottom", fontsize=9)
    ax2.axhline(1.0, color="grey", linestyle=":")
    ax2.set_title("Ratios to the bare baseline (1.0 = same as baseline)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _web_pair_rows(wp: dict[str, Any], mark: Callable[[str], str]) -> list[tuple[str, str, str]]:
    """Both paths under each load generator that ran (gradio_client; the lean client, when present)."""
    rows: list[tuple[str, str, str]] = []
    for suffix, by in (("", "gradio_client"), ("_lean", "lean client")):
        if "onnx" + suffix not in wp:
            continue
        for name, label in (("onnx", "served (ONNX)"), ("sentence_transformers", "sentence-transformers path")):
            w = wp[name + suffix]
            generator = w.get("load_generator_cpu_ms_per_call")
            rows.append(
                (
                    f"Web load, {label} ({w['visitors']} visitors x {w['messages_each']}, {by})",
                    f"p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms, {w['errors']} errors, {w['skipped_after_timeout']} skipped; "
                    f"server CPU {w['server_cpu_ms_per_call']:.0f} ms per call"
                    + (f", load generator {generator:.0f} ms per call" if generator is not None else "")
                    + f"; server ready in {w['server_ready_s']:.1f} s",
                    f"server peak {w['server_peak_rss_mb']} MB",
                )
            )
        key = "web_p95_vs_sentence_transformers" + suffix
        if wp.get(key) is not None:
            rows.append(
                (
                    f"Web load p95, served vs sentence-transformers ({by})",
                    f"p50 ratio {wp['web_p50_vs_sentence_transformers' + suffix]:.2f}x",
                    f"{wp[key]:.2f}x" + (mark(key) if not suffix else ""),
                )
            )
    return rows
