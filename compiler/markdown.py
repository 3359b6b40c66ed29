"""Markdown and Mermaid escaping: user text that cannot change the runbook's structure.

One filter per place a value lands in the runbook:

- `md_inline`: a one-line value in running text, a heading or a table cell;
- `md_cell`: the same for a table cell that may be empty (shown as a dash);
- `md_inline_markup`: a one-line value whose inline Markdown (code, emphasis) is kept;
- `md_code_span`: a one-line value shown as inline code;
- `md_fence`: a command shown as a fenced code block, verbatim;
- `md_block`: Markdown prose (descriptions, instructions, rollbacks, the abort plan),
  rendered as Markdown but unable to add headings, raw HTML, link definitions or an
  unclosed code fence;
- `mermaid_label` / `mermaid_id`: text and identifiers inside the Mermaid diagram;
- `md_anchor` / `md_href`: the explicit anchors of step sections and links to them.

Control characters never reach the output raw: they are shown as \\xNN (newlines and
tabs are kept where the target allows them).

What a filter returns is typed `Markdown` (or `Mermaid` for the diagram), so mypy can
tell escaped text from raw text: the runbook's view (compiler/render_markdown.py) escapes
one-line values once, with these functions, and the template writes such values as they are.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any, NewType

from compiler.escape import CONTROL, terminal_safe

#: Text made safe by one of the Markdown filters below for the place it lands in the runbook.
Markdown = NewType("Markdown", str)
#: Text made safe by `mermaid_label` or `mermaid_id` for the Mermaid diagram.
Mermaid = NewType("Mermaid", str)

#: What an empty table cell shows, so that a printed blank never looks like a misprint.
EMPTY_CELL = "—"

# Characters that start inline constructs anywhere in a line (CommonMark plus the GFM
# extensions GitHub renders: tables `|`, strikethrough `~`, math `$`).
_INLINE_SPECIAL = re.compile(r"[\\`*_\[\]<#|~$]")
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")
# What makes a line a list item, a quote, a thematic break or a setext underline.
_BLOCK_START = re.compile(r"^(?:[-+](?=[ \t]|$)|=+$|-+$|>|\d{1,9}(?=[.)](?:[ \t]|$)))")
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")



def _with_controls(characters: str) -> re.Pattern[str]:
    """A character class of `characters` and every control character terminal_safe shows."""
    if not (CONTROL.pattern.startswith("[") and CONTROL.pattern.endswith("]") and "]" not in CONTROL.pattern[1:-1]):
        raise ValueError("escape.CONTROL is no longer one character class")  # pragma: no cover
    return re.compile(CONTROL.pattern[:-1] + characters + "]")


# Characters that _one_line and md_inline would change. A value without any of them, and
# without two spaces in a row or a space at either end (or, for md_inline, a list marker
# at the start), is returned as it is: most values, after one search.
_ONE_LINE_WORK = _with_controls(r"\t\n\r\f\v")
_INLINE_WORK = _with_controls(r"\t\n\r\f\v\\`*_\[\]<#|~$&")

_ANCHOR = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_MERMAID_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _one_line(text: str) -> str:
    """Whitespace runs (newlines included) as one space, control characters made visible."""
    if _ONE_LINE_WORK.search(text) is None and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    # strip(" ") and not strip(): str.strip() would also drop control characters such as
    # \x1c-\x1f silently, where they should be shown.
    return terminal_safe(_WHITESPACE.sub(" ", text).strip(" "))


def md_inline(value: str | int) -> Markdown:
    """A one-line value for running text, a heading or a table cell: nothing in it is markup."""
    if type(value) is int:
        return Markdown(str(value))  # digits: nothing to escape
    text = str(value)
    if (
        _INLINE_WORK.search(text) is None and "  " not in text and text[:1] != " " and text[-1:] != " "
        and not _BLOCK_START.match(text)
    ):
        return Markdown(text)
    text = _one_line(text)
    text = _INLINE_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    text = _ENTITY.sub(r"\\&", text)
    # The templates never start a line with a value, but a value that did must not
    # become a list item, a blockquote or a setext underline.
    return Markdown(_defuse_block_start(text))


def _defuse_block_start(text: str) -> str:
    """`text` with a leading list, quote or underline marker escaped (the backslash stays invisible)."""
    match = _BLOCK_START.match(text)
    if not match:
        return text
    if match.group()[0].isdigit():  # "1." and "1)": escape the punctuation, not the digit
        return text[:match.end()] + "\\" + text[match.end():]
    return "\\" + text


def md_cell(value: str | int | None) -> Markdown:
    """A table cell: like md_inline, and a dash for a missing value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Markdown(EMPTY_CELL)
    return md_inline(value)


