"""compiler/output.py with outputs rendered in pieces: written as they come, all or nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.output import write_outputs
from compiler.pipeline import Output, compile_file, render_outputs
from tests.benchmark import generate
from tests.conftest import EXAMPLES, ROOT


def test_an_output_in_pieces_is_written_as_its_text(tmp_path: Path) -> None:
    outputs = render_outputs(compile_file(str(EXAMPLES[0])))
    write_outputs(str(tmp_path), outputs)
    for output in outputs:
        assert (tmp_path / output.name).read_text(encoding="utf-8") == output.text
        assert "".join(output.pieces()) == output.text
    assert Output("x", "text").pieces() == ("text",)


def test_a_render_that_fails_half_way_leaves_the_earlier_build_alone(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("earlier\n")

    def broken() -> Iterator[str]:
        yield "half of it"
        raise RuntimeError("template bug")

    with pytest.raises(RuntimeError):
        write_outputs(str(tmp_path), (Output("b.sh", "new\n", executable=True), Output("a.md", broken)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]
    assert (tmp_path / "a.md").read_text() == "earlier\n"


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_build_stopped_while_writing_leaves_no_temporary_file(tmp_path: Path, sig: signal.Signals, status: int) -> None:
    definition = tmp_path / "big.yaml"
    definition.write_text(generate(20000), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    name = compile_file(str(definition)).info.name
    (out / f"{name}.md").write_text("earlier\n")
    build = subprocess.Popen(
        [sys.executable, "-m", "compiler", "build", str(definition), "-o", str(out)], cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".tmp") for p in out.iterdir()):
            assert build.poll() is None, "the build ended before it was caught writing"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        build.send_signal(sig)
        _, err = build.communicate(timeout=60)
    finally:
        build.kill()
    assert build.returncode == status
    assert "Traceback" not in err
    assert err.strip() in ("runbook: interrupted", f"runbook: stopped by {sig.name}")
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.md"], "nothing staged is left behind"
    assert (out / f"{name}.md").read_text() == "earlier\n", "the earlier build is untouched"
