"""The `physio-assistant` command: a thin layer over the conversation API and the pipelines."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from assistant.errors import PhysioError
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.seams import StoreBuilder

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Sciatica and back pain assistant for physiotherapy clinics."
)
err = Console(stderr=True)
out = Console()


def _settings(*, data: bool = True) -> Settings:
    """The settings; with `data`, the data folder is made (or kept) private to this user first (0700)."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"PHYSIO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        _fail(PhysioError(f"A setting is not valid: {problems}"))
    if data:
        from assistant.private_files import private_dir

        private_dir(settings.data_dir)
    return settings


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]Error:[/] {exc}")
    raise typer.Exit(2)


def _assistant(settings: Settings, records: Any = None) -> Any:
    from assistant.conversation import Assistant

    return Assistant.load(settings, records=records, build=_store_builder(), say=lambda m: err.print(f"[dim]{m}[/]"))


def _store_builder() -> StoreBuilder:
    """The offline pipeline that builds an empty store: the command line hands it to the assistant,
    which never imports `ingest` itself (tests/test_layers.py)."""
    from ingest.pipeline import ingest as build

    return build


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Extra documents (.md, .txt, .html, .pdf) to add as draft sources.")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-embed everything (e.g. after changing the model).")
    ] = False,
) -> None:
    """Load, validate, chunk and embed the knowledge base (and your documents) into the store."""
    from rich.progress import Progress

    from assistant.embeddings import load_embedder
    from ingest.pipeline import ingest as run

    settings = _settings()
    try:
        embedder = load_embedder(settings, repair=True, say=lambda m: err.print(f"[dim]{m}[/]"))
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("Embedding", total=None)
            summary = run(
                settings,
                embedder,
                list(paths or []),
                rebuild=rebuild,
                progress=lambda d, t: progress.update(task, completed=d, total=t),
            )
    except PhysioError as exc:
        _fail(exc)
    for problem in summary.problems:
        err.print(f"[yellow]Skipped:[/] {problem}")
    out.print(f"[green]Ingest done:[/] {summary.line()}")


@app.command()
def ask(
    message: Annotated[str | None, typer.Argument(help="Your question.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Contract 1 JSON object.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Read JSON lines on stdin, write one JSON line per input.")
    ] = False,
) -> None:
    """Ask one question, or answer a stream of JSON lines (`--jsonl`)."""
    settings = _settings()
    try:
        assistant = _assistant(settings)
    except PhysioError as exc:
        _fail(exc)
    if jsonl:
        _jsonl(assistant)
        return
    if message is None:
        _fail(PhysioError('Give a question, e.g. physio-assistant ask "Is walking OK with sciatica?"'))
    reply = assistant.reply(message)
    if as_json:
        sys.stdout.write(json.dumps(reply.contract(), ensure_ascii=False) + "\n")
    else:
        _show(reply)


_ID = re.compile(r'"id"\s*:\s*("(?:[^"\\\n]|\\.)*"|-?\d+(?:\.\d+)?)')
_ERROR_CHARS = 300


def salvage_id(line: str) -> str | None:
    """The `id` of a line that is not valid JSON, when it can still be read.

    >>> salvage_id('{"id": "c7", "message": "my back hu')
    'c7'
    >>> salvage_id('{"message": "no id here"') is None
    True
    """
    match = _ID.search(line)
    if match is None:
        return None
    try:
        return _id_text(json.loads(match.group(1)))
    except ValueError:
        return None


def _id_text(value: object) -> str | None:
    return None if value is None else str(value)


def _jsonl(assistant: Any) -> None:
    from assistant.errors import InputError

    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        obj_id: str | None = None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise InputError("each line must be a JSON object")
            obj_id = _id_text(obj.get("id"))
            if "message" not in obj or not isinstance(obj["message"], str):
                raise InputError("`message` must be a string")
            reply = assistant.reply(obj["message"], obj.get("history"), id=obj_id)
            result: dict[str, Any] = reply.contract()
        except json.JSONDecodeError as exc:
            result = {"id": salvage_id(line), "error": f"line {n}: not valid JSON: {exc.msg} at column {exc.colno}"}
        except (InputError, PhysioError) as exc:
            result = {"id": obj_id, "error": f"line {n}: {exc}"}
        except Exception as exc:  # noqa: BLE001 - one bad line never stops the run
            detail = str(exc)
            detail = detail if len(detail) <= _ERROR_CHARS else detail[: _ERROR_CHARS - 3] + "..."
            result = {
                "id": obj_id,
                "error": f"line {n}: internal error ({type(exc).__name__}{': ' + detail if detail else ''})",
            }
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def _show(reply: Any) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel

    style = {"emergency": "bold white on red", "urgent": "bold black on yellow"}.get(reply.triage.level.value)
    if style:
        out.print(Panel(f"{reply.triage.level.value.upper()}", style=style))
    out.print(Markdown(reply.answer))
    out.print(f"[dim]{reply.latency_ms:.0f} ms[/]")


