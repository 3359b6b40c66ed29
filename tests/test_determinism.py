"""Same definition, same bytes: `runbook build` of every example gives byte-identical
outputs (and file modes) across runs, hash seeds, working directories, the spelling of
FILE and -o DIR, symlinks, time zones, locales and umasks.

The runbook and the script carry a fingerprint so that a printed runbook can be matched
with its script; that only works if nothing about the machine or the run leaks into them.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

RUNBOOKS = ROOT / "runbooks"


@dataclass(frozen=True)
class Variant:
    """One way of running the same build: where from, FILE and DIR as spelled, environment."""

    cwd: str  # "root", "runbooks" or "elsewhere" (a temporary folder)
    file: str  # {name} is the example's file name, {root} the repository
    out: str  # -o DIR; {tmp} is the temporary folder
    env: dict[str, str] = field(default_factory=dict)
    umask: int | None = None


VARIANTS = {
    "relative, hash seed 0": Variant("root", "runbooks/{name}", "{tmp}/o1", {"PYTHONHASHSEED": "0"}),
    "relative, hash seed 0 again": Variant("root", "runbooks/{name}", "{tmp}/o2", {"PYTHONHASHSEED": "0"}),
    "hash seed 1": Variant("root", "runbooks/{name}", "{tmp}/o3", {"PYTHONHASHSEED": "1"}),
    "random hash seed": Variant("root", "runbooks/{name}", "{tmp}/o4", {"PYTHONHASHSEED": "random"}),
    "another random hash seed": Variant("root", "runbooks/{name}", "{tmp}/o5", {"PYTHONHASHSEED": "random"}),
    "bare name from its folder": Variant("runbooks", "{name}", "{tmp}/o6"),
    "absolute from elsewhere": Variant("elsewhere", "{root}/runbooks/{name}", "o7"),
    "dot and dot-dot": Variant("root", "./runbooks/../runbooks/./{name}", "{tmp}/o8"),
    "through a symlinked folder": Variant("elsewhere", "linked-folder/{name}", "./o9/../o9"),
}
#: More of the same, for the largest example only (each build is a process of its own).
MORE_VARIANTS = {
    "double slashes": Variant("root", "{root}//runbooks//{name}", "{tmp}//o10/"),
    "through a symlinked file": Variant("elsewhere", "linked-file/{name}", "o11"),
    "relative DIR with dot-dot": Variant("runbooks", "./{name}", "../runbooks/../{tmp_rel}/o12"),
    "other time zone and locale": Variant("root", "runbooks/{name}", "{tmp}/o13", {"TZ": "Pacific/Chatham", "LC_ALL": "C", "LANG": "C"}),
    "UTF-8 locale, UTC": Variant("root", "runbooks/{name}", "{tmp}/o14", {"TZ": "UTC", "LC_ALL": "C.UTF-8"}),
    "strict umask": Variant("root", "runbooks/{name}", "{tmp}/o15", umask=0o077),
    "loose umask": Variant("root", "runbooks/{name}", "{tmp}/o16", umask=0o000),
}


def _build(example: Path, variant: Variant, tmp: Path) -> dict[str, tuple[bytes, int]]:
    """Run `runbook build` as the variant says; every output file's bytes and mode bits."""
    name = example.name
    cwd = {"root": ROOT, "runbooks": RUNBOOKS, "elsewhere": tmp}[variant.cwd]
    values = {"name": name, "root": str(ROOT), "tmp": str(tmp), "tmp_rel": os.path.relpath(tmp, RUNBOOKS.parent)}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "RUNBOOK_DEBUG")}
    env.update(variant.env)
    umask = variant.umask

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    result = subprocess.run(
        [sys.executable, "-m", "compiler", "build", variant.file.format(**values), "-o", variant.out.format(**values)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, preexec_fn=set_umask,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    written = [Path(cwd, line.removeprefix("wrote ")) for line in result.stdout.splitlines()]
    assert sorted(p.name for p in written) == [f"{example.stem}.md", f"{example.stem}.sh"]
    return {p.name: (p.read_bytes(), p.stat().st_mode & 0o7777) for p in written}


def _all_alike(example: Path, variants: dict[str, Variant], tmp_path: Path) -> None:
    """Build `example` every way in `variants`; every output must be the first one's, byte for byte."""
    (tmp_path / "linked-folder").symlink_to(RUNBOOKS, target_is_directory=True)
    (tmp_path / "linked-file").mkdir()
    (tmp_path / "linked-file" / example.name).symlink_to(example)
    with ThreadPoolExecutor(max_workers=4) as pool:  # separate processes: run a few at once
        futures = {label: pool.submit(_build, example, variant, tmp_path) for label, variant in variants.items()}
        outputs = {label: future.result() for label, future in futures.items()}
    reference = next(iter(outputs.values()))
    differing = [label for label, files in outputs.items() if files != reference]
    assert differing == []
    modes = {name: mode for name, (_, mode) in reference.items()}
    assert modes == {f"{example.stem}.md": 0o644, f"{example.stem}.sh": 0o755}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_outputs_are_byte_identical_across_runs_hash_seeds_directories_and_spellings(example: Path, tmp_path: Path) -> None:
    _all_alike(example, VARIANTS, tmp_path)


def test_outputs_are_byte_identical_across_time_zones_locales_umasks_and_more_spellings(tmp_path: Path) -> None:
    largest = max(EXAMPLES, key=lambda p: p.stat().st_size)
    _all_alike(largest, {"reference": VARIANTS["relative, hash seed 0"], **MORE_VARIANTS}, tmp_path)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_outputs_name_the_source_by_its_file_name_only(example: Path, tmp_path: Path) -> None:
    """Neither the folder of FILE nor the working directory leaks into the outputs."""
    files = _build(example, VARIANTS["absolute from elsewhere"], tmp_path)
    for name, (data, _) in files.items():
        text = data.decode("utf-8")
        assert str(ROOT) not in text and str(tmp_path) not in text, name
        assert example.name in text, name


def test_the_committed_goldens_are_what_a_build_from_elsewhere_writes(tmp_path: Path) -> None:
    """The byte-for-byte references in tests/golden match a build with a random hash seed from another folder."""
    golden = ROOT / "tests" / "golden"
    for example in EXAMPLES:
        files = _build(example, Variant("elsewhere", "{root}/runbooks/{name}", "out", {"PYTHONHASHSEED": "random"}), tmp_path)
        for name, (data, _) in files.items():
            assert data == (golden / name).read_bytes(), name
