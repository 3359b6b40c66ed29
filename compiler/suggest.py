"""Suggestions for misspelt names, and safe quoting of user text inside messages."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Collection, Iterable
from typing import Any

_MAX_SHOWN = 60
#: Comparisons one `Suggestions` may spend in all. Each lookup compares the word with every
#: candidate, so a file with thousands of bad references to thousands of ids would take
#: quadratic time; past this budget the remaining messages simply go without a suggestion.
_COMPARISON_BUDGET = 200_000


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word` (by spelling, then ignoring case), or None."""
    return _closest(word, sorted(set(candidates)))


def _closest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = word.lower()
    return next((c for c in choices if c.lower() == lowered), None)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest candidate, or "" when none is close."""
    return _phrase(closest(word, candidates))


def _phrase(match: str | None) -> str:
    return f"; did you mean {shown(match)}?" if match is not None else ""


class Suggestions:
    """did_you_mean against one fixed set of names, for many lookups in linear time overall."""

    def __init__(self, candidates: Iterable[str]) -> None:
        self._choices = sorted(set(candidates))
        self._memo: dict[str, str] = {}
        self._spent = 0

    def __call__(self, word: str) -> str:
        """"; did you mean 'x'?" or ""."""
        known = self._memo.get(word)
        if known is not None:
            return known
        if self._spent + len(self._choices) > _COMPARISON_BUDGET:
            return ""
        self._spent += len(self._choices)
        phrase = _phrase(_closest(word, self._choices))
        self._memo[word] = phrase
        return phrase


def printable(value: Any) -> str:
    """A value on one line with control characters escaped, unquoted and untruncated."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = str(value)
    return "".join(
        ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
        for ch in text
    )


def shown(value: Any) -> str:
    """A value as it may appear in a message: quoted, one line, no control characters."""
    text = printable(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return f"'{text}'"


def listed(names: Collection[str], limit: int = 20) -> str:
    """"a, b, c" for a short list of names, "a, b, ... (57 in all)" for a long one."""
    shown_names = ", ".join(printable(n) for n in itertools.islice(names, limit))
    return shown_names if len(names) <= limit else f"{shown_names}, ... ({len(names)} in all)"
