"""Shared test helpers: run the CLI for real, write definitions, build plans."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "runbooks").glob("*.yaml"))

MINIMAL = """\
version: 1
plan:
  name: mini
  title: Minimal plan
sites:
  a:
    role: primary
    hosts:
      h1: {address: 10.0.0.1, user: root}
resources:
  - id: one
    title: First
    site: a
    run: echo one
"""


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m compiler ARGS` as a user would; never raises on a non-zero exit."""
    full_env = dict(os.environ)
    full_env.pop("RUNBOOK_DEBUG", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def write(tmp_path: Path):
    """write(text, name="plan.yaml") -> path of a definition file in a temporary folder."""

    def _write(text: str | bytes, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(dedent(text), encoding="utf-8")
        return path

    return _write


def plan_of(text: str, tmp_path: Path):
    """The Plan of a definition given as text (raises DefinitionError when invalid)."""
    from compiler.pipeline import compile_file

    path = tmp_path / "plan.yaml"
    path.write_text(dedent(text), encoding="utf-8")
    return compile_file(str(path))
