"""`runbook build` under hostile and broken conditions: huge files, alias bombs, missing or
odd FILE arguments, output directories that cannot be written.

Whatever goes wrong, the user sees exit 1 (2 for a usage error) and a located message,
never a traceback, and nothing is half-written: an output directory holds no new or
temporary file afterwards, and the outputs of an earlier good build stay byte-identical.

The tests run as root (CI does), which ignores permission bits; unwritable directories
are made with what stops root too: a path through a file, /proc, a file-size limit,
`chattr +i`, and a read-only or full tmpfs in a private mount namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.load import MAX_FILE_BYTES, MAX_VALUES
from compiler.pipeline import compile_file, render_outputs
from tests.conftest import ROOT, run_cli

INVALID = ROOT / "tests" / "invalid"
FIXTURES = sorted(p.stem for p in INVALID.glob("*.yaml"))

#: A valid definition named like most of the invalid corpus, so that a build of a broken
#: version would overwrite exactly these outputs if it wrote anything.
FAILOVER = """\
version: 1
plan:
  name: failover
  title: Fail over to Dublin
  contacts:
    - role: DBA on call
      name: Ana Silva
      email: dba@example.com
sites:
  fra:
    title: Frankfurt
    role: primary
    hosts:
      fra-db1: {address: 10.1.0.11, user: postgres, port: 22}
  dub:
    role: dr
    hosts:
      dub-db1:
        address: db1.dub.example.net
        user: postgres
resources:
  - id: declare-disaster
    title: Declare the disaster
    site: dub
    instructions: Confirm with the incident commander.
  - id: fence-db
    title: Fence the Frankfurt database
    site: fra
    host: fra-db1
    run: systemctl stop postgresql
    timeout: 2m
    after: [declare-disaster]
  - id: promote-db
    title: Promote the Dublin replica
    site: dub
    host: dub-db1
    run: pg_ctl promote -D /var/lib/postgresql/16/main
    estimate: 10m
    requires: [fence-db]
"""

#: The same plan, changed: a build of it would change both outputs.
FAILOVER_CHANGED = FAILOVER.replace("Fail over to Dublin", "Fail over to Dublin, second edition")

OUTPUTS = ("failover.md", "failover.sh")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every entry of `folder` (hidden ones too) with its bytes and mode."""
    if not folder.exists():
        return {}
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            found[entry.name + "/"] = (b"", entry.stat().st_mode)
        else:
            found[entry.name] = (entry.read_bytes(), entry.stat().st_mode)
    return found


