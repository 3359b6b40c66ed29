"""`runbook diff` (compiler/diff.py, compiler/render_diff.py, compiler/sources.py): two versions of a plan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.diff import PlanDiff, diff_plans
from compiler.load import load_bytes
from compiler.plan import Plan
from compiler.render_diff import diff_as_json, diff_as_markdown, diff_as_text, reasons
from compiler.pipeline import compile_document
from tests.conftest import run_cli

BASE = """\
version: 1
plan:
  name: shop
  title: Shop failover
  rto: 20m
sites:
  fra:
    role: primary
    hosts:
      fra-db1: {address: 10.1.0.11, user: postgres}
  dub:
    role: dr
    hosts:
      dub-db1: {address: db1.dub.example.net, user: postgres}
      dub-db2: {address: db2.dub.example.net, user: postgres}
resources:
  - id: declare
    title: Declare the disaster
    site: dub
    instructions: Call the incident commander.
    estimate: 5m
  - id: fence-db
    title: Fence the old primary
    site: fra
    host: fra-db1
    run: systemctl stop postgresql
    after: [declare]
    estimate: 2m
  - id: promote-db
    title: Promote the replica
    site: dub
    host: dub-db1
    run: pg_ctl promote
    verify: psql -Atc 'select 1'
    timeout: 5m
    requires: [fence-db]
    estimate: 10m
    rollback: |
      Rebuild the replica
      from fra-db1,
      then call the DBA.
  - id: notify
    title: Notify support
    site: dub
    run: notify-support
    after: [declare]
  - id: old-step
    title: Clear the old cache
    site: dub
    run: clear-cache
"""

#: Every category at once: a step added and one removed, an order changed by a
#: dependency and by a moved declaration, a host change, changed commands, checks, time
#: limits and a rollback, a manual step automated and an automated one made manual, and
#: a critical path that now exceeds the RTO.
NEW = """\
version: 1
plan:
  name: shop
  title: Shop failover
  rto: 20m
sites:
  fra:
    role: primary
    hosts:
      fra-db1: {address: 10.1.0.11, user: postgres}
  dub:
    role: dr
    hosts:
      dub-db1: {address: db1.dub.example.net, user: postgres}
      dub-db2: {address: db2.dub.example.net, user: postgres}
resources:
  - id: declare
    title: Declare the disaster
    site: dub
    run: page-incident-commander
    estimate: 5m
  - id: notify
    title: Notify support
    site: dub
    instructions: Tell support in the chat.
    after: [declare]
  - id: fence-db
    title: Fence the old primary
    site: fra
    host: fra-db1
    run: systemctl stop postgresql
    after: [declare, notify]
    estimate: 2m
  - id: promote-db
    title: Promote the replica
    site: dub
    host: dub-db2
    run: pg_ctl promote --wait
    verify: psql -Atc 'select 2'
    verify_timeout: 2m
    timeout: 10m
    requires: [fence-db]
    estimate: 15m
    rollback: |
      Rebuild the replica
      from fra-db1,
      then page the DBA.
  - id: check-dns
    title: Check DNS from outside
    site: dub
    run: dig +short shop.example.com
    requires: [promote-db]
    estimate: 3m
"""

OLD_STEP = """\
  - id: old-step
    title: Clear the old cache
    site: dub
    run: clear-cache
"""


def plan(text: str, name: str = "plan.yaml") -> Plan:
    return compile_document(load_bytes(text.encode("utf-8"), name))


def compare(old: str, new: str) -> PlanDiff:
    return diff_plans(plan(old, "old.yaml"), plan(new, "new.yaml"), "old.yaml", "new.yaml")


def fingerprints(old: str, new: str) -> str:
    """The header lines every report of two different plans starts with."""
    a, b = plan(old), plan(new)
    return (
        f"Fingerprint: {a.fingerprint} ({len(a.steps)} steps)\n"
        f"          -> {b.fingerprint} ({len(b.steps)} steps)\n"
    )


# --- every category at once, text and Markdown ----------------------------------------------


def test_every_category_in_the_text_report() -> None:
    assert diff_as_text(compare(BASE, NEW)) == "Plan shop: old.yaml -> new.yaml\n" + fingerprints(BASE, NEW) + """
Steps added (1):
  5. check-dns: Check DNS from outside

Steps removed (1):
  5. old-step: Clear the old cache

Position in the order changed (3):
  notify: step 4 -> 2
    - now runs before: fence-db, promote-db
    - declared earlier in the definition
  fence-db: step 2 -> 3
    - its dependencies changed (after: +notify)
    - now runs after: notify
  promote-db: step 3 -> 4
    - now runs after: notify

