"""`runbook diff` reports: a PlanDiff as text for a terminal, Markdown for a pull request, or JSON.

Pure functions of the PlanDiff: the same value always gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable
from typing import Any

from compiler.diff import INLINE_FIELDS, DependencyChange, PlanDiff, Reorder, StepRef, TextChange, Version
from compiler.durations import format_duration
from compiler.escape import terminal_safe
from compiler.markdown import md_cell, md_code_span, md_fence, md_inline
from compiler.suggest import printable

#: Lines of context around a change inside a multi-line command or text.
CONTEXT_LINES = 2
#: The most step ids a reason lists before it says how many there are in all.
LISTED_IDS = 10

_Code = Callable[[str], str]


# --- shared wording -----------------------------------------------------------------------


def reasons(reorder: Reorder, code: _Code) -> tuple[str, ...]:
    """Why a step's number changed, most direct cause first; `code` formats step ids."""
    out = []
    if reorder.dependencies:
        out.append(f"its dependencies changed ({dependency_text(reorder.dependencies, code)})")
    if reorder.now_before:
        out.append(f"now runs before: {_ids(reorder.now_before, code)}")
    if reorder.now_after:
        out.append(f"now runs after: {_ids(reorder.now_after, code)}")
    if reorder.added_before:
        out.append(f"{_steps(len(reorder.added_before))} added before it: {_ids(reorder.added_before, code)}")
    if reorder.removed_before:
        out.append(f"{_steps(len(reorder.removed_before))} removed before it: {_ids(reorder.removed_before, code)}")
    if reorder.declared is not None:
        out.append(f"declared {reorder.declared} in the definition")
    return tuple(out)


def dependency_text(changes: tuple[DependencyChange, ...], code: _Code) -> str:
    """`requires: +a, -b; after: +c`: ids gained and lost per kind of dependency."""
    parts = []
    for change in changes:
        items = [f"+{code(i)}" for i in change.added] + [f"-{code(i)}" for i in change.removed]
        parts.append(f"{change.kind}: {', '.join(items)}")
    return "; ".join(parts)


def critical_path_text(diff: PlanDiff) -> str:
    """`17m -> 25m (RTO 20m: was within it, now over by 5m)`."""
    old, new = diff.old, diff.new
    seconds = _duration(old.critical_path_seconds)
    if new.critical_path_seconds != old.critical_path_seconds:
        seconds += f" -> {_duration(new.critical_path_seconds)}"
    else:
        seconds += " (unchanged)"
    if old.rto is None and new.rto is None:
        return seconds
    rto = _optional(old.rto) if old.rto == new.rto else f"{_optional(old.rto)} -> {_optional(new.rto)}"
    before, after = _against(old), _against(new)
    if after is None:
        return f"{seconds}; RTO {rto}"
    if before is None or before == after:
        return f"{seconds}; RTO {rto}: {after}"
    return f"{seconds}; RTO {rto}: was {before}, now {after}"


def _against(version: Version) -> str | None:
    if version.rto is None or not version.critical_path_seconds:
        return None
    over = version.critical_path_seconds - version.rto
    return "within it" if over <= 0 else f"over it by {format_duration(over)}"


def _duration(seconds: int) -> str:
    return format_duration(seconds) if seconds else "none (no step has an estimate)"


def _optional(seconds: int | None) -> str:
    return format_duration(seconds) if seconds is not None else "none"


def text_diff(change: TextChange) -> list[str]:
    """The change of a text field as unified-diff lines (without file headers)."""
    old = (change.old or "").splitlines()
    new = (change.new or "").splitlines()
    if old == new:
        return ["(only whitespace at the end changed)"]
    lines = list(difflib.unified_diff(old, new, lineterm="", n=CONTEXT_LINES))[2:]
    if len(old) <= 1 and len(new) <= 1:
        lines = lines[1:]  # a one-line value needs no @@ hunk header
    return lines


def inline_value(change: TextChange) -> str:
    """`5m -> 10m` for a short value (absent values read `none`)."""
    return f"{change.old or 'none'} -> {change.new or 'none'}"


def _ids(ids: tuple[str, ...], code: _Code) -> str:
    """Ids as a list, the first LISTED_IDS of a longer one and how many there are in all."""
    shown = [code(i) for i in ids[:LISTED_IDS]]
    if len(ids) > LISTED_IDS:
        shown.append(f"... ({len(ids)} in all)")
    return ", ".join(shown)


