"""compiler/output.py with outputs rendered in pieces: written as they come, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.output import write_outputs
from compiler.pipeline import Output, compile_file, render_outputs
from tests.conftest import EXAMPLES


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