Moved to another site or host (1):
  4. promote-db: dub/dub-db1 -> dub/dub-db2

Manual steps now automated (1):
  1. declare: Declare the disaster

Automated steps now manual (1):
  2. notify: Notify support

Changed steps (4):
  1. declare: Declare the disaster
    run:
      +page-incident-commander
    instructions:
      -Call the incident commander.
  2. notify: Notify support
    run:
      -notify-support
    instructions:
      +Tell support in the chat.
  3. fence-db: Fence the old primary
    after: +notify
  4. promote-db: Promote the replica
    run:
      -pg_ctl promote
      +pg_ctl promote --wait
    verify:
      -psql -Atc 'select 1'
      +psql -Atc 'select 2'
    verify_timeout: none -> 2m
    timeout: 5m -> 10m
    rollback:
      @@ -1,3 +1,3 @@
       Rebuild the replica
       from fra-db1,
      -then call the DBA.
      +then page the DBA.
    estimate: 10m -> 15m

Estimated critical path: 17m -> 25m; RTO 20m: was within it, now over it by 5m
  was: declare -> fence-db -> promote-db
  now: declare -> fence-db -> promote-db -> check-dns
"""


def test_every_category_in_the_markdown_report() -> None:
    a, b = plan(BASE), plan(NEW)
    assert diff_as_markdown(compare(BASE, NEW)) == f"""\
### Plan `shop`: what changes

| | Definition | Fingerprint | Steps |
|---|---|---|---|
| Old | old.yaml | `{a.fingerprint}` | 5 |
| New | new.yaml | `{b.fingerprint}` | 5 |

#### Steps added (1)

- 5 `check-dns`: Check DNS from outside

#### Steps removed (1)

- 5 `old-step`: Clear the old cache

#### Position in the order changed (3)

| Step | Old | New | Why |
|---|---|---|---|
| `notify` | 4 | 2 | now runs before: `fence-db`, `promote-db`<br>declared earlier in the definition |
| `fence-db` | 2 | 3 | its dependencies changed (after: +`notify`)<br>now runs after: `notify` |
| `promote-db` | 3 | 4 | now runs after: `notify` |

#### Moved to another site or host (1)

| Step | Old | New |
|---|---|---|
| 4 `promote-db` | dub/dub-db1 | dub/dub-db2 |

#### Manual steps now automated (1)

- 1 `declare`: Declare the disaster

#### Automated steps now manual (1)

- 2 `notify`: Notify support

#### Changed steps (4)

**1 `declare`**: Declare the disaster

`run`:

```diff
+page-incident-commander
```

`instructions`:

```diff
-Call the incident commander.
```

**2 `notify`**: Notify support

`run`:

```diff
-notify-support
```

`instructions`:

```diff
+Tell support in the chat.
```

**3 `fence-db`**: Fence the old primary

- after: +`notify`

**4 `promote-db`**: Promote the replica

- `verify_timeout`: none -> 2m
- `timeout`: 5m -> 10m
- `estimate`: 10m -> 15m

`run`:

```diff
-pg_ctl promote
+pg_ctl promote --wait
```

`verify`:

```diff
-psql -Atc 'select 1'
+psql -Atc 'select 2'
```

`rollback`:

```diff
@@ -1,3 +1,3 @@
 Rebuild the replica
 from fra-db1,
-then call the DBA.
+then page the DBA.
```

#### Estimated critical path

- 17m -> 25m; RTO 20m: was within it, now over it by 5m
- was: `declare` -> `fence-db` -> `promote-db`
- now: `declare` -> `fence-db` -> `promote-db` -> `check-dns`
"""


def test_the_markdown_report_reads_back_as_the_intended_outline() -> None:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(diff_as_markdown(compare(BASE, NEW)))
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [
        "Plan `shop`: what changes", "Steps added (1)", "Steps removed (1)",
        "Position in the order changed (3)", "Moved to another site or host (1)",
        "Manual steps now automated (1)", "Automated steps now manual (1)", "Changed steps (4)",
        "Estimated critical path",
    ]
    assert [t.info for t in tokens if t.type == "fence"] == ["diff"] * 7


# --- one category at a time -----------------------------------------------------------------


def test_steps_added_and_removed_renumber_the_rest_and_say_why() -> None:
    new = BASE.replace(OLD_STEP, "").replace(
        "resources:\n", "resources:\n  - id: check-vpn\n    title: Check the VPN\n    site: dub\n    run: ping -c1 vpn\n",
    )
    diff = compare(BASE, new)
    assert diff_as_text(diff) == "Plan shop: old.yaml -> new.yaml\n" + fingerprints(BASE, new) + """
Steps added (1):
  1. check-vpn: Check the VPN

