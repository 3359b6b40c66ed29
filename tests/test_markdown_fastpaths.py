"""compiler/markdown.py's shortcuts give exactly what the full escaping gives.

Most values in a runbook need no escaping at all, and the filters return them as they
are after one regular-expression search. These tests compare each filter with the
full computation it skips (written out here as it was before the shortcuts), on random
text made of the characters that matter.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import markdown
from compiler.escape import CONTROL, terminal_safe

_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_INLINE_SPECIAL = re.compile(r"[\\`*_\[\]<#|~$]")
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")


def full_one_line(text: str) -> str:
    return terminal_safe(_WHITESPACE.sub(" ", text).strip(" "))


def full_md_inline(value: str | int) -> str:
    text = full_one_line(str(value))
    text = _INLINE_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    text = _ENTITY.sub(r"\\&", text)
    return markdown._defuse_block_start(text)


def full_mermaid_body(text: str) -> str:
    return "".join(markdown._MERMAID_SPECIAL.get(ch, ch) for ch in text)


def full_longest_run(text: str, char: str) -> int:
    return max((len(r) for r in re.findall(re.escape(char) + "+", text)), default=0)


# Every character some filter treats specially, plus plain ones.
_SPECIAL = list(" \t\n\r\f\v\x0b\x1c\x1f\x7f\x85\u061c\u2028\u200e\u202e\\`*_[]<>#|~$&;:()!?/=+-.0123456789aZé")
texts = st.text(alphabet=st.sampled_from(_SPECIAL), max_size=12) | st.sampled_from([
    "", " ", "x ", " x", "a  b", "1. x", "1) x", "- x", "+ x", "-", "---", "===", "> q", "&amp;", "&#35;", "&x",
    "Promote the replica", "fra-db1", "10.0.0.1",
])


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_one_line_and_md_inline_shortcuts_change_nothing(text: str) -> None:
    assert markdown._one_line(text) == full_one_line(text)
    assert markdown.md_inline(text) == full_md_inline(text)
    assert markdown.md_cell(text) == (markdown.EMPTY_CELL if not text.strip() else full_md_inline(text))


@given(st.integers())
def test_md_inline_of_a_number_is_its_digits(number: int) -> None:
    assert markdown.md_inline(number) == full_md_inline(number) == str(number)


@settings(max_examples=1000, deadline=None)
@given(texts)
def test_mermaid_label_and_longest_run_shortcuts_change_nothing(text: str) -> None:
    assert markdown.mermaid_label(text).endswith(full_mermaid_body(full_one_line(text)[len(_lead(text)):]) + '"')
    for char in "`~":
        assert markdown._longest_run(text, char) == full_longest_run(text, char)


def _lead(text: str) -> str:
    match = markdown._MERMAID_LIST_START.match(full_one_line(text))
    return match.group() if match else ""


def full_escape_inline_prose(text: str, honour_spans: bool) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(text[i:i + 2])
            i += 2
            continue
        if ch == "`" and honour_spans:
            run = markdown._run_at(text, i)
            close = markdown._closing_run(text, i + run, run)
            end = close + run if close is not None else i + run
            out.append(text[i:end])
            i = end
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        opens_html = ch == "<" and nxt != "" and ((nxt.isascii() and nxt.isalpha()) or nxt in "/!?")
        unsafe_link = ch == "]" and nxt == "(" and markdown._unsafe_destination(text[i + 2:])
        if opens_html or (ch == "]" and nxt == ":") or unsafe_link:
            out.append("\\")
        out.append(ch)
        i += 1
    return "".join(out)


@settings(max_examples=2000, deadline=None)
@given(texts, st.booleans())
def test_the_prose_shortcut_changes_nothing(text: str, honour_spans: bool) -> None:
    assert markdown._escape_inline_prose(text, honour_spans) == full_escape_inline_prose(text, honour_spans)


def full_md_fence(value: str, info: str = "") -> str:
    text = terminal_safe(value)
    if text and not text.endswith("\n"):
        text += "\n"
    fence = "`" * max(3, full_longest_run(text, "`") + 1)
    return f"{fence}{markdown._info(info)}\n{text}{fence}"


def full_md_code_span(value: str) -> str:
    text = full_one_line(value)
    fence = "`" * (full_longest_run(text, "`") + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


@settings(max_examples=2000, deadline=None)
@given(texts)
def test_md_fence_and_md_code_span_shortcuts_change_nothing(text: str) -> None:
    assert markdown.md_fence(text, "bash") == full_md_fence(text, "bash")
    assert markdown.md_code_span(text) == full_md_code_span(text)


def test_text_that_is_all_printable_has_nothing_for_terminal_safe_to_show():
    """md_fence skips terminal_safe for text.isprintable(): no character it rewrites may count as printable."""
    rewritten = [chr(code) for code in range(0x110000) if CONTROL.match(chr(code))]
    assert len(rewritten) > 60
    assert not [char for char in rewritten if char.isprintable()]
