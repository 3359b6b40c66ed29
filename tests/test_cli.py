"""The `runbook` command line, run as a user runs it: exit codes, stdout, stderr."""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import build_parser, main
from tests.conftest import EXAMPLES, ROOT, dedent, run_cli

EXAMPLE = ROOT / "runbooks" / "webshop-failover.yaml"

SMALL = """\
version: 1
plan:
  name: small
  title: Small failover
  rto: 1h
sites:
  fra:
    role: primary
    hosts:
      fra-db1: {address: 10.1.0.11, user: postgres}
  dub:
    role: dr
    hosts:
      dub-db1: {address: db1.dub.example.net, user: postgres, port: 2222}
resources:
  - id: declare
    title: Declare the disaster
    site: dub
    instructions: Call the incident commander.
    estimate: 10m
  - id: promote-db
    title: Promote the replica
    site: dub
    host: dub-db1
    run: pg_ctl promote
    requires: [fence-db]
    estimate: 5m
  - id: fence-db
    title: Fence the old primary
    site: fra
    host: fra-db1
    run: systemctl stop postgresql
    after: [declare]
    estimate: 2m
  - id: notify
    title: Notify support
    site: dub
    run: notify-support
    after: [declare]
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


# --- validate -------------------------------------------------------------------------------


def test_validate_prints_a_one_line_summary_and_exits_0(small: Path) -> None:
    result = run_cli("validate", "small.yaml", cwd=small.parent)
    fingerprint = json.loads(run_cli("plan", "--format", "json", str(small)).stdout)["fingerprint"]
    assert result.stdout == (
        "small.yaml: valid: plan 'small', 4 steps (1 manual) in 3 waves; estimated critical "
        f"path 17m (RTO 1h), 2 sites, 2 hosts; fingerprint {fingerprint[:12]}\n"
    )
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid(example: Path) -> None:
    result = run_cli("validate", str(example.relative_to(ROOT)))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"runbooks/[\w.-]+\.yaml: valid: plan '[\w-]+', .*; fingerprint [0-9a-f]{12}\n", result.stdout)
    assert result.stderr == ""


def test_validate_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SMALL.replace("role: dr", "role: DR").replace("[fence-db]", "[fence]"))
    result = run_cli("validate", "bad.yaml", cwd=tmp_path)
    assert result.stderr == (
        "bad.yaml:12:11: error: site 'dub': 'role' must be one of primary, dr, other, not 'DR'; "
        "did you mean 'dr'?\n"
        "bad.yaml:26:16: error: resource 'promote-db': 'requires' names unknown resource 'fence'; "
        "did you mean 'fence-db'?\n"
        "2 errors\n"
    )
    assert (result.returncode, result.stdout) == (1, "")


# --- plan -----------------------------------------------------------------------------------


def test_plan_text_shows_waves_numbers_ids_places_and_waits(small: Path) -> None:
    result = run_cli("plan", "small.yaml", cwd=small.parent)
    fingerprint = json.loads(run_cli("plan", "--format", "json", str(small)).stdout)["fingerprint"]
    assert result.stdout == dedent(f"""
        Plan small: Small failover
        Source: small.yaml
        Fingerprint: {fingerprint}
        4 steps (1 manual) in 3 waves; estimated critical path 17m (RTO 1h)

        Wave 1 (1 step)
          1. declare     manual  dub/local
             Declare the disaster

        Wave 2 (2 steps, could run in parallel)
          2. fence-db    run     fra/fra-db1 (postgres@10.1.0.11)
             Fence the old primary
             after: 1 declare
          4. notify      run     dub/local
             Notify support
             after: 1 declare

        Wave 3 (1 step)
          3. promote-db  run     dub/dub-db1 (postgres@db1.dub.example.net:2222)
             Promote the replica
             requires: 2 fence-db
        """)
    assert (result.returncode, result.stderr) == (0, "")
    assert run_cli("plan", "--format", "text", "small.yaml", cwd=small.parent).stdout == result.stdout


def test_plan_json_holds_the_fingerprint_and_every_step(small: Path) -> None:
    result = run_cli("plan", "--format", "json", "small.yaml", cwd=small.parent)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.endswith("}\n")
    data = json.loads(result.stdout)
    assert re.fullmatch(r"[0-9a-f]{64}", data["fingerprint"])
    steps = [
        {key: step[key] for key in ("number", "id", "wave", "site", "host", "requires", "after")}
        for step in data["steps"]
    ]
    assert steps == [
        {"number": 1, "id": "declare", "wave": 1, "site": "dub", "host": None, "requires": [], "after": []},
        {"number": 2, "id": "fence-db", "wave": 2, "site": "fra", "host": "fra-db1", "requires": [], "after": ["declare"]},
        {"number": 3, "id": "promote-db", "wave": 3, "site": "dub", "host": "dub-db1", "requires": ["fence-db"], "after": []},
        {"number": 4, "id": "notify", "wave": 2, "site": "dub", "host": None, "requires": [], "after": ["declare"]},
    ]
    assert data["waves"] == [[1], [2, 4], [3]]
    assert data["critical_path"] == {"steps": [1, 2, 3], "seconds": 17 * 60}


def test_plan_fingerprint_matches_validate_and_build_sources(small: Path) -> None:
    plan = json.loads(run_cli("plan", "--format", "json", str(small)).stdout)
    summary = run_cli("validate", str(small)).stdout
    assert summary.rstrip("\n").endswith(f"fingerprint {plan['fingerprint'][:12]}")


# --- usage errors: exit 2 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("frobnicate", "x.yaml"), "argument COMMAND: invalid choice: 'frobnicate'"),
        (("validate",), "the following arguments are required: FILE"),
        (("plan",), "the following arguments are required: FILE"),
        (("validate", "--strict", "x.yaml"), "unrecognized arguments: --strict"),
        (("plan", "--format", "xml", "x.yaml"), "argument --format: invalid choice: 'xml'"),
        (("plan", "--format"), "argument --format: expected one argument"),
        (("plan", "a.yaml", "b.yaml"), "unrecognized arguments: b.yaml"),
        (("validate", ""), "argument FILE: must not be empty; pass the path of a definition file"),
        (("plan", ""), "argument FILE: must not be empty; pass the path of a definition file"),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_wrong(args: tuple[str, ...], words: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: runbook")
    assert words in result.stderr
    _no_traceback(result)


def _commands() -> list[str]:
    """Every subcommand the parser knows, so that a new one is covered without editing this."""
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(subparsers.choices)


def test_the_contract_commands_exist() -> None:
    assert {"validate", "plan", "build"} <= set(_commands())


@pytest.mark.parametrize("command", [()] + [(name,) for name in _commands()])
def test_help_on_every_command_exits_0(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: runbook {command[0] if command else ''}".rstrip())
    assert result.stderr == ""


def test_version_exits_0() -> None:
    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, "runbook-compiler 0.1.0\n")


# --- files that cannot be read ----------------------------------------------------------------


def test_a_missing_file_is_named_with_a_close_match(tmp_path: Path) -> None:
    (tmp_path / "webshop-failover.yaml").write_text(SMALL)
    result = run_cli("validate", "webshop-failvoer.yaml", cwd=tmp_path)
    assert result.stderr == "webshop-failvoer.yaml: error: no such file; did you mean 'webshop-failover.yaml'?\n"
    assert (result.returncode, result.stdout) == (1, "")
    result = run_cli("plan", "nothing-like-it.yaml", cwd=tmp_path)
    assert result.stderr == "nothing-like-it.yaml: error: no such file\n"
    assert (result.returncode, result.stdout) == (1, "")


def test_a_missing_file_in_another_folder_is_suggested_with_its_folder(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "failover.yaml").write_text(SMALL)
    result = run_cli("validate", "plans/failovr.yaml", cwd=tmp_path)
    assert result.stderr == "plans/failovr.yaml: error: no such file; did you mean 'plans/failover.yaml'?\n"


def test_a_directory_is_not_a_definition(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path))
    assert result.stderr == f"{tmp_path}: error: is a directory, not a definition file; pass a .yaml file\n"
    assert (result.returncode, result.stdout) == (1, "")


def test_a_path_through_a_file_is_no_such_file(small: Path) -> None:
    result = run_cli("plan", "small.yaml/plan.yaml", cwd=small.parent)
    assert result.stderr == (
        "small.yaml/plan.yaml: error: no such file (a part of the path before the file name "
        "is a file, not a directory)\n"
    )
    assert result.returncode == 1


def test_an_unreadable_file_is_reported_not_a_traceback() -> None:
    # Root reads any file whatever its mode; without the DAC capabilities it cannot.
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is missing to drop root's read-anything capability")
    prefix = (
        ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
        if os.geteuid() == 0
        else []
    )
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "secret.yaml"
        path.write_text(SMALL)
        path.chmod(0)
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "compiler", "validate", str(path)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
    finally:
        (folder / "secret.yaml").chmod(stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(folder)
    assert result.stderr == f"{path}: error: permission denied: cannot read the file; check its permissions (ls -l)\n"
    assert (result.returncode, result.stdout) == (1, "")


def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "two\nlines.yaml").write_text("version: 2\n")
    result = run_cli("validate", "two\nlines.yaml", cwd=tmp_path)
    assert result.stderr.startswith("two\\x0alines.yaml:1:1: error: ")
    assert all(line.startswith("two\\x0alines.yaml:") or line.endswith(" errors") for line in result.stderr.splitlines())


def test_a_closed_stdout_is_not_an_error(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "compiler", "plan", str(EXAMPLE)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # like `runbook plan x | head -1`
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert first.startswith(b"Plan webshop-failover: ")
    assert "Traceback" not in stderr
    assert process.returncode == 0


# --- never a traceback --------------------------------------------------------------------------


_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "duplicate", "swap"]),
        st.integers(0, 10_000),
        st.integers(0, 40),
        st.text(alphabet=" \t\n:-[]{},#&*!|>'\"?%@`~0123456789abcxyzé\x00\x07\ufeff", max_size=8),
    ),
    min_size=1,
    max_size=6,
)


def _mutate(text: str, mutations: list[tuple[str, int, int, str]]) -> str:
    for kind, at, length, chars in mutations:
        at %= max(len(text), 1)
        if kind == "delete":
            text = text[:at] + text[at + length :]
        elif kind == "insert":
            text = text[:at] + chars + text[at:]
        else:
            lines = text.split("\n")
            i = at % max(len(lines), 1)
            j = (at + length) % max(len(lines), 1)
            if kind == "duplicate":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def _run_in_process(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_MUTATIONS, st.sampled_from(["validate", "plan"]))
def test_no_damaged_definition_makes_the_compiler_crash(mutations, command) -> None:
    text = _mutate(EXAMPLE.read_text(encoding="utf-8"), mutations)
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "damaged.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        code, out, err = _run_in_process([command, str(path)])
    finally:
        shutil.rmtree(folder)
    assert code in (0, 1), err
    assert "internal error" not in err
    if code == 1:
        assert out == ""
        assert err.startswith(str(path))
    else:
        assert err == ""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_no_random_bytes_make_the_compiler_crash(data: bytes) -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "random.yaml"
        path.write_bytes(data)
        code, out, err = _run_in_process(["validate", str(path)])
    finally:
        shutil.rmtree(folder)
    assert code == 1, err
    assert "internal error" not in err and out == ""


_SCALARS = (
    st.none() | st.booleans() | st.integers(-5, 70_000) | st.floats(allow_nan=False)
    | st.sampled_from(["primary", "dr", "fra", "dub", "fra-db1", "dub-db1", "", " ", "5m", "promote-db"])
    | st.text(max_size=5)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["id", "title", "site", "host", "run", "requires", "role", "address"]), inner, max_size=3),
    max_leaves=10,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


_EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
_EXAMPLE_PATHS = _paths(_EXAMPLE_DATA)[1:]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_EXAMPLE_PATHS), _VALUES, st.booleans()), min_size=1, max_size=3))
def test_no_edited_value_makes_the_compiler_crash(edits) -> None:
    """Replace or delete values anywhere in the example: wrong shapes, types, references."""
    data = copy.deepcopy(_EXAMPLE_DATA)
    for path, value, delete in edits:
        node = data
        with contextlib.suppress(KeyError, IndexError, TypeError):
            for step in path[:-1]:
                node = node[step]
            if delete:
                del node[path[-1]]
            else:
                node[path[-1]] = value
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "edited.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        code, out, err = _run_in_process(["plan", str(path)])
    finally:
        shutil.rmtree(folder)
    assert code in (0, 1), err
    assert "internal error" not in err
    assert (out == "") == (code == 1)


# --- both entry points, same bytes everywhere -------------------------------------------------------


def test_python_dash_m_and_the_runbook_script_give_the_same_output() -> None:
    script = Path(sys.executable).parent / "runbook"
    assert script.exists(), "the console script is installed with the package"
    for args in (["validate", str(EXAMPLE)], ["plan", str(EXAMPLE)], ["plan", "--format", "json", str(EXAMPLE)]):
        by_module = run_cli(*args)
        by_script = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert by_module.returncode == by_script.returncode == 0
        assert by_module.stdout == by_script.stdout
        assert by_script.stdout


def test_plan_json_is_byte_identical_across_runs_hash_seeds_and_paths(tmp_path: Path) -> None:
    outputs: dict[str, str] = {}
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    variants = {
        "relative": (ROOT, "runbooks/webshop-failover.yaml", "0"),
        "relative again": (ROOT, "runbooks/webshop-failover.yaml", "0"),
        "hash seed 1": (ROOT, "runbooks/webshop-failover.yaml", "1"),
        "hash seed 4242": (ROOT, "runbooks/webshop-failover.yaml", "4242"),
        "bare name": (ROOT / "runbooks", "webshop-failover.yaml", "7"),
        "absolute": (elsewhere, str(EXAMPLE), "random"),
        "dot-dot": (ROOT / "tests", "../runbooks/./webshop-failover.yaml", "3"),
    }
    for name, (cwd, path, seed) in variants.items():
        result = run_cli("plan", "--format", "json", path, cwd=cwd, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        outputs[name] = result.stdout
    assert len(set(outputs.values())) == 1, [name for name in outputs if outputs[name] != outputs["relative"]]
    assert json.loads(outputs["relative"])["source"] == "webshop-failover.yaml"


def test_plan_text_is_byte_identical_across_hash_seeds() -> None:
    texts = {run_cli("plan", str(EXAMPLE), env={"PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "99")}
    assert len(texts) == 1 and texts.pop().startswith("Plan webshop-failover: ")