Steps removed (1):
  5. old-step: Clear the old cache

Position in the order changed (4):
  declare: step 1 -> 2
    - 1 step added before it: check-vpn
  fence-db: step 2 -> 3
    - 1 step added before it: check-vpn
  promote-db: step 3 -> 4
    - 1 step added before it: check-vpn
  notify: step 4 -> 5
    - 1 step added before it: check-vpn
"""
    assert not diff.order_changed  # the steps of both versions keep their relative order


def test_long_lists_of_reasons_are_cut_short() -> None:
    added = "".join(
        f"  - id: early-{n:02d}\n    title: Early {n}\n    site: dub\n    run: 'true'\n" for n in range(12)
    )
    diff = compare(BASE, BASE.replace("resources:\n", "resources:\n" + added))
    assert reasons(diff.reordered[0], str) == (
        "12 steps added before it: early-00, early-01, early-02, early-03, early-04, early-05, "
        "early-06, early-07, early-08, early-09, ... (12 in all)",
    )


def test_steps_removed_before_a_step_are_named() -> None:
    new = BASE.replace(
        "  - id: fence-db\n", "  - id: fence-db\n    after: [declare]\n", 1,
    ).replace("    after: [declare]\n    estimate: 2m\n", "    estimate: 2m\n").replace(
        "  - id: declare\n    title: Declare the disaster\n    site: dub\n"
        "    instructions: Call the incident commander.\n    estimate: 5m\n", "",
    ).replace("    after: [declare]\n", "")
    diff = compare(BASE, new)
    assert [(r.id, r.old_number, r.new_number, reasons(r, str)) for r in diff.reordered] == [
        ("fence-db", 2, 1, ("its dependencies changed (after: -declare)", "1 step removed before it: declare")),
        ("promote-db", 3, 2, ("1 step removed before it: declare",)),
        ("notify", 4, 3, ("its dependencies changed (after: -declare)", "1 step removed before it: declare")),
        ("old-step", 5, 4, ("1 step removed before it: declare",)),
    ]


def test_an_order_changed_by_a_dependency_names_the_dependency() -> None:
    new = BASE.replace("after: [declare]\n    estimate: 2m", "after: [declare, notify]\n    estimate: 2m")
    diff = compare(BASE, new)
    assert diff_as_text(diff) == "Plan shop: old.yaml -> new.yaml\n" + fingerprints(BASE, new) + """
Position in the order changed (3):
  notify: step 4 -> 2
    - now runs before: fence-db, promote-db
  fence-db: step 2 -> 3
    - its dependencies changed (after: +notify)
    - now runs after: notify
  promote-db: step 3 -> 4
    - now runs after: notify

Changed steps (1):
  3. fence-db: Fence the old primary
    after: +notify
"""
    assert diff.order_changed


def test_steps_moved_to_another_site_or_host() -> None:
    new = BASE.replace("host: dub-db1", "host: dub-db2").replace("    site: fra\n    host: fra-db1\n", "    site: dub\n")
    assert diff_as_text(compare(BASE, new)) == "Plan shop: old.yaml -> new.yaml\n" + fingerprints(BASE, new) + """
Moved to another site or host (2):
  2. fence-db: fra/fra-db1 -> dub/local
  3. promote-db: dub/dub-db1 -> dub/dub-db2
"""


def test_changed_commands_checks_time_limits_and_rollbacks() -> None:
    new = BASE.replace(
        "run: pg_ctl promote\n    verify: psql -Atc 'select 1'\n    timeout: 5m",
        "run: |\n      set -euo pipefail\n      pg_ctl promote --wait\n      touch /tmp/promoted\n"
        "    verify: psql -Atc 'select 2'\n    verify_timeout: 2m\n    timeout: 10m",
    ).replace("then call the DBA.", "then page the DBA.").replace(
        "run: systemctl stop postgresql\n", "run: systemctl stop postgresql\n    verify: systemctl is-failed postgresql\n",
    )
    diff = compare(BASE, new)
    assert diff_as_text(diff) == "Plan shop: old.yaml -> new.yaml\n" + fingerprints(BASE, new) + """
Changed steps (2):
  2. fence-db: Fence the old primary
    verify:
      +systemctl is-failed postgresql
  3. promote-db: Promote the replica
    run:
      @@ -1 +1,3 @@
      -pg_ctl promote
      +set -euo pipefail
      +pg_ctl promote --wait
      +touch /tmp/promoted
    verify:
      -psql -Atc 'select 1'
      +psql -Atc 'select 2'
    verify_timeout: none -> 2m
    timeout: 5m -> 10m
    rollback:
      @@ -1,3 +1,3 @@
       Rebuild the replica
       from fra-db1,
      -then call the DBA.
      +then page the DBA.
