"""The wheel: built from the sources, installed into a fresh virtual environment (not
editable), run from outside the repository. Proves the schema and the templates ship inside
the package and are found there, not in the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "runbooks" / "webshop-failover.yaml"
#: What the wheel is built from; copied so that the build leaves nothing in the checkout.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "compiler", "schemas", "templates")


def _env() -> dict[str, str]:
    """The environment of a user's shell: nothing that points back into the repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("RUNBOOK_DEBUG", None)
    return env


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
        timeout=900, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the wheel once and install it into a new virtual environment."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, source / name)
    dist = work / "dist"
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source, cwd=work)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("runbook_compiler-*.whl")

    venv = work / "venv"
    made = _run(sys.executable, "-m", "venv", venv, cwd=work)
    assert made.returncode == 0, made.stderr
    # Not editable: the wheel itself; its dependencies come from the index (pip's cache helps).
    install = _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=work)
    assert install.returncode == 0, install.stdout + install.stderr

    outside = work / "elsewhere"  # a directory with no checkout in sight
    outside.mkdir()
    return {"wheel": wheel, "venv": venv, "outside": outside}


def test_the_wheel_holds_the_schema_and_every_template(installed: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert "compiler/schemas/runbook.schema.json" in names
    templates = sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())
    missing = [name for name in templates if f"compiler/templates/{name}" not in names]
    assert missing == [], f"templates/ files left out of the wheel (see package-data in pyproject.toml): {missing}"
    modules = sorted(p.name for p in (ROOT / "compiler").glob("*.py"))
    assert [m for m in modules if f"compiler/{m}" not in names] == []
    assert any(name.endswith("entry_points.txt") for name in names)


def test_the_installed_package_is_not_the_checkout(installed: dict[str, Path]) -> None:
    python = installed["venv"] / "bin" / "python"
    probe = _run(
        python, "-c",
        "import compiler, compiler.resources as r\n"
        "print(compiler.__file__)\n"
        "print(r.package_dir('schemas') / 'runbook.schema.json')\n"
        "for p in sorted(r.package_dir('templates').iterdir(), key=str): print(p)\n",
        cwd=installed["outside"],
    )
    assert probe.returncode == 0, probe.stderr
    found = probe.stdout.splitlines()
    assert found[0] == str(installed["venv"] / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "compiler" / "__init__.py")
    package = Path(found[0]).parent
    assert found[1] == str(package / "schemas" / "runbook.schema.json")
    templates = sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())
    assert found[2:] == [str(package / "templates" / name) for name in templates]


def test_installed_runbook_validates_the_example_from_outside_the_repository(installed: dict[str, Path]) -> None:
    runbook = installed["venv"] / "bin" / "runbook"
    result = _run(runbook, "validate", EXAMPLE, cwd=installed["outside"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == run_cli("validate", str(EXAMPLE)).stdout
    assert f"{EXAMPLE}: valid: plan 'webshop-failover'" in result.stdout


def test_installed_runbook_plans_the_example_exactly_as_the_checkout_does(installed: dict[str, Path]) -> None:
    runbook = installed["venv"] / "bin" / "runbook"
    for args in (["plan", EXAMPLE], ["plan", "--format", "json", EXAMPLE]):
        installed_run = _run(runbook, *args, cwd=installed["outside"])
        checkout_run = run_cli(*map(str, args))
        assert installed_run.returncode == 0, installed_run.stderr
        assert installed_run.stdout == checkout_run.stdout


def test_installed_runbook_reports_invalid_input_with_the_schema_messages(installed: dict[str, Path]) -> None:
    outside = installed["outside"]
    (outside / "bad.yaml").write_text(EXAMPLE.read_text(encoding="utf-8").replace("role: dr", "role: DR"))
    result = _run(installed["venv"] / "bin" / "python", "-m", "compiler", "validate", "bad.yaml", cwd=outside)
    assert result.returncode == 1
    assert "error: site 'dub': 'role' must be one of primary, dr, other, not 'DR'; did you mean 'dr'?" in result.stderr
    assert "Traceback" not in result.stderr
