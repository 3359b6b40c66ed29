"""The outputs of every example, byte for byte as committed under tests/golden/.

A difference is either a regression or an intended change; for the latter, run
`make golden` and commit the updated files with the change that caused it.
"""

from __future__ import annotations

import difflib

import pytest

from tests.golden import GOLDEN_DIR, ROOT, expected_outputs

FIX = "if the change is intended, run `make golden` and commit tests/golden/ with it"

OUTPUTS = expected_outputs()


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_output_matches_its_golden_file(name: str):
    golden = GOLDEN_DIR / name
    assert golden.is_file(), f"{golden.relative_to(ROOT)} is missing: run `make golden` and commit it"
    expected = golden.read_bytes()
    actual = OUTPUTS[name].encode("utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.decode("utf-8", "replace").splitlines(),
            actual.decode("utf-8", "replace").splitlines(),
            f"tests/golden/{name}", f"{name} (generated now)", lineterm="", n=2,
        )
        excerpt = "\n".join(list(diff)[:60])
        pytest.fail(f"{name} differs from tests/golden/{name}; {FIX}.\n{excerpt}", pytrace=False)


def test_every_golden_file_belongs_to_an_example():
    stale = sorted(p.name for p in GOLDEN_DIR.iterdir() if p.name not in OUTPUTS)
    assert stale == [], f"golden files of no example: {stale}; run `make golden` to remove them"


def test_every_example_has_a_runbook_and_a_script():
    stems = {name.rsplit(".", 1)[0] for name in OUTPUTS}
    assert {f"{stem}.{ext}" for stem in stems for ext in ("md", "sh")} == set(OUTPUTS)