"""
    markdown = diff_as_markdown(diff)
    assert """\
**3 `promote-db`**: Promote the replica

- `verify_timeout`: none -> 2m
- `timeout`: 5m -> 10m

`run`:

```diff
@@ -1 +1,3 @@
-pg_ctl promote
+set -euo pipefail
+pg_ctl promote --wait
+touch /tmp/promoted
```
""" in markdown


def test_a_long_command_shows_only_the_lines_around_the_change() -> None:
    lines = [f"echo line {n}" for n in range(1, 11)]
    old = BASE.replace("run: clear-cache", "run: |\n" + "".join(f"      {line}\n" for line in lines).rstrip("\n"))
    lines[5] = "echo line six"
    new = BASE.replace("run: clear-cache", "run: |\n" + "".join(f"      {line}\n" for line in lines).rstrip("\n"))
    assert diff_as_text(compare(old, new)).endswith("""
Changed steps (1):
  5. old-step: Clear the old cache
    run:
      @@ -4,5 +4,5 @@
       echo line 4
       echo line 5
      -echo line 6
      +echo line six
       echo line 7
       echo line 8
""")


def test_manual_steps_automated_and_the_reverse() -> None:
    new = BASE.replace("    instructions: Call the incident commander.\n", "    run: page-incident-commander\n").replace(
        "    run: notify-support\n", "    instructions: Tell support in the chat.\n",
    )
    diff = compare(BASE, new)
    assert diff_as_text(diff) == "Plan shop: old.yaml -> new.yaml\n" + fingerprints(BASE, new) + """
Manual steps now automated (1):
  1. declare: Declare the disaster

Automated steps now manual (1):
  4. notify: Notify support

Changed steps (2):
  1. declare: Declare the disaster
    run:
      +page-incident-commander
    instructions:
      -Call the incident commander.
  4. notify: Notify support
    run:
      -notify-support
    instructions:
      +Tell support in the chat.
"""


def test_the_critical_path_against_the_rto_with_the_same_fingerprint() -> None:
    new = BASE.replace("estimate: 10m", "estimate: 20m")
    assert diff_as_text(compare(BASE, new)) == f"""\
Plan shop: old.yaml -> new.yaml
Fingerprint: {plan(BASE).fingerprint} (unchanged: nothing that runs changed)

Changed steps (1):
  3. promote-db: Promote the replica
    estimate: 10m -> 20m

Estimated critical path: 17m -> 27m; RTO 20m: was within it, now over it by 7m
"""
    assert diff_as_markdown(compare(BASE, new)).endswith(
        "The fingerprint is unchanged: nothing that runs changed.\n\n"
        "#### Changed steps (1)\n\n"
        "**3 `promote-db`**: Promote the replica\n\n"
        "- `estimate`: 10m -> 20m\n\n"
        "#### Estimated critical path\n\n"
        "- 17m -> 27m; RTO 20m: was within it, now over it by 7m\n"
    )


@pytest.mark.parametrize(
    ("old_rto", "new_rto", "new_estimate", "line"),
    [
        ("rto: 20m", "rto: 10m", "10m", "17m (unchanged); RTO 20m -> 10m: was within it, now over it by 7m"),
        ("rto: 20m", "rpo: 5m", "10m", "17m (unchanged); RTO 20m -> none"),
        ("rpo: 5m", "rto: 1h", "10m", "17m (unchanged); RTO none -> 1h: within it"),
        ("rto: 20m", "rto: 20m", "1m", "17m -> 8m; RTO 20m: within it"),
    ],
)
def test_the_critical_path_line(old_rto: str, new_rto: str, new_estimate: str, line: str) -> None:
    old = BASE.replace("rto: 20m", old_rto)
    new = BASE.replace("rto: 20m", new_rto).replace("estimate: 10m", f"estimate: {new_estimate}")
    assert f"\nEstimated critical path: {line}\n" in diff_as_text(compare(old, new))


def test_plan_fields_sites_and_hosts() -> None:
    new = BASE.replace("  name: shop\n", "  name: shop-eu\n  rpo: 5m\n  prerequisites:\n    - VPN up\n").replace(
        "title: Promote the replica", "title: Promote the Dublin replica",
    ).replace("fra-db1: {address: 10.1.0.11, user: postgres}", "fra-db1: {address: 10.1.0.12, user: postgres}").replace(
        "      dub-db2: {address: db2.dub.example.net, user: postgres}\n",
        "      dub-db2: {address: db2.dub.example.net, user: postgres, port: 2222}\n  lon:\n    role: other\n    title: London\n",
    ).replace("    role: dr\n", "    role: dr\n    title: Dublin\n")
    assert diff_as_text(compare(BASE, new)) == "Plan shop -> shop-eu: old.yaml -> new.yaml\n" + fingerprints(BASE, new) + """
