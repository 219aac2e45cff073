"""The `minutebook` command as a user runs it: a real process, real exit codes and output."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLES
from llm_server import LLMServer

from minutebook.core.embedded import start_embedded, stop_embedded


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minutebook.api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINUTEBOOK_", "DATABASE_URL")) or k == "MINUTEBOOK_MODELS_DIR"  # one model export
    }
    return {**env, **extra}


HEAVY = {"torch", "transformers", "sentence_transformers", "openai", "onnxruntime"}


def imported(args: list[str], env: dict[str, str]) -> set[str]:
    """Top-level packages a command imported (from `python -X importtime`)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "minutebook.api", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}


def test_help_imports_nothing_heavy() -> None:
    assert not imported(["--help"], clean_env()) & (HEAVY | {"numpy", "psycopg"})


def test_embedded_default_starts_once_and_is_reused(tmp_path: Path) -> None:
    env = clean_env(MINUTEBOOK_HOME=str(tmp_path / "home"))
    try:
        ingest = run(["ingest", str(SAMPLES), "--json"], env)
        assert ingest.returncode == 0, ingest.stderr
        report = json.loads(ingest.stdout)
        assert [f["status"] for f in report["files"]] == ["new", "new"]
        first = json.loads(run(["db", "info"], env).stdout)
        assert first["mode"] == "embedded" and first["running"]

        search = run(["search", "Okta SSO timeline", "--json", "--k", "2"], env)
        assert search.returncode == 0, search.stderr
        hits = json.loads(search.stdout)["hits"]
        assert hits[0]["section_path"] == ["Engineering Deep Dive (Oct 23)", "SSO Integration Status"]
        dated = run(["search", "what did we decide last week", "--as-of", "2025-10-29"], env)
        assert '"last week" interpreted as 2025-10-20 .. 2025-10-26' in dated.stdout
        sql = run(["query", "SQL SELECT count(*) AS n FROM meetings", "--json"], env)
        assert json.loads(sql.stdout)["rows"] == [[2]]
        refused = run(["query", "SQL DELETE FROM meetings"], env)
        assert refused.returncode == 1 and "only SELECT" in refused.stderr
        assert json.loads(run(["db", "info"], env).stdout)["pid"] == first["pid"]  # no second server

        status = run(["db", "status", "--json"], env)
        assert {m["state"] for m in json.loads(status.stdout)} == {"applied"}

        owner = run(["who-owns", "Okta SSO", "--json"], env)
        assert owner.returncode == 0, owner.stderr
        answer = json.loads(owner.stdout)
        assert answer["found"] and answer["item"]["owners"][0]["name"] == "Sarah Chen"
        assert answer["item"]["due_date"] == "2025-11-15"
        readable = run(["who-owns", "Okta SSO"], env).stdout
        assert "Sarah Chen" in readable and "(Sarah, Nov 15)" in readable
        nobody = run(["who-owns", "kubernetes upgrade"], env)
        assert nobody.returncode == 0 and "Not in the notes: no note mentions “kubernetes”" in nobody.stdout

        extractive = run(["ask", "When will Okta SSO be ready?"], env)
        assert extractive.returncode == 0, extractive.stderr
        assert "mode: extractive" in extractive.stdout and "Sources" in extractive.stdout
        with LLMServer() as llm:
            llm_env = {**env, "OPENAI_BASE_URL": llm.base_url}
            first = json.loads(run(["ask", "When will Okta SSO be ready?", "--json"], llm_env).stdout)
            assert first["mode"] == "llm" and first["citations"][0]["section"].endswith("SSO Integration Status")
            streamed = run(["ask", "when will okta SSO be ready"], llm_env)
            assert "exact hit" in streamed.stdout and llm.request_count == 1
            assert f"wrong? minutebook cache reject {first['cache']['entry_id']}" in streamed.stdout
        report = json.loads(run(["cost-report", "--since", "1d", "--format", "json"], env).stdout)
        assert report["totals"]["questions"] == 3 and report["totals"]["exact_hits"] == 1
        stats = json.loads(run(["cache", "stats", "--json"], env).stdout)
        assert stats["entries"] == 1 and stats["hits"] == 1 and stats["rejected"] == 0
        rejected = run(["cache", "reject", str(first["cache"]["entry_id"]), "--json"], env)
        assert rejected.returncode == 0 and json.loads(rejected.stdout)["intent"] == "when"
        assert "no cached answer" in run(["cache", "reject", "999999"], env).stderr

        assert not imported(["items", "--json"], env) & HEAVY  # no model, no LLM SDK: they load in seconds
        items = run(["items", "--owner", "Mike", "--status", "done", "--json"], env)
        assert [i["text"] for i in json.loads(items.stdout)] == ["API Rate Limiting (Week 2-3)"]
        bad = run(["items", "--due-before", "next week"], env)
        assert bad.returncode == 2 and "--due-before takes a date" in bad.stderr
    finally:
        stopped = run(["db", "stop"], env)
        assert "stopped" in stopped.stdout
    assert not json.loads(run(["db", "info"], env).stdout)["running"]


def test_database_url_is_used_instead_of_the_embedded_server(tmp_path: Path) -> None:
    pgdata = tmp_path / "other-pgdata"
    url = start_embedded(pgdata, database="elsewhere")
    home = tmp_path / "home"
    env = clean_env(DATABASE_URL=url, MINUTEBOOK_HOME=str(home), MINUTEBOOK_TENANT="acme")
    try:
        (tmp_path / "empty.md").write_text("")
        result = run(["ingest", str(SAMPLES / "2024-11-15-q4-planning.txt"), str(tmp_path / "empty.md")], env)
        assert result.returncode == 1
        assert "empty.md: the file is empty" in result.stderr
        assert "Traceback" not in result.stderr
        assert re.search(r"│\s+1 │\s+0 │\s+0 │\s+1 │", result.stdout)  # new, updated, unchanged, failed
        assert not (home / "pgdata").exists()
        migrated = run(["db", "status", "--json"], env)
        assert {m["state"] for m in json.loads(migrated.stdout)} == {"applied"}
    finally:
        stop_embedded(pgdata)


def test_unreachable_database_url_is_one_clear_line(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    result = run(["db", "status"], env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to the database")
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = run(["--help"], clean_env())
    assert result.returncode == 0
    for command in ("ingest", "ask", "search", "query", "who-owns", "items", "cost-report", "cache", "db"):
        assert command in result.stdout


def test_commands_run_at_once_on_a_fresh_home_all_succeed(tmp_path: Path) -> None:
    """The first calls race to start the embedded server: one starts it, the others reuse it."""
    env = clean_env(MINUTEBOOK_HOME=str(tmp_path / "home"))
    cmds = [["items", "--json"], ["meetings", "--json"], ["cost-report", "--format", "json"]]
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "minutebook.api", *c],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for c in cmds
        ]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
        assert [code for code, _ in results] == [0, 0, 0], results
    finally:
        run(["db", "stop"], env)
