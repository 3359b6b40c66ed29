"""The pre-commit hooks (.pre-commit-hooks.yaml), run for real by `pre-commit` in a throwaway repository.

pre-commit clones this project at a revision and pip-installs it into its own virtual
environment, as it does for any user. So that the test exercises the code in this working
tree (which may hold uncommitted changes), the hooks come from a snapshot: HEAD when the
tree is clean, else a temporary git repository holding a copy of the tree, committed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import MINIMAL, ROOT, run_cli

HELLO = MINIMAL.replace("name: mini", "name: hello")


# --- the commands as the hooks call them (several files at once) -----------------------------


def test_validate_takes_several_files_and_reports_each(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HELLO, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(HELLO.replace("site: a", "site: b"), encoding="utf-8")
    one = run_cli("validate", "a.yaml", cwd=tmp_path)
    bad = run_cli("validate", "b.yaml", cwd=tmp_path)
    both = run_cli("validate", "b.yaml", "a.yaml", "missing.yaml", cwd=tmp_path)
    assert both.returncode == 1
    assert both.stdout == one.stdout
    assert both.stderr == bad.stderr + "missing.yaml: error: no such file\n"
    assert run_cli("validate", "a.yaml", "a.yaml", cwd=tmp_path).stdout == one.stdout * 2


def test_the_hooks_file_declares_both_hooks() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [(h["id"], h["entry"], h["language"]) for h in hooks] == [
        ("runbook-validate", "runbook validate", "python"),
        ("runbook-check", "runbook check", "python"),
    ]
    pattern = re.compile(hooks[0]["files"])
    assert [bool(pattern.search(p)) for p in (
        "runbooks/shop.yaml", "ops/runbooks/shop.yml", "runbooks/notes.md", ".github/workflows/ci.yaml",
    )] == [True, True, False, False]
    pytest.importorskip("pre_commit")
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# --- the real thing ---------------------------------------------------------------------------

_NETWORK = re.compile(
    r"Temporary failure in name resolution|NewConnectionError|Network is unreachable|"
    r"No matching distribution found|Could not find a version that satisfies|ConnectTimeout|ReadTimeout"
)


def _git(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def _snapshot(target: Path, env: dict[str, str]) -> tuple[str, str]:
    """(repository, revision) holding this working tree exactly: HEAD if clean, else a copy committed."""
    status = _git(ROOT, "status", "--porcelain", "--untracked-files=all", env=env)
    if status.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {status.stderr.strip()}")
    if not status.stdout:
        return str(ROOT), _git(ROOT, "rev-parse", "HEAD", env=env).stdout.strip()
    listing = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", env=env).stdout
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if not os.path.lexists(source):  # deleted in the working tree, not yet in the index
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "snapshot of the working tree")):
        done = _git(target, *args, env=env)
        assert done.returncode == 0, done.stderr
    return str(target), _git(target, "rev-parse", "HEAD", env=env).stdout.strip()


@pytest.mark.slow
def test_pre_commit_refuses_a_stale_runbook_and_passes_a_fresh_one(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        # A user's own git configuration (core.hooksPath, signing) must not change the test.
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("RUNBOOK_DEBUG", None)
    (tmp_path / "snapshot").mkdir()
    hooks_repo, rev = _snapshot(tmp_path / "snapshot", env)

    repo = tmp_path / "dr-plans"
    (repo / "runbooks").mkdir(parents=True)
    assert _git(repo, "init", "-q", "-b", "main", env=env).returncode == 0
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hooks_repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: runbook-validate\n"
        "      - id: runbook-check\n"
        "        args: [-o, build]\n",
        encoding="utf-8",
    )
    definition = repo / "runbooks" / "hello.yaml"
    definition.write_text(HELLO, encoding="utf-8")
    assert run_cli("build", "runbooks/hello.yaml", "-o", "build", cwd=repo).returncode == 0

    def pre_commit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", *args], cwd=repo, env=env, capture_output=True, text=True,
            timeout=600,
        )

    def commit(message: str) -> str:
        """The exit status and output of `git commit` (git shows a hook's output on stderr)."""
        done = _git(repo, "commit", "-q", "-m", message, env=env)
        return f"exit {done.returncode}\n{done.stdout}{done.stderr}"

    def commits() -> int:
        return int(_git(repo, "rev-list", "--count", "--all", env=env).stdout.strip() or 0)

    assert pre_commit("install").returncode == 0
    started = time.monotonic()
    installed = pre_commit("install-hooks")
    if installed.returncode != 0 and _NETWORK.search(installed.stdout + installed.stderr):
        pytest.skip("pre-commit could not install the hook's environment (no network to PyPI?)")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert time.monotonic() - started < 300

    # A definition with its fresh outputs: both hooks pass and the commit is made.
    _git(repo, "add", "-A", env=env)
    fresh = commit("Hello plan")
    assert fresh.startswith("exit 0\n"), fresh
    assert re.search(r"^validate runbook definitions\.+Passed$", fresh, re.MULTILINE)
    assert re.search(r"^check generated runbooks are up to date\.+Passed$", fresh, re.MULTILINE)
    assert commits() == 1

    # The definition changes, the outputs are not rebuilt: the commit is refused.
    definition.write_text(HELLO.replace("run: echo one", "run: echo two"), encoding="utf-8")
    expected = run_cli("check", "runbooks/hello.yaml", "-o", "build", cwd=repo)
    assert expected.returncode == 1
    assert expected.stderr.endswith(
        "runbooks/hello.yaml: note: to update the outputs, run: runbook build runbooks/hello.yaml -o build\n"
    )
    _git(repo, "add", "runbooks/hello.yaml", env=env)
    stale = commit("Change the command")
    assert stale.startswith("exit 1\n"), stale
    assert re.search(r"^validate runbook definitions\.+Passed$", stale, re.MULTILINE)
    assert re.search(r"^check generated runbooks are up to date\.+Failed$", stale, re.MULTILINE)
    assert "- hook id: runbook-check\n- exit code: 1\n\n" + expected.stderr in stale
    assert commits() == 1

    # Rebuilt as the message says: the commit passes.
    assert run_cli("build", "runbooks/hello.yaml", "-o", "build", cwd=repo).returncode == 0
    _git(repo, "add", "-A", env=env)
    rebuilt = commit("Change the command, rebuilt")
    assert rebuilt.startswith("exit 0\n"), rebuilt
    assert commits() == 2

    # An invalid definition is refused by the validate hook, with the located error.
    definition.write_text(HELLO.replace("site: a", "site: b"), encoding="utf-8")
    invalid_message = run_cli("validate", "runbooks/hello.yaml", cwd=repo).stderr
    _git(repo, "add", "-A", env=env)
    invalid = commit("Break it")
    assert invalid.startswith("exit 1\n"), invalid
    assert "- hook id: runbook-validate\n- exit code: 1\n\n" + invalid_message in invalid
    assert commits() == 2
    definition.write_text(HELLO.replace("run: echo one", "run: echo two"), encoding="utf-8")
    _git(repo, "add", "-A", env=env)

    # A runbook edited by hand passes a commit that touches only it (the hooks run for
    # definitions), and is caught by `pre-commit run --all-files`, as CI runs it.
    runbook = repo / "build" / "hello.md"
    runbook.write_text(runbook.read_text(encoding="utf-8") + "\nA note added by hand.\n", encoding="utf-8")
    _git(repo, "add", "-A", env=env)
    assert commit("Edit the runbook by hand").startswith("exit 0\n")
    everything = pre_commit("run", "--all-files")
    assert everything.returncode == 1
    assert "build/hello.md: error: differs from what runbook build writes now" in everything.stdout
