"""Durations as written in definitions ("90s", "5m", "4h") and as shown to people."""

from __future__ import annotations

_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> int:
    """Seconds in a schema-valid duration such as "5m"."""
    return int(text[:-1]) * _UNITS[text[-1]]


def format_duration(seconds: int) -> str:
    """A short human form: 45s, 5m, 1h30m, 2h."""
    if seconds < 60:
        return f"{seconds}s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)