@app.command()
def chat() -> None:
    """An interactive terminal chat that keeps the conversation (Ctrl-D or 'quit' to leave)."""
    settings = _settings()
    try:
        assistant = _assistant(settings)
    except PhysioError as exc:
        _fail(exc)
    from rich.panel import Panel

    from assistant.clinic_hours import open_status

    clinic = assistant.kb.clinic
    import datetime as dt
    from zoneinfo import ZoneInfo

    out.print(
        Panel(
            "Hello! I can answer questions about sciatica and back "
            f"pain.\n{open_status(clinic).sentence(clinic, dt.datetime.now(ZoneInfo(clinic.timezone)))}",
            title=clinic.name,
        )
    )
    history: list[dict[str, str]] = []
    choices: list[str] = []
    while True:
        try:
            message = out.input("[bold cyan]You:[/] ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            break
        if message.strip().lower() in {"quit", "exit", "bye"}:
            break
        message = pick_choice(message, choices)
        reply = assistant.reply(message, history)
        _show(reply)
        if reply.suggestions:
            out.print("[dim]Type a number to choose one.[/]")
        choices = [s.message for s in reply.suggestions]
        history += [{"role": "user", "content": message}, {"role": "assistant", "content": reply.answer}]


def pick_choice(message: str, choices: list[str]) -> str:
    """'2' after a "Did you mean...?" list is the second choice's question; anything else is itself.

    >>> pick_choice(" 2 ", ["Is walking good?", "How far should I walk?"])
    'How far should I walk?'
    >>> pick_choice("4", ["a"])
    '4'
    """
    text = message.strip()
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return choices[int(text) - 1]
    return message


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
) -> None:
    """Start the web app: patient chat at /, clinician review at /review, health at /healthz."""
    from assistant.web.server import run

    try:
        run(_settings(data=False), host=host, port=port, build=_store_builder())  # `run` makes the folder private
    except PhysioError as exc:
        _fail(exc)


@app.command()
def migrate(
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 unless the database is at this version's schema.")
    ] = False,
) -> None:
    """Bring the records database to this version's schema (`serve` does it at start too)."""
    from assistant.records.engine import open_engine, parse, where
    from assistant.records.migrate import head, status, upgrade

    settings = _settings()
    url = parse(settings.records_url)
    engine = open_engine(url)
    try:
        if check:
            revision = status(engine)
            expected = head()
            if revision != expected:
                out.print(
                    f"Records database {where(url)}: "
                    f"{'not migrated' if revision is None else f'at revision {revision}'}; this version needs "
                    f"revision {expected} (run physio-assistant migrate)."
                )
                raise typer.Exit(1)
            out.print(f"Records database {where(url)}: at revision {revision}, as this version needs.")
            return
        outcome = upgrade(engine)
    except PhysioError as exc:
        _fail(exc)
    finally:
        engine.dispose()
    out.print(f"Records database {where(url)}: {outcome.line()}.")


@app.command()
def purge(
    days: Annotated[
        int | None,
        typer.Option(help="Delete conversations older than this many days (default: the retention setting)."),
    ] = None,
) -> None:
    """Delete old conversations from the records database (clinician-approved answers are kept)."""
    from assistant.records import Records

    settings = _settings()
    count = Records(settings.records_url).purge(days if days is not None else settings.retention_days)
    out.print(f"Deleted {count} conversation(s).")


@app.command("hash-password")
def hash_password(
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Print a scrypt hash for PHYSIO_REVIEW_PASSWORD_HASH (the password itself is never stored)."""
    from assistant.web.auth import hash_password as make

    try:
        print(make(password))  # plain print: a wrapped hash would be copied broken
    except PhysioError as exc:
        _fail(exc)


@app.command("eval")
def run_eval(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the report goes.")] = Path("eval-out"),
    only: Annotated[
        str | None, typer.Option(help="Run one evaluator (triage, retrieval, answers, regression).")
    ] = None,
) -> None:
    """Run every dataset through the real pipeline, write the report, fail on a broken gate."""
    from evals.runner import main as run

    code = run(_settings(data=False), out_dir, only)
    raise typer.Exit(code)


@app.command("train-triage")
def train_triage(
    knowledge: Annotated[
        Path | None, typer.Option(help="Knowledge folder to write into (default: the configured one).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether the shipped weights match the training data.")
    ] = False,
) -> None:
    """Retrain the learned red-flag net from every labelled triage message (same data, same weights)."""
    from evals.train_cli import run_train_triage

    try:
        code = run_train_triage(_settings(), knowledge, check_only=check, say=err.print)
    except PhysioError as exc:
        _fail(exc)
    raise typer.Exit(code)


@app.command("train-scope")
def train_scope(
    knowledge: Annotated[
        Path | None, typer.Option(help="Knowledge folder to write into (default: the configured one).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether the shipped read-out matches its training data.")
    ] = False,
) -> None:
    """Retrain the scope read-out (which questions the knowledge base is for) from its training texts."""
    from evals.train_cli import run_train_scope

    try:
        code = run_train_scope(_settings(), knowledge, check_only=check, say=err.print)
    except PhysioError as exc:
        _fail(exc)
    raise typer.Exit(code)


@app.command()
def bench(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the results go.")] = Path("bench-out"),
    url: Annotated[
        str | None, typer.Option(help="A running server on loopback to load-test (50 visitors x 5 messages).")
    ] = None,
    server_pid: Annotated[int | None, typer.Option(help="That server's process id, to read its memory.")] = None,
    soak_minutes: Annotated[
        float, typer.Option(help="After the load test, a steady soak of this many minutes (needs --url).")
    ] = 0.0,
    web: Annotated[
        bool,
        typer.Option(
            "--web", help="Start a server per embedding path on loopback and load-test both (50 visitors x 5)."
        ),
    ] = False,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also try int8 dynamic quantisation against fp32 in one eval run.")
    ] = False,
) -> None:
    """Measure speed as ratios against bare model operations, measured side by side."""
    from evals.bench import main as run

    started = time.perf_counter()
    run(_settings(data=False), out_dir, url=url, server_pid=server_pid, soak_minutes=soak_minutes, web=web, int8=int8)
    err.print(f"[dim]bench took {time.perf_counter() - started:.0f} s[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
