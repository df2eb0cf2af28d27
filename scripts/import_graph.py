"""The project's import graph: `python scripts/import_graph.py` prints the
largest import circle between files and the package cycles; tests/test_imports.py
holds the code to the bounds (no circle over 3 files, no package cycle, and the
layers domain -> core -> app -> tasks only import downwards).

Every import counts, at module level or inside a function (an import hidden in
a function to break a circle is still a circle); only `if TYPE_CHECKING:`
blocks are left out."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "core", "app", "tasks", "harness", "bench", "tests", "scripts")
TOP_MODULES = ("celery_config",)


def project_files() -> dict[str, Path]:
    """module name -> file, for every project module."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")) if (ROOT / pkg).is_dir() else []:
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    for name in TOP_MODULES:
        if (ROOT / f"{name}.py").is_file():
            out[name] = ROOT / f"{name}.py"
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"

    def resolve(name: str) -> str | None:
        while name:
            if name in known:
                return name
            name = name.rpartition(".")[0]
        return None

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if (target := resolve(alias.name)) is not None:
                        found.add(target)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module if is_pkg else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}".strip(".")
                for alias in child.names:
                    target = resolve(f"{base}.{alias.name}") or resolve(base)
                    if target is not None:
                        found.add(target)
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def graph() -> dict[str, set[str]]:
    files = project_files()
    known = set(files)
    return {m: imports_of(m, p, known) for m, p in files.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return sorted(out, key=len, reverse=True)


def package_of(module: str) -> str:
    return module.split(".")[0]


def package_graph(g: dict[str, set[str]]) -> dict[str, set[str]]:
    pg: dict[str, set[str]] = defaultdict(set)
    for m, targets in g.items():
        for t in targets:
            if package_of(t) != package_of(m):
                pg[package_of(m)].add(package_of(t))
    return pg


def main() -> int:
    g = graph()
    circles = cycles(g)
    largest = circles[0] if circles else []
    print(f"files: {len(g)}; import circles: {len(circles)}; largest: {len(largest)} files")
    for c in circles:
        print("  circle:", " <-> ".join(c))
    pcycles = cycles(package_graph(g))
    print(f"package cycles: {pcycles or 'none'}")
    for pkg, deps in sorted(package_graph(g).items()):
        print(f"  {pkg} -> {', '.join(sorted(deps))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
