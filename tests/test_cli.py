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
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


@pytest.mark.slow
def test_ask_jsonl_answers_every_line_and_reports_bad_lines(built_settings) -> None:
    lines = [
        json.dumps({"id": "c1", "message": "is walking ok?"}),
        "{not json",
        json.dumps({"id": "c3", "message": 42}),
        json.dumps({"id": "c4", "message": "and how long for?", "history": [{"role": "user", "content": "is walking ok?"}, {"role": "assistant", "content": "Yes, walking helps."}]}),
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
