"""Helpers to build a generated script from a definition and run it as an operator would."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

from compiler.pipeline import compile_file
from compiler.render_script import render_script

PROMPT = r"\[y\] run   \[s\] skip   \[a\] run this and all remaining without asking   \[q\] quit: "
FAILED_PROMPT = r"\[r\] retry   \[s\] skip   \[d\] done by hand   \[q\] quit: "
MANUAL_PROMPT = r"Type 'done' when it is done"


@dataclass(frozen=True)
class Built:
    """A generated script in its own folder, with the journal and log beside it."""

    script: Path

    @property
    def folder(self) -> Path:
        return self.script.parent

    @property
    def journal(self) -> Path:
        return self.script.with_suffix(".journal")

    @property
    def log(self) -> Path:
        return self.script.with_suffix(".log")

    def journal_lines(self) -> list[list[str]]:
        """The journal's events (header left out), each split into its fields."""
        if not self.journal.exists():
            return []
        lines = self.journal.read_text().splitlines()[1:]
        return [line.split("\t") for line in lines]

    def ends(self) -> list[tuple[str, str]]:
        """(step id, status) of every END event, in order."""
        return [(f[4], f[5]) for f in self.journal_lines() if f[0] == "END"]


def build(tmp_path: Path, definition: str, name: str = "plan") -> Built:
    """Compile `definition` (YAML text) and write the script into tmp_path/<plan name>.sh."""
    source = tmp_path / f"{name}.yaml"
    source.write_text(textwrap.dedent(definition).lstrip("\n"), encoding="utf-8")
    plan = compile_file(str(source))
    script = tmp_path / f"{plan.info.name}.sh"
    script.write_text(render_script(plan), encoding="utf-8")
    script.chmod(0o755)
    return Built(script)


def local_plan(resources: str, name: str = "drill", extra_hosts: str = "") -> str:
    """A one-site definition around the given `resources:` items (YAML, indented by 2)."""
    return (
        "version: 1\n"
        f"plan: {{name: {name}, title: Drill plan}}\n"
        "sites:\n"
        "  a:\n"
        "    role: primary\n"
        + (f"    hosts:\n{extra_hosts}" if extra_hosts else "")
        + "resources:\n"
        + textwrap.dedent(resources).strip("\n").replace("\n", "\n  ").join(["  ", "\n"])
    )


def spawn(built: Built, *args: str, env: dict[str, str] | None = None, timeout: int = 20) -> pexpect.spawn:
    """Start the script under a real pseudo-terminal."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "NO_COLOR")}
    full_env.update({"TERM": "dumb", "NO_COLOR": "1"})
    if env:
        full_env.update(env)
    child = pexpect.spawn(
        str(built.script), list(args), cwd=str(built.folder), env=full_env,
        encoding="utf-8", timeout=timeout, dimensions=(50, 200),
    )
    return child


def finish(child: pexpect.spawn) -> int:
    """Wait for the end of the run and return its exit status."""
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return int(child.exitstatus)


def run_without_terminal(built: Built, *args: str, env: dict[str, str] | None = None, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """Run the script with no controlling terminal and no input, as cron or CI would."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [str(built.script), *args], cwd=built.folder, env=full_env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout, start_new_session=True,
    )


def wait_gone(pid: int, *, group: bool = False, timeout: float = 10.0) -> bool:
    """Whether the process (or process group) `pid` is gone within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            (os.killpg if group else os.kill)(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
