"""schemas/runbook.schema.json and compiler/schema.py: the shape of version 1, in words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from compiler.load import load_bytes
from compiler.schema import check_schema, schema
from tests.conftest import EXAMPLES, MINIMAL, ROOT

SCHEMA_PATH = ROOT / "schemas" / "runbook.schema.json"
RAW = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

#: Every field of CONTRACT.md section 2, by the object that holds it.
CONTRACT_FIELDS = {
    "": {"version", "plan", "sites", "resources"},
    "plan": {"name", "title", "description", "owner", "rto", "rpo", "prerequisites", "abort", "contacts"},
    "contact": {"role", "name", "phone", "email"},
    "site": {"title", "role", "hosts"},
    "host": {"address", "user", "port"},
    "resource": {
        "id", "title", "site", "host", "description", "run", "instructions", "verify",
        "verify_timeout", "timeout", "rollback", "owner", "estimate", "requires", "after",
    },
}


def _object(name: str) -> dict[str, Any]:
    return RAW if name == "" else RAW["$defs"][name]


def _all_properties(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            found.append((f"{where}.{name}", sub))
        for key, value in node.items():
            found += _all_properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for value in node:
            found += _all_properties(value, where)
    return found


def _problems(text: str) -> list[str]:
    return [d.render() for d in check_schema(load_bytes(text.encode(), "p.yaml"))]


# --- the schema file ---------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert RAW["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(RAW)


def test_every_property_has_a_description_for_editors() -> None:
    properties = _all_properties(RAW)
    assert len(properties) == sum(len(fields) for fields in CONTRACT_FIELDS.values())
    missing = [where for where, sub in properties if not sub.get("description", "").strip()]
    assert missing == []


@pytest.mark.parametrize("owner", sorted(CONTRACT_FIELDS))
def test_every_contract_field_is_in_the_schema_and_nothing_else(owner: str) -> None:
    obj = _object(owner)
    assert set(obj["properties"]) == CONTRACT_FIELDS[owner]
    assert obj["additionalProperties"] is False  # unknown keys are rejected at every level


def test_required_keys_are_the_contracts() -> None:
    assert set(RAW["required"]) == {"version", "plan", "sites", "resources"}
    assert set(_object("plan")["required"]) == {"name", "title"}
    assert set(_object("site")["required"]) == {"role"}
    assert set(_object("host")["required"]) == {"address"}
    assert set(_object("resource")["required"]) == {"id", "title", "site"}
    assert set(_object("contact")["required"]) == {"role"}


def test_every_pattern_comes_with_a_hint_for_the_message() -> None:
    def walk(node: Any, where: str) -> list[str]:
        missing = []
        if isinstance(node, dict):
            if "pattern" in node and not node.get("x-hint"):
                missing.append(where)
            for key, value in node.items():
                missing += walk(value, f"{where}/{key}")
        return missing

    assert walk(RAW, "") == []


def test_the_package_reads_the_schema_in_schemas() -> None:
    assert schema() == RAW


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_with_any_json_schema_validator(example: Path) -> None:
    """What an editor does with the schema: the examples pass a stock validator too."""
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(RAW).iter_errors(data)) == []


# --- values: what each pattern accepts ------------------------------------------------------------


def _with(field: str, value: str) -> str:
    replacements = {
        "name": ("name: mini", f"name: {value}"),
        "id": ("id: one", f"id: {value}"),
        "site": ("  a:\n    role: primary", f"  {value}:\n    role: primary"),
        "host": ("h1: {", f"{value}: {{"),
        "address": ("address: 10.0.0.1", f"address: {value}"),
        "user": ("user: root", f"user: {value}"),
        "timeout": ("run: echo one", f"run: echo one\n    timeout: {value}"),
        "rpo": ("title: Minimal plan", f"title: Minimal plan\n  rpo: {value}"),
    }
    old, new = replacements[field]
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "webshop-failover"), ("name", "0day_plan"), ("name", "a"),
        ("id", "promote-db"), ("id", "v1.2_step"), ("id", "'9'"),
        ("site", "FRA-1"), ("site", "eu.west_2"),
        ("host", "db1.example"), ("host", "Fra-DB1"),
        ("address", "10.1.0.11"), ("address", "db1.dub.example.net"), ("address", "'[2001:db8::1]'"),
        ("address", "fe80::1%eth0"), ("address", "_gateway"),
        ("user", "postgres"), ("user", "_svc"), ("user", "deploy.bot-1"),
        ("timeout", "90s"), ("timeout", "5m"), ("timeout", "2h"), ("timeout", "999999s"),
        ("rpo", "0s"), ("rpo", "15m"),
    ],
)
def test_accepted_values(field: str, value: str) -> None:
    assert _problems(_with(field, value)) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Webshop"), ("name", "-plan"), ("name", "web.shop"), ("name", "'web shop'"),
        ("id", "Promote"), ("id", "_x"), ("id", "'a b'"),
        ("address", "'-oProxyCommand=x'"), ("address", "'db 1'"), ("address", "'a;b'"),
        ("user", "'-l'"), ("user", "1root"), ("user", "'a b'"),
        ("timeout", "0s"), ("timeout", "5"), ("timeout", "'1.5h'"), ("timeout", "5 m"), ("timeout", "1d"),
        ("timeout", "1000000s"), ("rpo", "-1m"), ("rpo", "01m"),
    ],
)
def test_refused_values(field: str, value: str) -> None:
    problems = _problems(_with(field, value))
    assert len(problems) == 1, problems
    assert ", which is not valid; " in problems[0] or "must be text" in problems[0]


def test_site_and_host_names_are_checked_as_names() -> None:
    assert _problems(_with("site", "'-x'")) == [
        "p.yaml:6:3: error: site name '-x' is not valid; use letters, digits, '.', '_' and '-', "
        "starting with a letter or digit, for example fra-db1"
    ]
    assert _problems(_with("host", "'h 1'")) == [
        "p.yaml:9:7: error: site 'a': host name 'h 1' is not valid; use letters, digits, '.', '_' "
        "and '-', starting with a letter or digit, for example fra-db1"
    ]


def test_a_port_must_be_a_whole_number_even_if_json_schema_calls_22_0_an_integer() -> None:
    text = MINIMAL.replace("user: root}", "user: root, port: 22.0}")
    assert _problems(text) == [
        "p.yaml:9:49: error: host 'h1': 'port' must be a whole number, but it is the number 22.0"
    ]
    assert _problems(MINIMAL.replace("user: root}", "user: root, port: true}")) == [
        "p.yaml:9:49: error: host 'h1': 'port' must be a whole number, but it is `true`, which YAML reads as the boolean true"
    ]


def test_run_or_instructions_and_both_are_fine() -> None:
    both = MINIMAL.replace("run: echo one", "run: echo one\n    instructions: Watch the output.")
    manual = MINIMAL.replace("run: echo one", "instructions: Do it by hand.")
    assert _problems(both) == _problems(manual) == []


# --- words, not schema dumps ---------------------------------------------------------------------------


def test_no_message_repeats_jsonschema_wording() -> None:
    raw_phrases = (
        "is a required property", "does not match", "is not valid under", "Additional properties",
        "is not of type", "is too short", "is too long", "is not one of", "was expected",
        "has non-unique elements", "should be non-empty", "is less than", "is greater than", "$defs",
    )
    expected = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "invalid").glob("*.expected"))
    assert [phrase for phrase in raw_phrases if phrase in expected] == []


def test_keys_named_like_containers_inside_a_resource_are_reported_as_keys() -> None:
    text = MINIMAL.replace("run: echo one", "run: echo one\n    sites: [a]\n    plan: x")
    assert _problems(text) == [
        "p.yaml:15:5: error: resource 'one': unknown key 'sites'; did you mean 'site'? (allowed here: "
        "after, description, estimate, host, id, instructions, owner, requires, rollback, run, site, "
        "timeout, title, verify, verify_timeout)",
        "p.yaml:16:5: error: resource 'one': unknown key 'plan' (allowed here: after, description, "
        "estimate, host, id, instructions, owner, requires, rollback, run, site, timeout, title, "
        "verify, verify_timeout)",
    ]


def test_a_blank_text_is_reported_once() -> None:
    assert _problems(MINIMAL.replace("title: First", "title: ''")) == [
        "p.yaml:12:12: error: resource 'one': 'title' is blank; write some text"
    ]
