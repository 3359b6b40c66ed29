"""`runbook diff`: what a change of a definition changes in the plan, as one frozen value.

Two plans are compared step by step, steps matched by id. `diff_plans` is pure: it reads
two Plans and returns a PlanDiff; `compiler.render_diff` turns that into text, Markdown
or JSON. Everything in the model is compared, prose included, so that "no change" means
the two definitions describe exactly the same plan (their line numbers and the order of
independent declarations aside).
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compiler.durations import format_duration
from compiler.model import Contact, Host, Resource
from compiler.plan import Plan, Step

#: Step fields compared as text, in the order a report lists them.
STEP_FIELDS = (
    "title", "run", "verify", "verify_timeout", "timeout", "rollback",
    "instructions", "estimate", "owner", "description",
)
#: Plan fields compared as text (the RTO is compared with the critical path instead).
PLAN_FIELDS = ("name", "title", "description", "owner", "rpo", "prerequisites", "abort", "contacts")
#: Fields whose values are durations.
DURATION_FIELDS = frozenset({"verify_timeout", "timeout", "estimate", "rpo"})
#: Fields whose values are short words: reports show them inline as `old -> new`.
INLINE_FIELDS = DURATION_FIELDS | {"name"}


@dataclass(frozen=True, slots=True)
class Version:
    """One side of the comparison: where it came from and what it adds up to."""

    label: str
    name: str
    fingerprint: str
    steps: int
    critical_path: tuple[str, ...]
    critical_path_seconds: int
    rto: int | None


@dataclass(frozen=True, slots=True)
class StepRef:
    """A step by its number (in the plan it belongs to), id and title."""

    number: int
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class DependencyChange:
    """How one step's `requires` or `after` list changed."""

    kind: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reorder:
    """A step present in both plans whose number changed, and what explains it."""

    id: str
    title: str
    old_number: int
    new_number: int
    #: Its own `requires` / `after` changes.
    dependencies: tuple[DependencyChange, ...]
    #: Steps added, or removed, that come before it.
    added_before: tuple[str, ...]
    removed_before: tuple[str, ...]
    #: Steps it used to run after and now runs before, and the reverse.
    now_before: tuple[str, ...]
    now_after: tuple[str, ...]
    #: "earlier" or "later" when the author moved its declaration in the file (relative to
    #: the steps present in both versions), else None.
    declared: str | None


