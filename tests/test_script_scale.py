"""The generated script at scale: thousands of steps, and the journal checksum done in bulk.

A plan of a few thousand steps once crashed bash (exit 139): the data block was one list
of tens of thousands of commands, which bash runs by recursion. The journal checksum is
computed up to 128 characters at a time (docs/benchmarks.md); it must stay FNV-1a of the line,
character by character as before, so that every journal written earlier still reads.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from compiler.pipeline import compile_file
from compiler.render_script import render_script
from compiler.resources import package_dir

RUNTIME = (package_dir("templates") / "runtime.bash").read_text(encoding="utf-8")

#: The checksum as the journal format defines it, one character at a time (the runtime
#: computed it so until the bulk version; journals written then must still read).
ONE_BY_ONE = r"""
checksum_one_by_one() {
  local _t=$1 _h=2166136261 _i _c
  for ((_i = 0; _i < ${#_t}; _i++)); do
    printf -v _c '%d' "'${_t:_i:1}"
    _h=$((((_h ^ _c) * 16777619) & 0xFFFFFFFF))
  done
  printf -v "$2" '%08x' "$_h"
}
"""


def _checksum_code() -> str:
    """The runtime's checksum function with the constants it needs."""
    start = RUNTIME.index("readonly CHECKSUM_CHUNK=")
    end = RUNTIME.index("\n}\n", RUNTIME.index("checksum() {")) + 3
    return RUNTIME[start:end]


def fnv1a(text: str) -> str:
    value = 2166136261
    for character in text:
        value = ((value ^ ord(character)) * 16777619) & 0xFFFFFFFF
    return f"{value:08x}"


SAMPLES = [
    "", "a", "x" * 31, "x" * 32, "x" * 33, "y" * 64, "z" * 65, "v" * 127, "u" * 128, "t" * 129, "w" * 300,
    "START\t1\t2026-11-27T15:10:00+0000\t1\tpromote-db\t1",
    "END\t12\t2026-11-27T15:10:00+0000\t123\tpayments-api-db-12345\tdone\t0\t0",
    "RUN\t1\t2026-11-27T15:10:00+0000\tstart\tJosé Ñúñez (sudo from ana)\thôst-1\tyes",
    "quotes ' \" \\ * ? [ ] ( ) $ ` ! # & ; | < > { } ~ ^ % @ = + , . : / _ -" * 2,
    "日本語のホスト名\t" * 6, "emoji 🚑 " * 9, " leading and trailing spaces ", "\t\ttabs\t\t",
]


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_the_bulk_checksum_is_fnv1a_character_by_character(locale: str) -> None:
    script = _checksum_code() + ONE_BY_ONE + (
        'while IFS= read -r -d "" line; do checksum "$line" a; checksum_one_by_one "$line" b; '
        'printf "%s %s\\n" "$a" "$b"; done\n'
    )
    data = "".join(sample + "\0" for sample in SAMPLES).encode("utf-8")
    data += b"bytes \xff\xfe invalid in UTF-8 \xc3x\0"  # split one by one, in any locale
    result = subprocess.run(
        ["bash", "-c", script], input=data, capture_output=True, timeout=60,
        env={**os.environ, "LC_ALL": locale},
    )
    assert result.returncode == 0, result.stderr
    pairs = [line.split() for line in result.stdout.decode().splitlines()]
    assert len(pairs) == len(SAMPLES) + 1
    assert all(bulk == one for bulk, one in pairs), pairs
    if locale == "C.UTF-8":
        assert [bulk for bulk, _ in pairs[:-1]] == [fnv1a(sample) for sample in SAMPLES]


def test_a_plan_of_thousands_of_steps_loads_lists_and_dry_runs(tmp_path) -> None:
    steps = "".join(
        f"  - id: step-{i}\n    title: Restart the service {i} on its host\n    site: a\n    host: h1\n"
        f"    run: systemctl restart app-{i}.service && systemctl is-active --quiet app-{i}.service\n"
        f"    verify: curl -fsS http://10.0.0.1/health/{i}\n    timeout: 5m\n    estimate: 2m\n"
        f"    rollback: Start the old version of app-{i}.\n    owner: Platform\n"
        + (f"    requires: [step-{i - 1}]\n" if i else "")
        for i in range(3000)
    )
    definition = tmp_path / "big.yaml"
    definition.write_text(
        "version: 1\nplan: {name: big, title: Three thousand steps}\n"
        "sites:\n  a:\n    role: primary\n    hosts:\n      h1: {address: 10.0.0.1, user: root}\n"
        "resources:\n" + steps
    )
    script = tmp_path / "big.sh"
    script.write_text(render_script(compile_file(str(definition))))
    script.chmod(0o755)
    assert len(re.findall(r"^STEP_", script.read_text(), re.MULTILINE)) > 30_000  # far past what crashed
    for option in ("--list", "--dry-run"):
        result = subprocess.run(
            [str(script), option], cwd=tmp_path, capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        assert result.returncode == 0, (option, result.returncode, result.stderr[-2000:])
    assert "3000 steps shown, nothing run" in result.stdout