def md_inline_markup(value: str) -> Markdown:
    """One line of Markdown for a list item: code spans, emphasis and links stay; HTML does not.

    For one-line fields that authors write with inline markup (prerequisites). The value
    stands after a list marker, so no block can start in it; only inline HTML, autolinks
    and a leading list or heading marker need defusing.
    """
    text = _one_line(value)
    text = "\\" + text if _ATX.match(text) else _defuse_block_start(text)
    return Markdown(_escape_inline_prose(text, _spans_are_certain([text])))


def md_code_span(value: str | int) -> Markdown:
    """A one-line value as inline code, delimited by more backticks than it contains.

    Not for table cells: GFM splits cells at a `|` even inside code.
    """
    text = _one_line(str(value))
    if "`" not in text:
        return Markdown(f"`{text}`")
    fence = "`" * (_longest_run(text, "`") + 1)
    if text.startswith("`") or text.endswith("`"):  # so the delimiters stay apart from the content
        text = f" {text} "
    return Markdown(f"{fence}{text}{fence}")


def md_fence(value: str, info: str = "") -> Markdown:
    """A fenced code block holding `value` verbatim (control characters aside).

    The fence is longer than any run of backticks inside, so no line of the command
    can close it early.
    """
    text = value if value.isprintable() else terminal_safe(value)  # isprintable: no control, no newline
    if text and not text.endswith("\n"):
        text += "\n"
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    return Markdown(f"{fence}{_info(info)}\n{text}{fence}")


def md_anchor(anchor: str) -> Markdown:
    """The explicit anchor a section links to, e.g. <a id="step-3"></a>."""
    if not _ANCHOR.match(anchor):
        raise ValueError(f"not a safe anchor: {anchor!r}")
    return Markdown(f'<a id="{anchor}"></a>')


def md_href(anchor: str) -> Markdown:
    """The link target of an anchor made by md_anchor, e.g. #step-3."""
    if not _ANCHOR.match(anchor):
        raise ValueError(f"not a safe anchor: {anchor!r}")
    return Markdown(f"#{anchor}")


# ---------------------------------------------------------------------------
# Markdown prose

# Leading container markup: indentation, blockquote markers and list markers.
_CONTAINER = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)))*[ \t]*")
_QUOTE_PREFIX = re.compile(r"[ \t>]*")
_FENCE_OPEN = re.compile(r"^(?:(`{3,})([^`]*)|(~{3,})(.*))$")
_ATX = re.compile(r"^#{1,6}(?=[ \t]|$)")
_SETEXT = re.compile(r"^(?:=+|-+)[ \t]*$")
_INFO_WORD = re.compile(r"^[A-Za-z0-9_+#.-]{1,40}$")
_PLAIN_LINK_TAIL = re.compile(r"\]\([^\s()<>\"'`\\]*\)")
# Link destinations: the schemes kept as links; any other (javascript:, data:, vbscript:,
# file:) makes the brackets plain text. Judged as a browser would read the destination:
# backslash escapes and entities decoded, then whitespace and control characters dropped.
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")
_DESTINATION_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_SQUEEZE = re.compile(r"[\x00-\x20\x7f-\x9f]+")


def md_block(value: str) -> Markdown:
    """Markdown prose, kept as Markdown but contained: it cannot change the runbook's outline.

    The text is read line by line with deliberately simple rules:
    - every code fence (at any indentation, in a list or a quote) is written again at
      the left margin with a fence of our own, longer than any backtick run inside, and
      closed even if the author forgot to close it;
    - outside code, lines that would be headings (`# x`, or a `===` / `---` underline)
      are escaped, and so are `<` that could start HTML, a comment or an autolink, and
      `]:` that could define a link;
    - code spans are left alone only where their extent is certain (see
      `_spans_are_certain`); anywhere else the escaping applies inside them too, which
      at worst shows a stray backslash but never lets markup through.
    Trailing spaces are dropped and runs of blank lines become one.
    """
    # The final newline of a YAML block is not a line of content (it would otherwise
    # end up as a blank line inside an unclosed fence).
    lines = terminal_safe(value).rstrip("\n").split("\n")
    segments = _split_fences(lines)
    prose_lines = [line for kind, chunk in segments if kind == "prose" for line in chunk]
    honour_spans = _spans_are_certain(prose_lines)

    out: list[str] = []
    for kind, chunk in segments:
        if kind == "code":
            out.extend(chunk)
            continue
        previous = ""  # after a fence (or at the start) no paragraph goes on, so no underline
        for raw in chunk:
            line = raw.rstrip()
            if not line:
                if out and out[-1]:
                    out.append("")
                previous = ""
                continue
            out.append(_escape_prose_line(line, previous, honour_spans))
            previous = line
    while out and not out[-1]:
        out.pop()
    return Markdown("\n".join(out))


