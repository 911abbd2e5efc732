"""Module names a newcomer cannot misread: none shadows the standard library or a package
this project installs (``staff/requests.py`` once sat beside the ``requests`` the gateway
uses), and only the job queue is called a queue."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_names() -> dict[str, str]:
    """Each hotline module's own name (a package's folder name), by its path."""
    found = {}
    for path in sorted((ROOT / "hotline").rglob("*.py")):
        if "migrations" not in path.parts:
            name = path.parent.name if path.stem == "__init__" else path.stem
            found[str(path.relative_to(ROOT))] = name
    return found


def test_no_module_is_named_like_the_standard_library_or_an_installed_package():
    taken = set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
    assert {"requests", "queue", "africastalking"} <= taken  # the check can see them
    assert sorted(path for path, name in module_names().items() if name in taken) == []


def test_only_the_job_queue_is_called_a_queue():
    assert sorted(path for path, name in module_names().items() if "queue" in name) == [
        "hotline/jobqueue.py"]