@dataclass(frozen=True, slots=True)
class Move:
    """A step that runs on another site or host: `site/host` (or `site/local`) before and after."""

    number: int
    id: str
    title: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class TextChange:
    """One field's value before and after, as text (None when absent)."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class StepChange:
    """A step present in both plans whose fields or dependencies changed (number in the new plan)."""

    number: int
    id: str
    title: str
    fields: tuple[TextChange, ...]
    dependencies: tuple[DependencyChange, ...]


@dataclass(frozen=True, slots=True)
class SiteChange:
    """A site or host added, removed or changed; `steps` are the ids of the steps that run there."""

    kind: str
    #: The site's name, or `site/host` for a host.
    name: str
    old: str | None
    new: str | None
    steps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """Everything that differs between two plans, each list in a deterministic order."""

    old: Version
    new: Version
    added: tuple[StepRef, ...]
    removed: tuple[StepRef, ...]
    reordered: tuple[Reorder, ...]
    moved: tuple[Move, ...]
    automated: tuple[StepRef, ...]
    made_manual: tuple[StepRef, ...]
    changed: tuple[StepChange, ...]
    plan: tuple[TextChange, ...]
    sites: tuple[SiteChange, ...]
    #: Steps present in both versions run in a different relative order.
    order_changed: bool

    @property
    def critical_path_changed(self) -> bool:
        """The estimated critical path, its chain of steps, or the RTO it is held against changed."""
        old, new = self.old, self.new
        return (old.critical_path_seconds, old.critical_path, old.rto) != (
            new.critical_path_seconds, new.critical_path, new.rto,
        )

    @property
    def identical(self) -> bool:
        """True when the two versions describe exactly the same plan."""
        return (
            self.old.fingerprint == self.new.fingerprint
            and not self.critical_path_changed
            and not any((
                self.added, self.removed, self.reordered, self.moved, self.automated,
                self.made_manual, self.changed, self.plan, self.sites,
            ))
        )


def diff_plans(old: Plan, new: Plan, old_label: str, new_label: str) -> PlanDiff:
    """Compare two plans, steps matched by id; the labels name where each came from."""
    old_steps = {s.id: s for s in old.steps}
    new_steps = {s.id: s for s in new.steps}
    common = [s.id for s in new.steps if s.id in old_steps]
    pairs = [(old_steps[i], new_steps[i]) for i in common]
    return PlanDiff(
        old=_version(old, old_label),
        new=_version(new, new_label),
        added=tuple(_ref(s) for s in new.steps if s.id not in old_steps),
        removed=tuple(_ref(s) for s in old.steps if s.id not in new_steps),
        reordered=_reorders(old, new, pairs),
        moved=tuple(
            Move(b.number, b.id, b.resource.title, _place(a), _place(b))
            for a, b in pairs
            if (a.site.name, _host_name(a)) != (b.site.name, _host_name(b))
        ),
        automated=tuple(_ref(b) for a, b in pairs if a.resource.manual and not b.resource.manual),
        made_manual=tuple(_ref(b) for a, b in pairs if b.resource.manual and not a.resource.manual),
        changed=tuple(change for a, b in pairs if (change := _step_change(a, b)) is not None),
        plan=_plan_changes(old, new),
        sites=_site_changes(old, new),
        order_changed=[s.id for s in old.steps if s.id in new_steps] != common,
    )


def _version(plan: Plan, label: str) -> Version:
    return Version(
        label=label,
        name=plan.info.name,
        fingerprint=plan.fingerprint,
        steps=len(plan.steps),
        critical_path=tuple(plan.steps[n - 1].id for n in plan.critical_path),
        critical_path_seconds=plan.critical_path_seconds,
        rto=plan.info.rto,
    )


def _ref(step: Step) -> StepRef:
    return StepRef(step.number, step.id, step.resource.title)


def _host_name(step: Step) -> str | None:
    return step.host.name if step.host else None


def _place(step: Step) -> str:
    """Where a step runs, as `runbook plan` writes it: site/host, or site/local."""
    return f"{step.site.name}/{step.host.name if step.host else 'local'}"


def _reorders(old: Plan, new: Plan, pairs: list[tuple[Step, Step]]) -> tuple[Reorder, ...]:
    new_ids = {s.id for s in new.steps}
    old_ids = {s.id for s in old.steps}
    added = [(s.number, s.id) for s in new.steps if s.id not in old_ids]
    removed = [(s.number, s.id) for s in old.steps if s.id not in new_ids]
    old_number = {a.id: a.number for a, _ in pairs}
    new_number = {b.id: b.number for _, b in pairs}
    # Two steps that swapped places always include one outside the longest common
    # subsequence of the two orders; only those need comparing with every other step.
    in_new_order = [b.id for _, b in pairs]
    in_old_order = sorted(in_new_order, key=old_number.__getitem__)
    matcher = difflib.SequenceMatcher(a=in_old_order, b=in_new_order, autojunk=False)
    kept = {i for block in matcher.get_matching_blocks() for i in in_old_order[block.a : block.a + block.size]}
    shifted = [i for i in in_new_order if i not in kept]
    declared = _declaration_moves([a.resource for a, _ in pairs], [b.resource for _, b in pairs])
    result = []
    for a, b in pairs:
        if a.number == b.number:
            continue
        others = in_new_order if b.id not in kept else shifted
        result.append(Reorder(
            id=b.id,
            title=b.resource.title,
            old_number=a.number,
            new_number=b.number,
            dependencies=_dependency_changes(a.resource, b.resource),
            added_before=tuple(i for n, i in added[: bisect.bisect_left(added, (b.number, ""))]),
            removed_before=tuple(i for n, i in removed[: bisect.bisect_left(removed, (a.number, ""))]),
            now_before=tuple(
                i for i in others if old_number[i] < a.number and new_number[i] > b.number
            ),
            now_after=tuple(
                i for i in others if old_number[i] > a.number and new_number[i] < b.number
            ),
            declared=declared.get(b.id),
        ))
    return tuple(result)


def _declaration_moves(old: list[Resource], new: list[Resource]) -> dict[str, str]:
    """The steps whose declaration the author moved: "earlier" or "later" in the file.

    Of the steps in both versions, those outside the longest run of declarations kept in
    the same relative order count as moved (moving one step shifts the rank of others,
    which did not move).
    """
    before = [r.id for r in sorted(old, key=lambda r: r.line)]
    after = [r.id for r in sorted(new, key=lambda r: r.line)]
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    kept = {i for block in matcher.get_matching_blocks() for i in before[block.a : block.a + block.size]}
    old_rank = {i: n for n, i in enumerate(before)}
    new_rank = {i: n for n, i in enumerate(after)}
    return {
        i: "earlier" if new_rank[i] < old_rank[i] else "later"
        for i in after
        if i not in kept
    }


def _dependency_changes(old: Resource, new: Resource) -> tuple[DependencyChange, ...]:
    changes = []
    for kind, before, after in (("requires", old.requires, new.requires), ("after", old.after, new.after)):
        if set(before) == set(after):
            continue  # the same steps listed in another order: nothing that is done changes
        added = tuple(i for i in after if i not in before)
        removed = tuple(i for i in before if i not in after)
        changes.append(DependencyChange(kind, added, removed))
    return tuple(changes)


def _step_change(old: Step, new: Step) -> StepChange | None:
    fields = _field_changes(old.resource, new.resource, STEP_FIELDS, _step_value)
    dependencies = _dependency_changes(old.resource, new.resource)
    if not fields and not dependencies:
        return None
    return StepChange(new.number, new.id, new.resource.title, fields, dependencies)


def _field_changes(
    old: Any, new: Any, names: tuple[str, ...], value: Callable[[Any, str], str | None],
) -> tuple[TextChange, ...]:
    changes = []
    for name in names:
        before, after = value(old, name), value(new, name)
        if before != after:
            changes.append(TextChange(name, before, after))
    return tuple(changes)


def _step_value(resource: Resource, name: str) -> str | None:
    value = getattr(resource, name)
    if value is None:
        return None
    return format_duration(value) if name in DURATION_FIELDS else str(value)


def _plan_changes(old: Plan, new: Plan) -> tuple[TextChange, ...]:
    return _field_changes(old.info, new.info, PLAN_FIELDS, _plan_value)


def _plan_value(info: Any, name: str) -> str | None:
    value = getattr(info, name)
    if name == "prerequisites":
        return "\n".join(f"- {p}" for p in value) or None
    if name == "contacts":
        return "\n".join(_contact(c) for c in value) or None
    if value is None:
        return None
    return format_duration(value) if name in DURATION_FIELDS else str(value)


def _contact(contact: Contact) -> str:
    details = ", ".join(d for d in (contact.name, contact.phone, contact.email) if d is not None)
    return f"{contact.role}: {details}" if details else contact.role


def _site_changes(old: Plan, new: Plan) -> tuple[SiteChange, ...]:
    old_sites = {s.name: s for s in old.sites}
    new_sites = {s.name: s for s in new.sites}
    names = [s.name for s in new.sites] + [s.name for s in old.sites if s.name not in new_sites]
    changes = []
    for name in names:
        a, b = old_sites.get(name), new_sites.get(name)
        before = _site_text(a.role, a.title) if a else None
        after = _site_text(b.role, b.title) if b else None
        if before != after:
            changes.append(SiteChange("site", name, before, after))
        old_hosts = {h.name: h for h in a.hosts} if a else {}
        new_hosts = {h.name: h for h in b.hosts} if b else {}
        host_names = list(new_hosts) + [h for h in old_hosts if h not in new_hosts]
        for host in host_names:
            was, now = old_hosts.get(host), new_hosts.get(host)
            if _host_text(was) != _host_text(now):
                plan = new if now is not None else old
                users = tuple(s.id for s in plan.steps if s.site.name == name and _host_name(s) == host)
                changes.append(SiteChange("host", f"{name}/{host}", _host_text(was), _host_text(now), users))
    return tuple(changes)


def _site_text(role: str, title: str | None) -> str:
    return f"{role} ({title})" if title else role


def _host_text(host: Host | None) -> str | None:
    if host is None:
        return None
    return f"{host.target}:{host.port}" if host.port else host.target