def _steps(count: int) -> str:
    return f"{count} step{'s' if count != 1 else ''}"


def _plain(text: str) -> str:
    return terminal_safe(text)


def _same_line(text: str) -> str:
    return printable(text)


# --- text ----------------------------------------------------------------------------------


def diff_as_text(diff: PlanDiff) -> str:
    """The report for a terminal."""
    old, new = diff.old, diff.new
    if diff.identical:
        return (
            f"No change: {_same_line(old.label)} and {_same_line(new.label)} are the same plan "
            f"(fingerprint {new.fingerprint}).\n"
        )
    name = old.name if old.name == new.name else f"{old.name} -> {new.name}"
    out = [f"Plan {name}: {_same_line(old.label)} -> {_same_line(new.label)}"]
    if old.fingerprint == new.fingerprint:
        out.append(f"Fingerprint: {new.fingerprint} (unchanged: nothing that runs changed)")
    else:
        out.append(f"Fingerprint: {old.fingerprint} ({_steps(old.steps)})")
        out.append(f"          -> {new.fingerprint} ({_steps(new.steps)})")

    def section(title: str, count: int, lines: list[str]) -> None:
        if count:
            out.extend(["", f"{title} ({count}):", *lines])

    section("Steps added", len(diff.added), [_ref_line(r) for r in diff.added])
    section("Steps removed", len(diff.removed), [_ref_line(r) for r in diff.removed])
    reorder_lines = []
    for r in diff.reordered:
        reorder_lines.append(f"  {r.id}: step {r.old_number} -> {r.new_number}")
        reorder_lines.extend(f"    - {reason}" for reason in reasons(r, str))
    section("Position in the order changed", len(diff.reordered), reorder_lines)
    section("Moved to another site or host", len(diff.moved), [
        f"  {m.number}. {m.id}: {m.old} -> {m.new}" for m in diff.moved
    ])
    section("Manual steps now automated", len(diff.automated), [_ref_line(r) for r in diff.automated])
    section("Automated steps now manual", len(diff.made_manual), [_ref_line(r) for r in diff.made_manual])
    changed_lines = []
    for c in diff.changed:
        changed_lines.append(f"  {c.number}. {c.id}: {_plain(c.title)}")
        changed_lines.extend(_field_lines(c.fields, "    "))
        for d in c.dependencies:
            changed_lines.append(f"    {dependency_text((d,), str)}")
    section("Changed steps", len(diff.changed), changed_lines)
    if diff.critical_path_changed:
        out.extend(["", f"Estimated critical path: {critical_path_text(diff)}"])
        if old.critical_path != new.critical_path:
            out.append(f"  was: {_chain(old.critical_path)}")
            out.append(f"  now: {_chain(new.critical_path)}")
    section("Plan", len(diff.plan), _field_lines(diff.plan, "  "))
    section("Sites and hosts", len(diff.sites), [
        f"  {s.kind} {s.name}: {_site_value(s.old, s.new)}"
        + (f" (steps: {', '.join(s.steps)})" if s.steps else "")
        for s in diff.sites
    ])
    return "\n".join(out) + "\n"


def _ref_line(ref: StepRef) -> str:
    return f"  {ref.number}. {ref.id}: {_plain(ref.title)}"


def _field_lines(changes: tuple[TextChange, ...], indent: str) -> list[str]:
    lines = []
    for change in changes:
        if change.field in INLINE_FIELDS:
            lines.append(f"{indent}{change.field}: {inline_value(change)}")
            continue
        lines.append(f"{indent}{change.field}:")
        lines.extend(f"{indent}  {_plain(line)}" for line in text_diff(change))
    return lines


def _chain(ids: tuple[str, ...]) -> str:
    return " -> ".join(ids) if ids else "(none)"


def _site_value(old: str | None, new: str | None) -> str:
    if old is None:
        return f"added: {_plain(new or '')}"
    if new is None:
        return f"removed: {_plain(old)}"
    return f"{_plain(old)} -> {_plain(new)}"


# --- Markdown ------------------------------------------------------------------------------


def _code(text: str) -> str:
    return md_code_span(text)


def _id_code(step_id: str) -> str:
    """A step id as inline code; ids hold no backtick or pipe, so this is safe in a table too."""
    return f"`{step_id}`"