Changed steps (1):
  3. promote-db: Promote the Dublin replica
    title:
      -Promote the replica
      +Promote the Dublin replica

Plan (3):
  name: shop -> shop-eu
  rpo: none -> 5m
  prerequisites:
    +- VPN up

Sites and hosts (4):
  host fra/fra-db1: postgres@10.1.0.11 -> postgres@10.1.0.12 (steps: fence-db)
  site dub: dr -> dr (Dublin)
  host dub/dub-db2: postgres@db2.dub.example.net -> postgres@db2.dub.example.net:2222
  site lon: added: other (London)
"""


def test_dependencies_listed_in_another_order_are_no_change() -> None:
    old = BASE.replace("requires: [fence-db]", "requires: [fence-db, declare]")
    new = BASE.replace("requires: [fence-db]", "requires: [declare, fence-db]")
    assert plan(old).fingerprint == plan(new).fingerprint
    assert diff_as_text(compare(old, new)).startswith("No change: ")


def test_user_text_cannot_drive_the_terminal_or_break_the_markdown() -> None:
    new = BASE.replace("title: Notify support", 'title: "Notify | `support` \\e[31m"').replace(
        "run: notify-support", "run: |\n      cat <<'EOF'\n      ```\n      EOF",
    )
    diff = compare(BASE, new)
    text = diff_as_text(diff)
    assert "\x1b" not in text
    assert "  4. notify: Notify | `support` \\x1b[31m\n" in text
    markdown = diff_as_markdown(diff)
    assert "**4 `notify`**: Notify \\| \\`support\\` \\\\x1b\\[31m\n" in markdown
    assert "````diff\n@@ -1 +1,3 @@\n-notify-support\n+cat <<'EOF'\n+```\n+EOF\n````\n" in markdown


def test_the_json_report_holds_the_verdicts_and_every_change() -> None:
    data = json.loads(diff_as_json(compare(BASE, NEW)))
    assert (data["identical"], data["order_changed"], data["critical_path_changed"]) == (False, True, True)
    assert data["old"]["fingerprint"] == plan(BASE).fingerprint
    assert [s["id"] for s in data["added"]] == ["check-dns"]
    assert [s["id"] for s in data["removed"]] == ["old-step"]
    assert data["reordered"][1] == {
        "id": "fence-db", "title": "Fence the old primary", "old_number": 2, "new_number": 3,
        "dependencies": [{"kind": "after", "added": ["notify"], "removed": []}],
        "added_before": [], "removed_before": [], "now_before": [], "now_after": ["notify"], "declared": None,
    }
    assert data["moved"] == [{"number": 4, "id": "promote-db", "title": "Promote the replica",
                              "old": "dub/dub-db1", "new": "dub/dub-db2"}]
    assert [s["id"] for s in data["automated"]] == ["declare"]
    assert [s["id"] for s in data["made_manual"]] == ["notify"]


# --- identical plans ------------------------------------------------------------------------


def test_identical_plans_say_so_in_one_line() -> None:
    diff = compare(BASE, BASE.replace("# nothing", "") + "# a comment changes nothing\n")
    fingerprint = plan(BASE).fingerprint
    assert diff.identical
    assert diff_as_text(diff) == (
        f"No change: old.yaml and new.yaml are the same plan (fingerprint {fingerprint}).\n"
    )
    assert diff_as_markdown(diff) == (
        f"**No change:** `old.yaml` and `new.yaml` are the same plan (fingerprint `{fingerprint}`).\n"
    )


def test_declaring_independent_steps_in_another_order_that_keeps_the_plan_is_no_change() -> None:
    swapped = BASE.replace(OLD_STEP, "").replace("  - id: notify\n", OLD_STEP + "  - id: notify\n")
    assert plan(swapped).fingerprint != plan(BASE).fingerprint  # the order changed: old-step is now 4
    diff = compare(BASE, swapped)
    assert diff.order_changed
    assert [(r.id, reasons(r, str)) for r in diff.reordered] == [
        ("old-step", ("now runs before: notify", "declared earlier in the definition")),
        ("notify", ("now runs after: old-step",)),
    ]


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "new.yaml").write_text(NEW, encoding="utf-8")
    (tmp_path / "renumbered.yaml").write_text(BASE.replace(OLD_STEP, "").replace(
        "resources:\n", "resources:\n  - id: check-vpn\n    title: Check the VPN\n    site: dub\n    run: ping -c1 vpn\n",
    ), encoding="utf-8")
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["diff", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_prints_the_reports(versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diff = compare(BASE, NEW)
    assert cli(capsys, "old.yaml", "new.yaml") == (0, diff_as_text(diff), "")
    assert cli(capsys, "--format", "markdown", "old.yaml", "new.yaml") == (0, diff_as_markdown(diff), "")
    assert cli(capsys, "old.yaml", "new.yaml", "--format", "json") == (0, diff_as_json(diff), "")


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("old.yaml", "old.yaml"), 0),
        (("old.yaml", "new.yaml"), 0),
        (("--exit-code", "old.yaml", "old.yaml"), 0),
        (("--exit-code", "old.yaml", "new.yaml"), 1),
        (("--exit-code", "old.yaml", "renumbered.yaml"), 1),
        (("--fail-on-order-change", "old.yaml", "old.yaml"), 0),
        (("--fail-on-order-change", "old.yaml", "renumbered.yaml"), 0),
        (("--fail-on-order-change", "old.yaml", "new.yaml"), 1),
        (("--fail-on-order-change", "--exit-code", "old.yaml", "renumbered.yaml"), 1),
    ],
)
def test_exit_codes_for_ci(versions: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], status: int) -> None:
    assert cli(capsys, *args)[0] == status


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("diff",), "the following arguments are required: OLD, NEW"),
        (("diff", "a.yaml"), "the following arguments are required: NEW"),
        (("diff", "a.yaml", "b.yaml", "c.yaml"), "unrecognized arguments: c.yaml"),
        (("diff", "--format", "html", "a.yaml", "b.yaml"), "argument --format: invalid choice: 'html'"),
        (("diff", "", "b.yaml"), "argument OLD: must not be empty"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("usage: runbook")
    assert words in result.stderr


def test_invalid_definitions_on_both_sides_are_all_reported(versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (versions / "bad.yaml").write_text(BASE.replace("site: fra\n", "site: frankfurt\n"), encoding="utf-8")
    status, out, err = cli(capsys, "missing.yaml", "bad.yaml")
    assert (status, out) == (1, "")
    assert err == (
        run_cli("validate", "missing.yaml", cwd=versions).stderr
        + run_cli("validate", "bad.yaml", cwd=versions).stderr
    )
    assert err.startswith("missing.yaml: error: no such file")


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    result = run_cli("diff", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(
        "usage: runbook diff [-h] [--format {text,markdown,json}] [--exit-code]\n"
        "                    [--fail-on-order-change]\n"
        "                    OLD NEW\n"
    )
    assert "exit status: 0 compared (differences or not), 1 with --exit-code" in " ".join(result.stdout.split())


# --- REV:PATH from git ----------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with two commits of runbooks/shop.yaml (BASE, then NEW), as the current directory."""
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "runbooks").mkdir()
    definition = tmp_path / "runbooks" / "shop.yaml"
    definition.write_text(BASE, encoding="utf-8")
    git(tmp_path, "add", "runbooks")
    git(tmp_path, "commit", "-q", "-m", "first")
    definition.write_text(NEW, encoding="utf-8")
    git(tmp_path, "commit", "-q", "-a", "-m", "second")
    return tmp_path


