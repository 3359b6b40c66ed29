"""compiler/load.py: bytes to values with positions; what loads, and how refusals are located.

The refusals a user meets are in tests/invalid/ (exact messages through the CLI); this file
checks what must load fine and the loader's own guarantees.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler.load as load
from compiler.errors import DefinitionError
from compiler.load import Document, load_bytes, load_file
from tests.conftest import EXAMPLES, MINIMAL, ROOT, plan_of, run_cli


def _error(raw: bytes, name: str = "plan.yaml") -> str:
    with pytest.raises(DefinitionError) as caught:
        load_bytes(raw, name)
    return "\n".join(d.render() for d in caught.value.diagnostics)


# --- what loads -----------------------------------------------------------------------------


def test_a_utf8_bom_is_accepted_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    (tmp_path / "plain.yaml").write_bytes(MINIMAL.encode())
    with_bom = run_cli("plan", "--format", "json", "bom.yaml", cwd=tmp_path)
    without = run_cli("plan", "--format", "json", "plain.yaml", cwd=tmp_path)
    assert with_bom.returncode == 0, with_bom.stderr
    assert with_bom.stdout.replace("bom.yaml", "plain.yaml") == without.stdout
    assert run_cli("validate", "bom.yaml", cwd=tmp_path).returncode == 0


def test_crlf_line_endings_load_with_the_same_positions() -> None:
    crlf = MINIMAL.replace("\n", "\r\n").replace("site: a", "site: b")
    lf = MINIMAL.replace("site: a", "site: b")
    assert load_bytes(crlf.encode(), "p.yaml").data == load_bytes(lf.encode(), "p.yaml").data
    doc_crlf, doc_lf = load_bytes(crlf.encode(), "p.yaml"), load_bytes(lf.encode(), "p.yaml")
    path = ("resources", 0, "site")
    assert doc_crlf.locate(path) == doc_lf.locate(path)
    assert doc_crlf.resource_lines == doc_lf.resource_lines == (11,)


def test_anchors_and_aliases_of_whole_values_are_fine(tmp_path: Path) -> None:
    plan = plan_of(
        """
        version: 1
        plan: {name: aliases, title: Aliases}
        sites:
          fra: &site {role: primary, hosts: {db: {address: 10.0.0.1}}}
          dub: *site
        resources:
          - id: stop
            title: &title Restart the application
            site: fra
            run: &cmd systemctl restart shop
            requires: &none []
          - {id: start, title: *title, site: dub, host: db, run: *cmd, requires: [stop], after: *none}
        """,
        tmp_path,
    )
    assert [(s.id, s.site.name, s.resource.title, s.resource.run) for s in plan.steps] == [
        ("stop", "fra", "Restart the application", "systemctl restart shop"),
        ("start", "dub", "Restart the application", "systemctl restart shop"),
    ]
    assert [h.address for s in plan.sites for h in s.hosts] == ["10.0.0.1", "10.0.0.1"]


def test_explicit_str_tags_and_dates_are_text() -> None:
    doc = load_bytes(b"a: !!str no\nb: !!str 010\nc: 2024-05-01\nd: 2024-05-01 10:00:00\n", "p.yaml")
    assert doc.data == {"a": "no", "b": "010", "c": "2024-05-01", "d": "2024-05-01 10:00:00"}


def test_yaml_11_scalars_keep_their_yaml_meaning_for_the_schema_to_judge() -> None:
    doc = load_bytes(b"a: no\nb: on\nc: 010\nd: 1:20\ne: 0x1f\nf: ~\ng: 1.5\nh: .inf\n", "p.yaml")
    assert doc.data == {"a": False, "b": True, "c": 8, "d": 80, "e": 31, "f": None, "g": 1.5, "h": float("inf")}
    assert [doc.raw_text((key,)) for key in "abcde"] == ["no", "on", "010", "1:20", "0x1f"]


def test_nesting_up_to_the_limit_loads_and_one_more_level_is_refused() -> None:
    limit = load.MAX_DEPTH
    fine = b"x: " + b"[" * (limit - 1) + b"]" * (limit - 1) + b"\n"
    assert load_bytes(fine, "p.yaml").data["x"] == _nested(limit - 2)
    too_deep = b"x: " + b"[" * limit + b"]" * limit + b"\n"
    assert _error(too_deep) == (
        "plan.yaml:1:67: error: the document nests deeper than 64 levels; a definition needs only a few"
    )


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def test_a_moderate_use_of_aliases_is_not_mistaken_for_a_bomb() -> None:
    lines = ["common: &common [a, b, c, d, e, f, g, h]"] + [f"k{i}: *common" for i in range(500)]
    doc = load_bytes("\n".join(lines).encode(), "p.yaml")
    assert doc.data["k499"] == list("abcdefgh")


def test_a_long_text_shared_by_many_steps_is_not_mistaken_for_a_bomb(tmp_path: Path) -> None:
    rollback = "Restore the snapshot taken before the failover, then tell the DBA on call. " * 30
    steps = "".join(
        f"  - {{id: s{i}, title: Step {i}, site: a, run: 'true', rollback: *rollback}}\n" for i in range(60)
    )
    text = MINIMAL.replace("run: echo one", f"run: echo one\n    rollback: &rollback \"{rollback}\"") + steps
    plan = plan_of(text, tmp_path)
    assert len(plan.steps) == 61
    assert {s.resource.rollback for s in plan.steps} == {rollback}


def test_a_definition_with_thousands_of_steps_is_not_too_many_values(tmp_path: Path) -> None:
    steps = "".join(
        f"  - {{id: s{i}, title: Step {i}, site: a, run: 'true', requires: [{f's{i - 1}' if i else 'one'}]}}\n"
        for i in range(5000)
    )
    assert len(plan_of(MINIMAL + steps, tmp_path).steps) == 5001


@pytest.mark.parametrize("anchor", ["", "&many "], ids=["fast path", "careful path"])
def test_too_many_values_are_refused_at_the_first_value_past_the_limit(anchor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both loading paths count alike and point at the same value (the limit made small here)."""
    monkeypatch.setattr(load, "MAX_VALUES", 1000)
    text = MINIMAL + f"    after: {anchor}[" + "a," * 1500 + "a]\n"
    counted = [e for e in yaml.parse(text) if isinstance(e, (yaml.ScalarEvent, yaml.CollectionStartEvent))]
    mark = counted[1000].start_mark
    assert _error(text.encode()) == (
        f"plan.yaml:{mark.line + 1}:{mark.column + 1}: error: the file holds more than 1,000 values (keys, "
        "texts, list items); a definition needs far fewer: is this the right file?"
    )