def diff_as_markdown(diff: PlanDiff) -> str:
    """The report as GitHub-flavoured Markdown, fit for a pull-request comment."""
    old, new = diff.old, diff.new
    if diff.identical:
        return (
            f"**No change:** {_code(old.label)} and {_code(new.label)} are the same plan "
            f"(fingerprint `{new.fingerprint}`).\n"
        )
    name = _code(old.name) if old.name == new.name else f"{_code(old.name)} -> {_code(new.name)}"
    blocks = [
        f"### Plan {name}: what changes",
        "| | Definition | Fingerprint | Steps |\n|---|---|---|---|\n"
        f"| Old | {md_cell(old.label)} | `{old.fingerprint}` | {old.steps} |\n"
        f"| New | {md_cell(new.label)} | `{new.fingerprint}` | {new.steps} |",
    ]
    if old.fingerprint == new.fingerprint:
        blocks.append("The fingerprint is unchanged: nothing that runs changed.")

    def section(title: str, count: int, body: list[str]) -> None:
        if count:
            blocks.append(f"#### {title} ({count})")
            blocks.extend(body)

    section("Steps added", len(diff.added), [_md_refs(diff.added)])
    section("Steps removed", len(diff.removed), [_md_refs(diff.removed)])
    section("Position in the order changed", len(diff.reordered), [
        "| Step | Old | New | Why |\n|---|---|---|---|\n" + "\n".join(
            f"| `{r.id}` | {r.old_number} | {r.new_number} | {'<br>'.join(reasons(r, _id_code))} |"
            for r in diff.reordered
        )
    ])
    section("Moved to another site or host", len(diff.moved), [
        "| Step | Old | New |\n|---|---|---|\n" + "\n".join(
            f"| {m.number} `{m.id}` | {m.old} | {m.new} |" for m in diff.moved
        )
    ])
    section("Manual steps now automated", len(diff.automated), [_md_refs(diff.automated)])
    section("Automated steps now manual", len(diff.made_manual), [_md_refs(diff.made_manual)])
    changed: list[str] = []
    for c in diff.changed:
        changed.append(f"**{c.number} `{c.id}`**: {md_inline(c.title)}")
        changed.extend(_md_fields(c.fields, [dependency_text((d,), _id_code) for d in c.dependencies]))
    section("Changed steps", len(diff.changed), changed)
    if diff.critical_path_changed:
        blocks.append("#### Estimated critical path")
        lines = [f"- {md_inline(critical_path_text(diff))}"]
        if old.critical_path != new.critical_path:
            lines.append(f"- was: {_md_chain(old.critical_path)}")
            lines.append(f"- now: {_md_chain(new.critical_path)}")
        blocks.append("\n".join(lines))
    section("Plan", len(diff.plan), _md_fields(diff.plan, []))
    section("Sites and hosts", len(diff.sites), ["\n".join(
        f"- {s.kind} `{s.name}`: {md_inline(_site_value(s.old, s.new))}"
        + (f" (steps: {', '.join(f'`{i}`' for i in s.steps)})" if s.steps else "")
        for s in diff.sites
    )])
    return "\n\n".join(blocks) + "\n"


def _md_refs(refs: tuple[StepRef, ...]) -> str:
    return "\n".join(f"- {r.number} `{r.id}`: {md_inline(r.title)}" for r in refs)


def _md_fields(changes: tuple[TextChange, ...], extra_items: list[str]) -> list[str]:
    """Short changes as one list, then each text change as a label and a diff block."""
    items = [f"- `{c.field}`: {md_inline(inline_value(c))}" for c in changes if c.field in INLINE_FIELDS]
    items += [f"- {item}" for item in extra_items]
    blocks = ["\n".join(items)] if items else []
    for c in changes:
        if c.field not in INLINE_FIELDS:
            blocks.append(f"`{c.field}`:")
            blocks.append(md_fence("\n".join(text_diff(c)), "diff"))
    return blocks


def _md_chain(ids: tuple[str, ...]) -> str:
    return " -> ".join(f"`{i}`" for i in ids) if ids else "(none)"


# --- JSON ----------------------------------------------------------------------------------


def diff_as_json(diff: PlanDiff) -> str:
    """The PlanDiff as JSON for tools, with the verdicts first."""
    data: dict[str, Any] = {
        "identical": diff.identical,
        "order_changed": diff.order_changed,
        "critical_path_changed": diff.critical_path_changed,
        **dataclasses.asdict(diff),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
