"""Regenerate the golden files: `make golden` (or `python -m tests.golden`).

Every output `runbook build` writes for every example in runbooks/ is kept under
tests/golden/, byte for byte, and tests/test_golden.py compares the current outputs
with them. Run this after an intended change of an output, read the diff, and commit
it with the change; a normal test run never writes here.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "runbooks"
GOLDEN_DIR = ROOT / "tests" / "golden"


def expected_outputs() -> dict[str, str]:
    """Every output of every example, by file name (the names `runbook build` writes)."""
    from compiler.pipeline import compile_file, render_outputs

    outputs: dict[str, str] = {}
    for example in sorted(EXAMPLES_DIR.glob("*.yaml")):
        for output in render_outputs(compile_file(str(example))):
            if output.name in outputs:
                raise SystemExit(f"two examples write {output.name}; give their plans different names")
            outputs[output.name] = output.text
    return outputs


def main() -> int:
    """Write tests/golden/ afresh and say what changed."""
    outputs = expected_outputs()
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, text in outputs.items():
        path = GOLDEN_DIR / name
        data = text.encode("utf-8")
        if path.is_file() and path.read_bytes() == data:
            continue
        print(f"{'updated' if path.exists() else 'created'} {path.relative_to(ROOT)}")
        path.write_bytes(data)
    for path in sorted(GOLDEN_DIR.iterdir()):
        if path.name not in outputs:
            # The golden of an example that was removed or renamed.
            print(f"removed {path.relative_to(ROOT)}")
            path.unlink()
    print(f"{len(outputs)} golden files in {GOLDEN_DIR.relative_to(ROOT)}/ are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
