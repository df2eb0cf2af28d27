"""The import graph stays untangled (scripts/import_graph.py): no import circle
larger than 3 files, no cycle between packages, and the layers import only
downwards: domain (rules) <- core (storage, delivery, use cases) <- app <- tasks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
ig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ig)

#: what each layer may import from the project
ALLOWED = {
    "domain": set(),
    "core": {"domain"},
    "celery_config": {"core", "domain"},
    "app": {"core", "domain", "celery_config"},
    "tasks": {"app", "core", "domain"},
}


def test_the_analysis_sees_imports_inside_functions() -> None:
    g = ig.graph()
    assert "core.settings" in g["app.factory"]
    assert "app.registry" in g["tasks.sessions"]
    assert len(g) > 50


def test_no_import_circle_larger_than_three_files() -> None:
    circles = ig.cycles(ig.graph())
    assert all(len(c) <= 3 for c in circles), circles


def test_no_package_cycle() -> None:
    assert ig.cycles(ig.package_graph(ig.graph())) == []


def test_layers_import_only_downwards() -> None:
    pg = ig.package_graph(ig.graph())
    for layer, allowed in ALLOWED.items():
        assert pg.get(layer, set()) <= allowed, (layer, pg.get(layer))