def test_an_alias_bomb_is_refused_without_being_expanded() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for n in range(1, 30):  # 10**30 values once expanded: only counting can survive this
        lines.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}" if n > 1 else "*a"] * 10) + "]")
    message = _error("\n".join(lines).encode())
    # Located where the expansion crosses the limit (10 x 41 written values + 10,000): a3,
    # the first anchored value too big on its own; its parts (a2: 1,111) are not.
    assert re.fullmatch(
        r"plan\.yaml:4:5: error: YAML aliases expand this document to [\d,]{30,} values from 41 "
        r"written ones \(an alias bomb\?\); this value alone expands to 11,111: repeat fewer anchored values",
        message,
    )


def test_a_definition_read_from_a_pipe_works(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(MINIMAL)
    result = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m compiler validate <(cat plan.yaml)'],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/dev/fd/") and ": valid: plan 'mini'" in result.stdout


# --- how refusals are located ---------------------------------------------------------------


def test_a_bad_byte_is_located_in_characters_not_bytes() -> None:
    assert _error("title: ééé ".encode() + b"\xff\n").startswith("plan.yaml:1:12: error: the file is not valid UTF-8 (byte 0xff here)")


def test_a_control_character_is_located_even_after_multibyte_text() -> None:
    assert _error("a: ééé\nb: x\x07y\n".encode()) == (
        "plan.yaml:2:5: error: the file contains the control character U+0007, which YAML does not allow; remove it"
    )


def test_a_nul_byte_far_into_the_file_is_still_refused_cleanly() -> None:
    raw = MINIMAL.encode() + b"# " + b"x" * 10_000 + b"\x00\n"
    assert _error(raw) == (
        "plan.yaml:15:10003: error: the file contains the control character U+0000, which YAML does not allow; remove it"
    )


def test_the_size_limit_message_names_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "MAX_FILE_BYTES", 2 * 1024 * 1024)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    with pytest.raises(DefinitionError) as caught:
        load_file(str(path))
    assert caught.value.diagnostics[0].render() == (
        f"{path}: error: the file is larger than 2 MiB, the most a definition may be: is this the right file?"
    )