def _split_fences(lines: list[str]) -> list[tuple[str, list[str]]]:
    """The text as prose and code segments; each code segment is a complete fenced block."""
    segments: list[tuple[str, list[str]]] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        prefix_end = _end_of(_CONTAINER, line)
        opener = _FENCE_OPEN.match(line[prefix_end:])
        if opener is None:
            prose.append(line)
            i += 1
            continue
        char = "`" if opener.group(1) else "~"
        length = len(opener.group(1) or opener.group(3))
        info = (opener.group(2) if char == "`" else opener.group(4)) or ""
        content: list[str] = []
        i += 1
        while i < len(lines):
            candidate = lines[i]
            rest = candidate[_end_of(_CONTAINER, candidate):].rstrip()
            if rest and set(rest) == {char} and len(rest) >= length:
                i += 1
                break
            content.append(_dedent(candidate, prefix_end))
            i += 1
        if prose:
            segments.append(("prose", prose))
            prose = []
        segments.append(("code", md_fence("\n".join(content) + "\n" if content else "", info).split("\n")))
    if prose:
        segments.append(("prose", prose))
    return segments


def _end_of(prefix: re.Pattern[str], line: str) -> int:
    """Where the (possibly empty) match of `prefix` at the start of `line` ends."""
    match = prefix.match(line)
    return match.end() if match else 0


def _dedent(line: str, width: int) -> str:
    """A fenced line without the indentation and quote markers of its fence (at most `width`)."""
    cut = 0
    while cut < width and cut < len(line) and line[cut] in " \t>":
        cut += 1
    return line[cut:]


def _info(info: str) -> str:
    """The language of a fence: its first word, if it is a plain one."""
    words = info.split()
    return words[0] if words and _INFO_WORD.match(words[0]) else ""


def _escape_prose_line(line: str, previous: str, honour_spans: bool) -> str:
    """One line of prose with headings, raw HTML and link definitions defused."""
    prefix_end = _end_of(_CONTAINER, line)
    prefix, rest = line[:prefix_end], line[prefix_end:]
    if _ATX.match(rest):
        rest = "\\" + rest
    else:
        # A setext underline only counts under a paragraph line, and list markers do
        # not hide it ("Title\n-" is a heading), so look past quote markers only.
        quote_end = _end_of(_QUOTE_PREFIX, line)
        if previous.strip() and _SETEXT.match(line[quote_end:]):
            prefix, rest = line[:quote_end], "\\" + line[quote_end:]
    return prefix + _escape_inline_prose(rest, honour_spans)


def _spans_are_certain(lines: list[str]) -> bool:
    """Whether reading code spans line by line finds exactly the spans CommonMark finds.

    CommonMark pairs backtick runs across the lines of a paragraph, GFM cuts them at table
    cell pipes, and a link's destination or title (which may go on over the following
    lines, up to a blank line) swallows backticks. So spans are trusted only when every
    backtick run pairs up within its own line, on lines without `|`, and no backtick
    stands where a link destination or title could be.
    """
    in_link_tail = False
    for line in lines:
        if not line.strip():
            in_link_tail = False
            continue
        tail = 0 if in_link_tail else _open_link_tail(line)
        if tail >= 0:
            in_link_tail = True
        if "`" not in line:
            continue
        if "|" in line or not _runs_pair_up(line) or (tail >= 0 and "`" in line[tail:]):
            return False
    return True


def _open_link_tail(line: str) -> int:
    """Where a link destination or title starts that may run on (and hold backticks), or -1.

    `](url)` with a plain destination closed on the same line ends there; anything else
    after `](` (a title, angle brackets, spaces, a line end) may go on.
    """
    pos = line.find("](")
    while pos >= 0:
        plain = _PLAIN_LINK_TAIL.match(line, pos)
        if plain is None:
            return pos
        pos = line.find("](", plain.end())
    return -1


def _runs_pair_up(line: str) -> bool:
    """Whether every unescaped backtick run on the line opens or closes a code span."""
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] != "`":
            i += 1
            continue
        run = _run_at(line, i)
        close = _closing_run(line, i + run, run)
        if close is None:
            return False
        i = close + run
    return True


