"""Making user text safe for each place it ends up: a terminal, a shell script, Markdown."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts terminal sequences; 0x9b is CSI on its own), line and
# paragraph separators, and every bidi control that can reorder what the reader sees
# (the "Trojan Source" set: LRM, RLM, ALM, embeddings, overrides and isolates).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


#: What terminal_safe rewrites; text without any of it passes every filter unchanged.
CONTROL = _CONTROL


def terminal_safe(text: str) -> str:
    """Text that cannot drive a terminal: control characters shown as \\xNN (newlines and tabs kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def shell_quote(text: str | int | None) -> str:
    """A bash word that stands for exactly `text`: single-quoted, unless it is a number.

    Always quoting (where shlex.quote leaves `step-1` bare) keeps every value visibly
    data and spares shellcheck from reading `a-b` as arithmetic.
    """
    if text is None:
        return "''"
    if type(text) is int and text >= 0:
        return str(text)  # digits (step numbers, lines, seconds: most values in a script)
    value = str(text)
    if value.isdigit() and value.isascii():
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def shell_comment(text: str | int) -> str:
    """Text for a `#` comment: on one line, so that nothing after it can become code."""
    return " ".join(terminal_safe(str(text)).split())
