"""Find the schema and the templates, installed from a wheel or run from a checkout."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path


def package_dir(name: str) -> Traversable:
    """The shipped folder `name` ("schemas" or "templates")."""
    try:
        return resources.files(f"compiler.{name}")
    except ModuleNotFoundError:
        # A plain checkout on sys.path (no install): the folders sit beside the package.
        return Path(__file__).resolve().parent.parent / name