def _escape_inline_prose(text: str, honour_spans: bool) -> str:
    """Escape `<` that could start HTML and `]:` that could define a link, outside code spans."""
    if "<" not in text and "]" not in text:
        return text  # nothing below would change
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(text[i:i + 2])  # an escape the author wrote stays as written
            i += 2
            continue
        if ch == "`" and honour_spans:
            run = _run_at(text, i)
            close = _closing_run(text, i + run, run)
            end = close + run if close is not None else i + run
            out.append(text[i:end])
            i = end
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        opens_html = ch == "<" and nxt != "" and ((nxt.isascii() and nxt.isalpha()) or nxt in "/!?")
        unsafe_link = ch == "]" and nxt == "(" and _unsafe_destination(text[i + 2:])
        if opens_html or (ch == "]" and nxt == ":") or unsafe_link:
            out.append("\\")
        out.append(ch)
        i += 1
    return "".join(out)


def _unsafe_destination(rest: str) -> bool:
    """Whether the link destination that starts `rest` (the text after `](`) must not be a link.

    True for a scheme other than http(s), mailto and tel, and for a destination that is
    not on this line (it cannot be judged here; making the brackets plain costs nothing).
    """
    rest = rest.lstrip(" \t")
    if rest.startswith("<"):
        rest = rest[1:]
    if not rest.strip():
        return True
    decoded = html.unescape(_DESTINATION_ESCAPE.sub(r"\1", rest))
    scheme = _SCHEME.match(_SQUEEZE.sub("", decoded).lower())
    return scheme is not None and scheme.group(1) not in _SAFE_SCHEMES


def _run_at(text: str, start: int) -> int:
    """Length of the run of backticks starting at `start`."""
    end = start
    while end < len(text) and text[end] == "`":
        end += 1
    return end - start


def _closing_run(text: str, start: int, length: int) -> int | None:
    """Start of the next run of exactly `length` backticks at or after `start` (code spans ignore backslashes)."""
    i = start
    while i < len(text):
        if text[i] == "`":
            run = _run_at(text, i)
            if run == length:
                return i
            i += run
        else:
            i += 1
    return None


def _longest_run(text: str, char: str) -> int:
    """Length of the longest run of `char` in `text`."""
    if char not in text:
        return 0
    runs = re.findall(re.escape(char) + "+", text)
    return max((len(r) for r in runs), default=0)


# ---------------------------------------------------------------------------
# Mermaid

# Mermaid labels go through its own entity decoding, Markdown and HTML: every character
# that means something to one of them is written as a Mermaid entity code (#NN;).
_MERMAID_SPECIAL = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "*": "#42;",
    "_": "#95;",
    "~": "#126;",
    "[": "#91;",
    "]": "#93;",
    "\\": "#92;",
    "|": "#124;",
    "{": "#123;",
    "}": "#125;",
    ";": "#59;",
    "%": "#37;",
    "$": "#36;",
}
_MERMAID_TABLE = str.maketrans(_MERMAID_SPECIAL)
# Whether translating with _MERMAID_TABLE would change anything (str.translate copies
# character by character, a search of one class is many times faster).
_MERMAID_WORK = re.compile("[" + re.escape("".join(_MERMAID_SPECIAL)) + "]")
# "3. Title" would be read as a Markdown list ("Unsupported markdown: list").
_MERMAID_LIST_START = re.compile(r"^(\d{1,9})([.)])|^([-+])(?= )")


def mermaid_label(value: str | int) -> Mermaid:
    """A quoted Mermaid label that shows `value` as plain text."""
    text = _one_line(str(value))
    lead = ""
    match = _MERMAID_LIST_START.match(text)
    if match:
        if match.group(1):
            lead = match.group(1) + f"#{ord(match.group(2))};"
        else:
            lead = f"#{ord(match.group(3))};"
        text = text[match.end():]
    body = text.translate(_MERMAID_TABLE) if _MERMAID_WORK.search(text) else text
    return Mermaid(f'"{lead}{body}"')


def mermaid_id(value: str) -> Mermaid:
    """A Mermaid node or subgraph id; only ids the renderer made itself are accepted."""
    if not _MERMAID_ID.match(value) or value.lower() in {"end", "graph", "flowchart", "subgraph"}:
        raise ValueError(f"not a safe Mermaid id: {value!r}")
    return Mermaid(value)


#: The filters the runbook template uses, by the name it uses them under.
FILTERS: dict[str, Callable[..., Any]] = {
    "md_inline": md_inline,
    "md_cell": md_cell,
    "md_inline_markup": md_inline_markup,
    "md_code_span": md_code_span,
    "md_fence": md_fence,
    "md_block": md_block,
    "md_anchor": md_anchor,
    "md_href": md_href,
    "mermaid_label": mermaid_label,
    "mermaid_id": mermaid_id,
}