def good_build(folder: Path, out: Path, text: str = FAILOVER, name: str = "failover.yaml") -> Path:
    """Write a valid definition and build it into `out` for real; return the definition."""
    definition = folder / name
    definition.write_text(text, encoding="utf-8")
    result = run_cli("build", str(definition), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == list(OUTPUTS)
    return definition


def assert_refused(result: subprocess.CompletedProcess[str], where: str, words: str, status: int = 1) -> None:
    """Exit `status`, nothing on stdout, one located error line naming `where`, no traceback."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"{where}: error: "), result.stderr
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# Runs the CLI as a child of a small launcher and reports its wall time and peak RSS.
# ru_maxrss of a process started by pytest would include pytest's own peak (Linux keeps
# the high-water mark across exec); the launcher is small, so RUSAGE_CHILDREN of the
# launcher measures the compiler alone. The compiler gets a 2 GiB address-space limit so
# that a regression cannot take the machine's memory with it.
_LAUNCHER = r"""
import json, resource, subprocess, sys, time
args, timeout = json.loads(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
start = time.monotonic()
try:
    done = subprocess.run([sys.executable, "-m", "compiler", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=limit)
    report = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "timed_out": False}
except subprocess.TimeoutExpired:
    report = {"returncode": None, "stdout": "", "stderr": "", "timed_out": True}
report["seconds"] = time.monotonic() - start
report["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(report))
"""


def measured(*args: str, timeout: float = 60, cwd: Path = ROOT) -> dict:
    """Run `runbook ARGS`; its exit status, output, wall time and peak memory (MB)."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, json.dumps([list(args), timeout])],
        capture_output=True, text=True, cwd=cwd, timeout=timeout + 30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def baseline_mb(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak memory of validating a small good plan: the floor every refusal is compared with."""
    folder = tmp_path_factory.mktemp("baseline")
    (folder / "failover.yaml").write_text(FAILOVER)
    report = measured("validate", str(folder / "failover.yaml"))
    assert report["returncode"] == 0
    return float(report["peak_mb"])


# --- The whole invalid corpus, built over an earlier good build ---------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_a_broken_definition_writes_nothing_and_keeps_the_earlier_build(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Build a good version, break the same file as the fixture does, build again into the same folder."""
    monkeypatch.chdir(tmp_path)
    definition = tmp_path / f"{name}.yaml"
    definition.write_text(FAILOVER, encoding="utf-8")
    assert main(["build", definition.name, "-o", "out"]) == 0
    capsys.readouterr()
    before = snapshot(tmp_path / "out")
    assert sorted(before) == list(OUTPUTS)

    definition.write_bytes((INVALID / f"{name}.yaml").read_bytes())
    status = main(["build", definition.name, "-o", "out"])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err == (INVALID / f"{name}.expected").read_text(encoding="utf-8")
    assert snapshot(tmp_path / "out") == before


def test_a_broken_definition_does_not_create_the_output_directory(tmp_path: Path) -> None:
    definition = tmp_path / "broken.yaml"
    definition.write_text(FAILOVER.replace("role: dr", "role: DR"))
    result = run_cli("build", str(definition), "-o", str(tmp_path / "new" / "out"))
    assert_refused(result, f"{definition}:16:11", "'role' must be one of primary, dr, other, not 'DR'")
    assert not (tmp_path / "new").exists()


# --- Huge input -----------------------------------------------------------------------------------------

_MB50 = 50 * 1000 * 1000
_LIMIT_MIB = MAX_FILE_BYTES / 2**20


def _fifty_megabytes(shape: str) -> bytes:
    """About 50 MB shaped like a definition that went wrong in a given way."""
    head = FAILOVER.encode()
    if shape == "many steps":  # a generator gone wild: a million small, valid steps
        step = b"  - {id: s%07d, title: Generated, site: dub, run: 'true'}\n"
        count = (_MB50 - len(head)) // len(step % 0) + 1
        return head + b"".join(step % i for i in range(count))
    if shape == "comments":  # a log pasted below the definition, commented out
        line = b"# 2024-05-01T10:00:00Z app[1234]: request served in 12ms " + b"." * 21 + b"\n"
        return head + line * (_MB50 // len(line) + 1)
    if shape == "one long value":  # a dump pasted into a description
        return head + b"    description: " + b"x" * _MB50 + b"\n"
    if shape == "flow list":  # as small a value as YAML allows, millions of times
        return head.replace(b"after: [declare-disaster]", b"after: [" + b"a," * (_MB50 // 2) + b"a]")
    raise AssertionError(shape)


@pytest.mark.parametrize("shape", ["many steps", "comments", "one long value", "flow list"])
def test_a_50_mb_file_is_refused_quickly_with_little_memory(shape: str, tmp_path: Path, baseline_mb: float) -> None:
    out = tmp_path / "out"
    definition = good_build(tmp_path, out)
    before = snapshot(out)
    assert MAX_FILE_BYTES < _MB50, "the limit must stop a 50 MB file before it is parsed"
    definition.write_bytes(_fifty_megabytes(shape))
    try:
        assert definition.stat().st_size >= _MB50
        report = measured("build", str(definition), "-o", str(out))
    finally:
        definition.unlink()  # 50 MB per case is too much to keep in pytest's kept temp folders
    assert report["returncode"] == 1, report
    assert report["stderr"] == (
        f"{definition}: error: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, "
        "the most a definition may be: is this the right file?\n"
    )
    assert report["stdout"] == ""
    assert report["seconds"] < 3, report["seconds"]
    # It reads at most the limit, once: a few MiB over the floor, not the 50 MB.
    assert report["peak_mb"] < baseline_mb + 4 * _LIMIT_MIB, (report["peak_mb"], baseline_mb)
    assert snapshot(out) == before


def test_a_file_at_the_limit_with_long_texts_builds_at_a_steady_pace(tmp_path: Path) -> None:
    """A big but sensible definition (descriptions of 95,000 characters up to the limit): at
    least a MiB a second, so the time grows with the file and never runs away."""
    text = ("Check the replication lag on the dashboard before you go on. " * 1700)[:95_000]
    steps = "".join(
        f"  - id: s{i}\n    title: Step {i}\n    site: dub\n    run: 'true'\n    description: |\n      {text}\n"
        for i in range((MAX_FILE_BYTES - len(FAILOVER) - 1000) // 95_100)
    )
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER + steps)
    assert MAX_FILE_BYTES - 200_000 < definition.stat().st_size <= MAX_FILE_BYTES
    report = measured("build", str(definition), "-o", str(tmp_path / "out"))
    assert report["returncode"] == 0, report["stderr"]
    assert report["seconds"] < 2 + _LIMIT_MIB, report["seconds"]


def test_a_file_under_the_limit_made_of_millions_of_tiny_values_is_refused_quickly(tmp_path: Path, baseline_mb: float) -> None:
    """Two million values in 4 MiB took 45 s and 900 MB before the loader counted them."""
    assert MAX_FILE_BYTES // 2 > MAX_VALUES, "a file at the size limit can hold more values than allowed"
    out = tmp_path / "out"
    definition = good_build(tmp_path, out)
    before = snapshot(out)
    room = MAX_FILE_BYTES - len(FAILOVER) - 100
    definition.write_text(FAILOVER.replace("after: [declare-disaster]", "after: [" + "a," * (room // 2) + "a]"))
    report = measured("build", str(definition), "-o", str(out), timeout=30)
    assert report["returncode"] == 1, report
    assert report["stderr"].startswith(f"{definition}:32:"), report["stderr"]
    assert report["stderr"].endswith(
        f": error: the file holds more than {MAX_VALUES:,} values (keys, texts, list items); a definition "
        "needs far fewer: is this the right file?\n"
    )
    # Counted while parsing, nothing built: a fraction of a second per MiB read.
    assert report["seconds"] < 1 + _LIMIT_MIB / 4, report["seconds"]
    assert report["peak_mb"] < baseline_mb + 4 * _LIMIT_MIB, (report["peak_mb"], baseline_mb)
    assert snapshot(out) == before


# --- Alias bombs ---------------------------------------------------------------------------------------

_BOMBS = sorted(name for name in FIXTURES if name.startswith("yaml-alias-bomb"))


@pytest.mark.parametrize("name", _BOMBS)
def test_an_alias_bomb_is_refused_fast_without_eating_memory(name: str, baseline_mb: float) -> None:
    report = measured("build", f"{name}.yaml", "-o", "/nonexistent/never-created", cwd=INVALID)
    assert report["returncode"] == 1
    assert report["stderr"] == (INVALID / f"{name}.expected").read_text()
    assert "an alias bomb?" in report["stderr"]
    assert report["seconds"] < 2, report["seconds"]
    # Billions of values, had they been expanded; a bomb may cost a few MB over the floor.
    assert report["peak_mb"] < baseline_mb + 32, (report["peak_mb"], baseline_mb)


def test_the_bombs_cover_lists_mappings_wide_fan_out_and_a_valid_place() -> None:
    assert _BOMBS == [
        "yaml-alias-bomb", "yaml-alias-bomb-in-requires", "yaml-alias-bomb-mapping", "yaml-alias-bomb-wide",
    ]


def test_an_alias_bomb_of_long_texts_is_refused_fast(tmp_path: Path, baseline_mb: float) -> None:
    """One 99,000-character text aliased 2,000 times (a 177 KB file) built 300 MB in 45 s before."""
    text = ("lorem ipsum dolor sit amet " * 3700)[:99_000]
    steps = "".join(
        f"  - {{id: r{i}, title: T, site: dub, run: 'true', description: *d, rollback: *d}}\n" for i in range(1, 1000)
    )
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER + f'  - {{id: r0, title: T, site: dub, run: "true", description: &d "{text}"}}\n' + steps)
    assert definition.stat().st_size < 200_000
    report = measured("build", str(definition), "-o", str(tmp_path / "out"), timeout=30)
    assert report["returncode"] == 1, report
    # Located at the resources list: each step repeats the text twice (within the limit),
    # the list of a thousand of them is what crosses it.
    first_item = FAILOVER.splitlines().index("resources:") + 2
    assert report["stderr"].startswith(f"{definition}:{first_item}:3: error: YAML aliases expand this document to ")
    assert "characters of text" in report["stderr"] and "(an alias bomb?)" in report["stderr"]
    assert "this value alone expands to 19" in report["stderr"]
    assert report["seconds"] < 2, report["seconds"]
    assert report["peak_mb"] < baseline_mb + 32, (report["peak_mb"], baseline_mb)
    assert not (tmp_path / "out").exists()


# --- FILE is not a definition ---------------------------------------------------------------------------


def _file_cases(tmp_path: Path) -> dict[str, tuple[str, str, int]]:
    """FILE as given -> (location printed, words of the message, exit status)."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "a-file").write_text("x")
    return {
        "missing": (str(tmp_path / "failover.yml"), "no such file; did you mean", 1),
        "directory": (str(tmp_path / "a-directory"), "is a directory, not a definition file", 1),
        "through a file": (str(tmp_path / "a-file" / "plan.yaml"), "a part of the path before the file name is a file", 1),
        "endless stream": ("/dev/zero", "the file is larger than", 1),
        "empty stream": ("/dev/null", "the file holds no definition", 1),
        "empty name": ("", "the file name is empty", 1),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "through a file", "endless stream", "empty stream", "empty name"])
def test_a_file_argument_that_is_not_a_definition_is_refused_and_writes_nothing(case: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    good_build(tmp_path, out)
    before = snapshot(out)
    given, words, status = _file_cases(tmp_path)[case]
    result = run_cli("build", given, "-o", str(out))
    where = {"/dev/null": "/dev/null:1:1", "": "runbook"}.get(given, given)
    assert_refused(result, where, words, status)
    assert snapshot(out) == before


# --- The output directory cannot be written -------------------------------------------------------------


def test_output_onto_a_file_is_refused(tmp_path: Path) -> None:
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER)
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    result = run_cli("build", str(definition), "-o", str(target))
    assert_refused(result, str(target), "exists and is not a directory; choose another -o DIR")
    assert target.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failover.yaml", "notes.txt"]


def test_output_under_a_file_is_refused(tmp_path: Path) -> None:
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER)
    (tmp_path / "notes.txt").write_text("my notes\n")
    target = tmp_path / "notes.txt" / "out"
    result = run_cli("build", str(definition), "-o", str(target))
    assert_refused(result, str(target), "cannot create the output directory: Not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failover.yaml", "notes.txt"]


@pytest.mark.parametrize("target", ["/proc/self", "/proc/sys/kernel", "/sys/fs"])
def test_output_into_a_kernel_directory_is_refused_even_for_root(target: str, tmp_path: Path) -> None:
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER)
    result = run_cli("build", str(definition), "-o", target)
    assert_refused(result, target, "cannot write the output: ")
    assert not any(name.startswith(("failover", ".failover")) for name in os.listdir(target))


def test_output_file_taken_by_a_directory_keeps_the_other_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    definition = good_build(tmp_path, out)
    (out / "failover.sh").unlink()
    (out / "failover.sh").mkdir()
    before = snapshot(out)
    definition.write_text(FAILOVER_CHANGED)
    result = run_cli("build", str(definition), "-o", str(out))
    assert_refused(result, str(out / "failover.sh"), "is a directory; remove it or choose another -o DIR")
    assert snapshot(out) == before


def test_a_write_that_fails_halfway_leaves_no_temporary_file_and_the_old_outputs(tmp_path: Path) -> None:
    """The runbook is staged whole, then the script hits the file-size limit: nothing changes."""
    out = tmp_path / "out"
    definition = good_build(tmp_path, out)
    before = snapshot(out)
    definition.write_text(FAILOVER_CHANGED)
    sizes = {o.name: len(o.text.encode()) for o in render_outputs(compile_file(str(definition)))}
    assert sizes["failover.md"] < sizes["failover.sh"]
    limit = sizes["failover.md"] + 1  # the .md is written first and fits; the .sh does not

    def small_files() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "compiler", "build", str(definition), "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, preexec_fn=small_files, timeout=60,
    )
    assert_refused(result, str(out), "cannot write the output: File too large")
    assert snapshot(out) == before


def test_an_immutable_output_directory_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    definition = good_build(tmp_path, out)
    before = snapshot(out)
    definition.write_text(FAILOVER_CHANGED)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this file system (the other unwritable cases still run)")
    try:
        result = run_cli("build", str(definition), "-o", str(out))
        after = snapshot(out)
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    assert_refused(result, str(out), "cannot write the output: Operation not permitted")
    assert after == before


def _in_private_mounts(script: str, **paths: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a mount namespace of its own (mounts vanish with it)."""
    if shutil.which("unshare") is None or subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True
    ).returncode:
        pytest.skip("no private mount namespace here (needs root with CAP_SYS_ADMIN); other unwritable cases still run")
    env = {**os.environ, "PY": sys.executable, **{k.upper(): str(v) for k, v in paths.items()}}
    return subprocess.run(
        ["unshare", "-m", "sh", "-ec", textwrap.dedent(script)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )


def test_a_read_only_output_directory_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    definition = good_build(tmp_path, out)
    before = snapshot(out)
    definition.write_text(FAILOVER_CHANGED)
    result = _in_private_mounts(
        """
        mount --bind "$OUT" "$OUT"
        mount -o remount,bind,ro "$OUT"
        exec "$PY" -m compiler build "$DEFINITION" -o "$OUT"
        """,
        out=out, definition=definition,
    )
    assert_refused(result, str(out), "cannot write the output: Read-only file system")
    assert snapshot(out) == before


def test_a_full_disk_leaves_no_temporary_file_and_the_old_outputs(tmp_path: Path) -> None:
    """A small tmpfs holds the first build; a bigger version of the plan does not fit."""
    out, kept, after = tmp_path / "out", tmp_path / "kept", tmp_path / "after"
    for folder in (out, kept, after):
        folder.mkdir()
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER)
    bigger = tmp_path / "bigger.yaml"
    bigger.write_text(FAILOVER.replace("    site: ", "    description: " + "Watch the lag. " * 6_000 + "\n    site: "))
    result = _in_private_mounts(
        """
        mount -t tmpfs -o size=160k tmpfs "$OUT"
        "$PY" -m compiler build "$DEFINITION" -o "$OUT" >/dev/null
        cp -a "$OUT/." "$KEPT"
        cp "$BIGGER" "$DEFINITION"
        status=0
        "$PY" -m compiler build "$DEFINITION" -o "$OUT" || status=$?
        cp -a "$OUT/." "$AFTER"
        exit "$status"
        """,
        out=out, kept=kept, after=after, definition=definition, bigger=bigger,
    )
    assert sorted(snapshot(kept)) == list(OUTPUTS), result.stderr
    assert_refused(result, str(out), "cannot write the output: No space left on device")
    assert snapshot(after) == snapshot(kept)


def test_an_empty_output_directory_is_a_usage_error(tmp_path: Path) -> None:
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER)
    result = run_cli("build", str(definition), "-o", "", cwd=tmp_path)  # -o "$UNSET"
    assert result.returncode == 2
    assert result.stderr.endswith("runbook build: error: argument -o/--output: must not be empty; pass a directory, for example -o build/\n")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failover.yaml"]


def test_a_failed_write_into_a_new_directory_leaves_no_directory(tmp_path: Path) -> None:
    definition = tmp_path / "failover.yaml"
    definition.write_text(FAILOVER)

    def tiny_files() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    result = subprocess.run(
        [sys.executable, "-m", "compiler", "build", str(definition), "-o", str(tmp_path / "new" / "out")],
        capture_output=True, text=True, cwd=ROOT, preexec_fn=tiny_files, timeout=60,
    )
    assert_refused(result, str(tmp_path / "new" / "out"), "cannot write the output: File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failover.yaml"]


@pytest.mark.parametrize("suffix", [".md", ".sh"])
def test_a_build_never_overwrites_its_own_definition(suffix: str, tmp_path: Path) -> None:
    definition = tmp_path / f"failover{suffix}"
    definition.write_text(FAILOVER)
    result = run_cli("build", definition.name, "-o", ".", cwd=tmp_path)
    assert definition.read_text() == FAILOVER, "the definition was overwritten"
    assert_refused(result, definition.name, f"the output ./{definition.name} would replace this definition itself")
    assert sorted(p.name for p in tmp_path.iterdir()) == [definition.name], "nothing else was written either"


def test_a_build_never_overwrites_its_own_definition_through_another_path(tmp_path: Path) -> None:
    """The same file reached by a symlinked folder is still the definition."""
    (tmp_path / "out").mkdir()
    definition = tmp_path / "out" / "failover.md"
    definition.write_text(FAILOVER)
    (tmp_path / "link").symlink_to(tmp_path / "out", target_is_directory=True)
    result = run_cli("build", "link/failover.md", "-o", "out", cwd=tmp_path)
    assert definition.read_text() == FAILOVER, "the definition was overwritten"
    assert_refused(result, "link/failover.md", "would replace this definition itself")