def test_a_side_read_from_git(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = diff_plans(plan(BASE), plan(NEW), "HEAD~1:runbooks/shop.yaml", "runbooks/shop.yaml")
    assert cli(capsys, "HEAD~1:runbooks/shop.yaml", "runbooks/shop.yaml") == (0, diff_as_text(expected), "")
    status, out, _ = cli(capsys, "HEAD~1:runbooks/shop.yaml", "HEAD:runbooks/shop.yaml")
    assert (status, out.splitlines()[0]) == (0, "Plan shop: HEAD~1:runbooks/shop.yaml -> HEAD:runbooks/shop.yaml")
    assert cli(capsys, "main:runbooks/shop.yaml", "runbooks/shop.yaml")[1].startswith("No change: ")


def test_paths_relative_to_the_current_directory_and_the_index(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "runbooks" / "shop.yaml").write_text(BASE, encoding="utf-8")
    git(repo, "add", "runbooks/shop.yaml")
    monkeypatch.chdir(repo / "runbooks")
    assert cli(capsys, "HEAD~1:./shop.yaml", ":runbooks/shop.yaml")[1].startswith("No change: HEAD~1:./shop.yaml and ")
    assert cli(capsys, "HEAD:./shop.yaml", "shop.yaml")[1].startswith("Plan shop: HEAD:./shop.yaml -> shop.yaml\n")


def test_an_invalid_definition_in_git_is_located_by_rev_and_path(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "runbooks" / "shop.yaml").write_text(BASE.replace("site: fra\n", "site: frankfurt\n"), encoding="utf-8")
    git(repo, "commit", "-q", "-a", "-m", "broken")
    expected = run_cli("validate", "runbooks/shop.yaml", cwd=repo).stderr.replace("runbooks/shop.yaml:", "HEAD:runbooks/shop.yaml:")
    status, out, err = cli(capsys, "HEAD:runbooks/shop.yaml", "HEAD~1:runbooks/shop.yaml")
    assert (status, out) == (1, "")
    assert err == expected
    assert err.startswith("HEAD:runbooks/shop.yaml:24:11: error: ")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("HEAD~5:runbooks/shop.yaml", "unknown revision 'HEAD~5' in this repository"),
        ("HEAD:runbooks/shpo.yaml", "'runbooks/shpo.yaml' is not in revision 'HEAD'; did you mean 'HEAD:runbooks/shop.yaml'?"),
        ("HEAD:elsewhere/notes.txt", "'elsewhere/notes.txt' is not in revision 'HEAD'"),
        ("HEAD:runbooks", "'runbooks' is a directory in revision 'HEAD', not a definition file"),
        (":runbooks/new.yaml", "'runbooks/new.yaml' is not in the index (the staged files); did you mean ':runbooks/shop.yaml'?"),
        ("HEAD:", "names no file after the colon; write REV:PATH, e.g. HEAD~1:runbooks/plan.yaml"),
        ("-x:runbooks/shop.yaml", "'-x' is not a git revision (it starts with '-')"),
    ],
)
def test_git_sides_that_cannot_be_read(repo: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str) -> None:
    assert cli(capsys, "--", spec, "runbooks/shop.yaml") == (1, "", f"{spec}: error: {message}\n")