def test_locate_points_at_values_keys_and_the_nearest_known_place() -> None:
    doc = load_bytes(MINIMAL.encode(), "p.yaml")
    assert str(doc.locate(("resources", 0, "run"))) == "p.yaml:14:10"
    assert str(doc.locate(("resources", 0, "run"), key=True)) == "p.yaml:14:5"
    assert str(doc.locate(("sites", "a", "hosts", "h1", "address"))) == "p.yaml:9:21"
    # A path that leaves the document stops at the last place that exists.
    assert str(doc.locate(("resources", 0, "requires", 3))) == "p.yaml:11:5"
    assert str(doc.locate(("resources", 7))) == "p.yaml:11:3"
    assert str(doc.locate(())) == "p.yaml:1:1"
    assert doc.raw_text(("resources", 0, "run")) == "echo one"
    assert doc.raw_text(("resources", 0)) is None
    assert doc.resource_lines == (11,)


def test_locating_in_a_wide_mapping_finds_every_key() -> None:
    sites = "".join(f"  s{i}: {{role: nope}}\n" for i in range(2000))
    doc = load_bytes(f"version: 1\nsites:\n{sites}".encode(), "p.yaml")
    assert [doc.locate(("sites", f"s{i}", "role")).line for i in range(2000)] == list(range(3, 2003))


def test_a_document_value_is_frozen() -> None:
    doc = load_bytes(MINIMAL.encode(), "p.yaml")
    with pytest.raises(AttributeError):
        doc.file = "other.yaml"  # type: ignore[misc]
    assert isinstance(doc, Document)


# --- the fast path builds what the careful path builds --------------------------------------


def _both_paths(raw: bytes) -> tuple[object, object]:
    """What load_bytes gives (value, lines, decimal flag; or the messages), fast path first."""

    def outcome() -> object:
        try:
            doc = load_bytes(raw, "plan.yaml")
        except DefinitionError as exc:
            return [d.render() for d in exc.diagnostics]
        return doc.data, doc.resource_lines, doc.decimal_integers

    fast = outcome()
    original = load._load_plain
    load._load_plain = lambda text, file: None  # type: ignore[assignment]
    try:
        return fast, outcome()
    finally:
        load._load_plain = original  # type: ignore[assignment]


_CORPUS = sorted([*EXAMPLES, *(ROOT / "tests" / "invalid").glob("*.yaml")])


@pytest.mark.parametrize("path", _CORPUS, ids=lambda p: p.stem)
def test_the_fast_path_builds_exactly_what_the_careful_path_builds(path: Path) -> None:
    fast, careful = _both_paths(path.read_bytes())
    assert fast == careful


def test_the_fast_path_takes_plain_definitions_and_leaves_the_rest() -> None:
    assert load._load_plain(MINIMAL, "p.yaml") is not None
    for leftover in ["&a ", "!!str ", "! "]:  # an anchor, a tag, the non-specific tag
        assert load._load_plain(MINIMAL.replace("echo one", leftover + "echo one"), "p.yaml") is None
    assert load._load_plain(MINIMAL + "version: 2\n", "p.yaml") is None  # a duplicate key
    assert load._load_plain(MINIMAL + "---\na: 1\n", "p.yaml") is None  # a second document
    assert load._load_plain("- a\n", "p.yaml") is None  # not a mapping
    assert load._load_plain(MINIMAL + "  - [", "p.yaml") is None  # bad syntax


_SNIPPETS = [
    "&a ", "*a", "!!str ", "! ", "!!map ", "? ", "- ", ": ", ", ", "[", "]", "{", "}", "'", '"', "#",
    "\n", "\n  ", "\t", "<<: ", "~", "0x16", "022", "22:00", "1_000", "yes", "null", "2024-01-01",
    "1.5", ".inf", "\x00", "é", "|\n  ", ">-\n  ", "---\n", "...\n", "%YAML 1.1\n",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_fast_path_agrees_on_randomly_damaged_definitions(data: st.DataObject) -> None:
    """Examples with snippets of YAML syntax put in random places: same values or same messages."""
    text = data.draw(st.sampled_from([MINIMAL, *(p.read_text() for p in EXAMPLES[:2])]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + data.draw(st.sampled_from(_SNIPPETS)) + text[at:]
    fast, careful = _both_paths(text.encode())
    assert fast == careful
