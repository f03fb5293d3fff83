"""Contract 1 through the real command: `ask --json` and `ask --jsonl`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(args: list[str], data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHYSIO_DATA_DIR": str(data_dir), "PHYSIO_KNOWLEDGE_DIR": str(ROOT / "knowledge")}
    exe = Path(sys.executable).parent / "physio-assistant"
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )


@pytest.mark.slow
def test_ask_jsonl_answers_every_line_and_reports_bad_lines(built_settings) -> None:
    lines = [
        json.dumps({"id": "c1", "message": "is walking ok?"}),
        "{not json",
        json.dumps({"id": "c3", "message": 42}),
        json.dumps(
            {
                "id": "c4",
                "message": "and how long for?",
                "history": [
                    {"role": "user", "content": "is walking ok?"},
                    {"role": "assistant", "content": "Yes, walking helps."},
                ],
            }
        ),
        json.dumps({"id": "c5", "message": "hi", "history": [{"role": "robot"}]}),
        json.dumps({"id": "c6", "message": "I can't feel my bum when I wipe"}),
    ]
    proc = run_cli(["ask", "--jsonl"], built_settings.data_dir, "\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 6
    assert out[0]["id"] == "c1" and out[0]["triage"]["level"] == "self_care" and out[0]["disclaimer"]
    assert "error" in out[1] and "error" in out[2] and out[2]["id"] == "c3"
    assert out[3]["id"] == "c4" and "error" not in out[3]
    assert "error" in out[4] and "history" in out[4]["error"]
    assert out[5]["triage"]["level"] == "emergency" and out[5]["triage"]["flags"][0]["id"] == "cauda_equina"
    assert out[5]["exercises"] == []


@pytest.mark.slow
def test_ask_json_prints_one_contract_object(built_settings) -> None:
    proc = run_cli(["ask", "why does my leg tingle?", "--json"], built_settings.data_dir)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["answer"] and obj["sources"] and obj["refused"] is False


@pytest.mark.slow
def test_a_missing_store_is_built_on_first_use_and_says_so(tmp_path: Path) -> None:
    proc = run_cli(["ask", "is swimming good for back pain?", "--json"], tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert "building it now" in proc.stderr
    assert json.loads(proc.stdout)["sources"]


@pytest.mark.slow
def test_a_corrupt_store_gives_a_clear_message_not_a_stack_trace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "chroma").mkdir(parents=True)
    (data / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    proc = run_cli(["ask", "is walking ok?"], data)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "ingest --rebuild" in proc.stderr


def _jsonl_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lines: list[str]
) -> list[dict[str, object]]:
    """`ask --jsonl`'s line handling over a stand-in assistant (the real one is tested above)."""
    import io

    from assistant.cli import _jsonl
    from assistant.models import Reply

    class Echo:
        def reply(self, message: str, history: object = None, *, id: str | None = None) -> Reply:
            if message == "boom":
                raise RuntimeError("the store went away while answering")
            return Reply(id=id, answer=message, disclaimer="d")

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    _jsonl(Echo())
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_a_malformed_line_still_answers_with_its_id_and_says_where(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _jsonl_lines(
        monkeypatch,
        capsys,
        [
            '{"id": "c7", "message": "my back hu',  # cut short
            '{"id": 12, "message": "a", }',  # trailing comma
            '{"message": "no id", "id": "c9" "history": []}',  # missing comma, id after the message
            "{not json at all",
        ],
    )
    assert [o["id"] for o in out] == ["c7", "12", "c9", None]
    assert out[0]["error"].startswith("line 1: not valid JSON: ") and "column" in out[0]["error"]
    assert "line 2" in out[1]["error"] and "line 3" in out[2]["error"]


def test_errors_say_what_went_wrong(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = _jsonl_lines(
        monkeypatch,
        capsys,
        [
            json.dumps({"id": 5, "message": "boom"}),
            json.dumps({"id": "ok", "message": "fine"}),
            json.dumps({"id": 6, "message": 42}),
        ],
    )
    assert out[0] == {"id": "5", "error": "line 1: internal error (RuntimeError: the store went away while answering)"}
    assert out[1]["id"] == "ok" and out[1]["answer"] == "fine"
    assert out[2] == {"id": "6", "error": "line 3: `message` must be a string"}