def test_a_huge_file_in_git_is_refused_before_it_is_read(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compiler.load import MAX_FILE_BYTES

    (repo / "runbooks" / "huge.yaml").write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    git(repo, "add", "runbooks/huge.yaml")
    git(repo, "commit", "-q", "-m", "huge")
    message = (
        f"error: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, "
        "the most a definition may be: is this the right file?\n"
    )
    assert cli(capsys, "HEAD:runbooks/huge.yaml", "runbooks/shop.yaml") == (1, "", f"HEAD:runbooks/huge.yaml: {message}")
    assert run_cli("validate", "runbooks/huge.yaml", cwd=repo).stderr == f"runbooks/huge.yaml: {message}"


def test_outside_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(BASE, encoding="utf-8")
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    result = run_cli("diff", "HEAD:shop.yaml", "shop.yaml", cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "HEAD:shop.yaml: error: cannot read it from git: the current directory is not in a git "
        "repository; run runbook diff inside the repository, or pass the path of a file\n"
    )


def test_without_git_installed(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-such-dir"))
    assert cli(capsys, "HEAD:runbooks/shop.yaml", "runbooks/shop.yaml") == (1, "", (
        "HEAD:runbooks/shop.yaml: error: cannot read it from git: the git program is not installed (or not on PATH)\n"
    ))


def test_an_existing_file_with_a_colon_in_its_name_is_read_as_a_file(versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (versions / "v1:shop.yaml").write_text(BASE, encoding="utf-8")
    assert cli(capsys, "v1:shop.yaml", "old.yaml")[1].startswith("No change: v1:shop.yaml and old.yaml")


def test_the_report_is_the_same_under_any_hash_seed(versions: Path) -> None:
    outputs = {
        run_cli("diff", "--format", "markdown", "old.yaml", "new.yaml", cwd=versions, env={"PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1


# --- properties over random plans -----------------------------------------------------------

_IDS = [f"step-{n}" for n in range(10)]
_LINE = st.text(alphabet="abc XYZ|`*_#<>:'\"", min_size=1, max_size=20).filter(lambda t: t.strip())
_TEXT = st.text(alphabet="abc XYZ|`*\n$", min_size=1, max_size=40).filter(lambda t: t.strip())
_DURATION = st.sampled_from(["30s", "5m", "2h", "90m"])


@st.composite
def definitions(draw: st.DrawFn) -> str:
    """A random valid definition: a random DAG of resources with random fields."""
    sites = draw(st.lists(st.sampled_from(["fra", "dub", "lon"]), min_size=1, max_size=3, unique=True))
    hosts = {
        site: draw(st.lists(st.sampled_from([f"{site}-h1", f"{site}-h2"]), max_size=2, unique=True))
        for site in sites
    }
    ids = draw(st.lists(st.sampled_from(_IDS), min_size=1, max_size=8, unique=True))
    # A random rank per resource: dependencies point to lower ranks only, so no cycles,
    # and declaration order differs from dependency order.
    rank = draw(st.permutations(range(len(ids))))
    resources = []
    for i, rid in enumerate(ids):
        site = draw(st.sampled_from(sites))
        resource: dict[str, object] = {"id": rid, "title": draw(_LINE), "site": site}
        if hosts[site] and draw(st.booleans()):
            resource["host"] = draw(st.sampled_from(hosts[site]))
        if draw(st.booleans()):
            resource["run"] = draw(_TEXT)
            if draw(st.booleans()):
                resource["instructions"] = draw(_TEXT)
        else:
            resource["instructions"] = draw(_TEXT)
        for key, strategy in (("verify", _TEXT), ("rollback", _TEXT), ("owner", _LINE), ("description", _TEXT),
                              ("timeout", _DURATION), ("verify_timeout", _DURATION), ("estimate", _DURATION)):
            if draw(st.booleans()):
                resource[key] = draw(strategy)
        earlier = [ids[j] for j in range(len(ids)) if rank[j] < rank[i]]
        if earlier:
            deps = draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))
            split = draw(st.integers(0, len(deps)))
            if deps[:split]:
                resource["requires"] = deps[:split]
            if deps[split:]:
                resource["after"] = deps[split:]
        resources.append(resource)
    plan_info: dict[str, object] = {"name": draw(st.sampled_from(["shop", "shop-eu"])), "title": draw(_LINE)}
    if draw(st.booleans()):
        plan_info["rto"] = draw(_DURATION)
    document = {
        "version": 1,
        "plan": plan_info,
        "sites": {
            site: {"role": draw(st.sampled_from(["primary", "dr", "other"])),
                   **({"hosts": {h: {"address": f"{h}.example.net"} for h in hosts[site]}} if hosts[site] else {})}
            for site in sites
        },
        "resources": resources,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(definitions())
def test_a_plan_compared_with_itself_reports_nothing(text: str) -> None:
    diff = diff_plans(plan(text, "a.yaml"), plan(text, "b.yaml"), "a.yaml", "b.yaml")
    assert diff.identical
    assert not diff.order_changed
    assert diff_as_text(diff).startswith("No change: a.yaml and b.yaml are the same plan")
    assert diff_as_text(diff).count("\n") == 1
    assert diff_as_markdown(diff).count("\n") == 1
    assert json.loads(diff_as_json(diff))["identical"] is True


@_PROPERTY
@given(definitions(), definitions())
def test_every_step_added_or_removed_is_reported(old_text: str, new_text: str) -> None:
    old, new = plan(old_text, "a.yaml"), plan(new_text, "b.yaml")
    diff = diff_plans(old, new, "a.yaml", "b.yaml")
    old_ids, new_ids = [s.id for s in old.steps], [s.id for s in new.steps]
    assert [r.id for r in diff.added] == [i for i in new_ids if i not in old_ids]
    assert [r.id for r in diff.removed] == [i for i in old_ids if i not in new_ids]
    text = diff_as_text(diff)
    for ref in diff.added + diff.removed:
        assert f"\n  {ref.number}. {ref.id}: " in text
    markdown = diff_as_markdown(diff)
    for ref in diff.added + diff.removed:
        assert f"\n- {ref.number} `{ref.id}`: " in markdown
    # Every step whose number changed is listed, with at least one reason.
    renumbered = [s.id for s in new.steps if s.id in old_ids and old.step(s.id).number != s.number]
    assert [r.id for r in diff.reordered] == renumbered
    assert all(reasons(r, str) for r in diff.reordered)
    for r in diff.reordered:  # the fast computation of who overtook whom, against the obvious one
        o, n = old.step(r.id).number, new.step(r.id).number
        both = [s.id for s in new.steps if s.id in old_ids]
        assert r.now_before == tuple(i for i in both if old.step(i).number < o and new.step(i).number > n)
        assert r.now_after == tuple(i for i in both if old.step(i).number > o and new.step(i).number < n)
    if old.fingerprint != new.fingerprint:
        assert not diff.identical
    if diff.order_changed:
        assert diff.reordered
    # The other way round, what was added is removed.
    back = diff_plans(new, old, "b.yaml", "a.yaml")
    assert [r.id for r in back.removed] == [r.id for r in diff.added]
    assert back.identical == diff.identical


def test_the_random_definitions_are_valid_and_varied() -> None:
    """The generator itself: its definitions compile (a failure here is a bug of the test)."""
    @settings(max_examples=30, deadline=None)
    @given(definitions())
    def compiles(text: str) -> None:
        assert plan(text).steps

    compiles()
