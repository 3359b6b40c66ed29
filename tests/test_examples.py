"""runbooks/*.yaml: every example validates, plans, builds and rehearses through the CLI.

The examples are how teams learn to model their own estate, so their commands are held to
the standard of real ones: valid bash, shellcheck clean, every host used, no placeholders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, ROOT, run_cli

SHELLCHECK = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
#: SC2016: single-quoted `$` is intended in awk programs, curl -w formats and SQL.
SHELLCHECK_EXCLUDE = "SC2016"

examples = pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)


def definition(example: Path) -> dict:
    return yaml.safe_load(example.read_text("utf-8"))


def commands(example: Path) -> list[tuple[str, str, str]]:
    """(step id, "run" or "verify", command) for every command of an example."""
    return [
        (r["id"], key, r[key])
        for r in definition(example)["resources"]
        for key in ("run", "verify")
        if key in r
    ]


def test_there_are_the_promised_examples():
    names = {p.stem for p in EXAMPLES}
    assert {"webshop-failover", "webshop-failback", "single-node-startup"} <= names
    assert any(len(definition(p)["sites"]) >= 3 for p in EXAMPLES), "no three-site example"
    assert any(len(definition(p)["sites"]) == 1 for p in EXAMPLES), "no single-site example"


@examples
def test_example_validates(example: Path):
    result = run_cli("validate", f"runbooks/{example.name}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"runbooks/{example.name}: valid: plan '{example.stem}'")
    assert result.stderr == ""


@examples
def test_example_plans_as_text_and_json(example: Path):
    text = run_cli("plan", f"runbooks/{example.name}")
    assert text.returncode == 0, text.stderr
    as_json = run_cli("plan", "--format", "json", f"runbooks/{example.name}")
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    ids = [r["id"] for r in definition(example)["resources"]]
    assert sorted(s["id"] for s in plan["steps"]) == sorted(ids)
    assert [s["number"] for s in plan["steps"]] == list(range(1, len(ids) + 1))
    for step in plan["steps"]:
        assert f"{step['number']}. {step['id']}" in text.stdout


@examples
def test_example_builds_and_its_script_rehearses(example: Path, tmp_path: Path):
    result = run_cli("build", f"runbooks/{example.name}", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    script = tmp_path / f"{example.stem}.sh"
    runbook = tmp_path / f"{example.stem}.md"
    assert runbook.is_file() and script.is_file()
    assert os.access(script, os.X_OK)
    plan = json.loads(run_cli("plan", "--format", "json", f"runbooks/{example.name}").stdout)
    assert plan["fingerprint"] in runbook.read_text("utf-8")

    dry = subprocess.run(
        [str(script), "--dry-run"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    count = len(plan["steps"])
    for step in plan["steps"]:
        assert f"Step {step['number']}/{count}: {step['id']}" in dry.stdout
    assert not list(tmp_path.glob("*.journal")), "a dry run must not write a journal"

    listing = subprocess.run(
        [str(script), "--list"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert all(step["id"] in listing.stdout for step in plan["steps"])


@examples
def test_example_commands_are_valid_bash(example: Path, tmp_path: Path):
    problems = []
    for step, key, command in commands(example):
        path = tmp_path / f"{step}.{key}.sh"
        path.write_text(f"#!/usr/bin/env bash\n{command}\n", "utf-8")
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        if syntax.returncode != 0:
            problems.append(f"{step} {key}: {syntax.stderr.strip()}")
    assert not problems, "\n".join(problems)


@examples
def test_example_commands_pass_shellcheck(example: Path, tmp_path: Path):
    files = []
    for step, key, command in commands(example):
        path = tmp_path / f"{step}.{key}.sh"
        path.write_text(f"#!/usr/bin/env bash\n{command}\n", "utf-8")
        files.append(str(path))
    result = subprocess.run(
        [SHELLCHECK, "-e", SHELLCHECK_EXCLUDE, *files], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout


@examples
def test_example_uses_every_host_it_declares(example: Path):
    data = definition(example)
    used = {(r["site"], r["host"]) for r in data["resources"] if "host" in r}
    declared = {(site, host) for site, s in data["sites"].items() for host in (s.get("hosts") or {})}
    assert declared - used == set(), f"hosts declared but never used: {sorted(declared - used)}"


@examples
def test_example_is_named_after_its_file_and_explains_itself(example: Path):
    text = example.read_text("utf-8")
    assert definition(example)["plan"]["name"] == example.stem, "plan.name must match the file name"
    assert text.startswith("# "), "an example opens with a comment saying what it is for"
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 8, "examples teach: explain the modelling choices in comments"
    assert not re.search(r"\b(TODO|FIXME|XXX|changeme|lorem ipsum)\b", text, re.I)
