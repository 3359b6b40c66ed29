"""Every validation rule, one invalid definition each: `runbook validate` says exactly this.

Each fixture `tests/invalid/NAME.yaml` has its exact expected stderr in `NAME.expected`
(`FILE:LINE:COL: error: MESSAGE` lines, `note:` lines, and a count line when there is
more than one error). The file name prefixes group the rules: `schema-`, `yaml-`,
`yaml11-` (YAML 1.1 surprises), `tag-`, `dup-key-`, `ref-`, `cycle-`, `multi-`.

After an intended change of a message, rewrite the expected files with
`.venv/bin/python -m tests.test_invalid --write` and review the diff before committing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

INVALID = Path(__file__).resolve().parent / "invalid"
FIXTURES = sorted(p.stem for p in INVALID.glob("*.yaml"))
_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<kind>error|note): .+$")


def _validate(name: str):
    return run_cli("validate", f"{name}.yaml", cwd=INVALID)


@pytest.mark.parametrize("name", FIXTURES)
def test_invalid_definition_is_reported_exactly(name: str) -> None:
    result = _validate(name)
    expected = (INVALID / f"{name}.expected").read_text(encoding="utf-8")
    assert result.stderr == expected
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


# `plan` goes through the same checks; one fixture of each group shows it reports alike.
_ONE_PER_GROUP = sorted({n.split("-")[0]: n for n in reversed(FIXTURES)}.values())


@pytest.mark.parametrize("name", _ONE_PER_GROUP)
def test_plan_refuses_an_invalid_definition_with_the_same_messages(name: str) -> None:
    result = run_cli("plan", "--format", "json", f"{name}.yaml", cwd=INVALID)
    assert result.stderr == (INVALID / f"{name}.expected").read_text(encoding="utf-8")
    assert (result.returncode, result.stdout) == (1, "")


def test_every_fixture_has_its_expected_output_and_no_output_is_orphaned() -> None:
    expected = sorted(p.stem for p in INVALID.glob("*.expected"))
    assert expected == FIXTURES
    assert len(FIXTURES) >= 100


@pytest.mark.parametrize("name", FIXTURES)
def test_expected_output_is_located_sorted_and_counted(name: str) -> None:
    """The shape every message follows, checked on the reviewed expectations themselves."""
    lines = (INVALID / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    errors = [line for line in lines if ": error: " in line]
    if len(errors) > 1:
        assert lines[-1] == f"{len(errors)} errors"
        lines = lines[:-1]
    else:
        assert len(errors) == 1
    positions = []
    for line in lines:
        match = _LINE.match(line)
        assert match, f"not FILE:LINE:COL: error|note: MESSAGE: {line!r}"
        assert match["file"] == f"{name}.yaml"
        assert int(match["line"]) >= 1 and int(match["column"]) >= 1
        if match["kind"] == "error":
            positions.append((int(match["line"]), int(match["column"])))
    assert positions == sorted(positions)
    assert lines[0].split(": ", 2)[1] == "error"  # a note always follows its error


def test_several_different_errors_are_all_reported_sorted_by_position() -> None:
    result = _validate("multi-several-errors")
    lines = result.stderr.splitlines()
    kinds = {
        "plan: 'name' is 'Failover'": (3, 9),
        "'port' must be between 1 and 65535, not 70000": (9, 43),
        "'role' must be one of primary, dr, other, not 'DR'; did you mean 'dr'?": (11, 11),
        "unknown host 'fra-db2' in site 'fra'; did you mean 'fra-db1'?": (16, 11),
        "dependency cycle: fence-db -> promote-db -> fence-db": (18, 16),
        "neither 'run' nor 'instructions' is given": (19, 5),
        "'title' must be text, but it is `no`": (20, 12),
        "unknown site 'dublin'; did you mean 'dub'?": (21, 11),
        "'estimate' must be text, but it is `010`, which YAML reads as the number 8": (22, 15),
        "duplicate resource id 'fence-db' (first used on line 13)": (24, 9),
        "'after' names unknown resource 'declare'": (28, 13),
    }
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == len(kinds)
    for error, (words, (line, column)) in zip(errors, kinds.items()):
        assert error.startswith(f"multi-several-errors.yaml:{line}:{column}: error: ")
        assert words in error
    assert lines[-1] == "11 errors"
    assert result.returncode == 1


def test_a_bom_does_not_shift_columns() -> None:
    # The same mistake at the same place with and without a byte order mark.
    result = _validate("yaml-bom-with-errors")
    assert result.stderr.startswith("yaml-bom-with-errors.yaml:3:9: error: plan: 'name' is 'Failover'")


def _write_expected() -> None:
    results = {name: _validate(name) for name in FIXTURES}
    broken = [name for name, r in results.items() if r.returncode != 1 or "Traceback" in r.stderr]
    if broken:  # never bless a crash (or a fixture that became valid) as the expected output
        sys.exit(f"not written: these fixtures do not fail cleanly: {', '.join(broken)}")
    for name, result in results.items():
        (INVALID / f"{name}.expected").write_text(result.stderr, encoding="utf-8")
    print(f"wrote {len(FIXTURES)} expected outputs in {INVALID}; review `git diff` before committing")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_invalid --write   (rewrites tests/invalid/*.expected)")
    _write_expected()
