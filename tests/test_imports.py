"""No import cycles among the modules of ``sim`` and ``controllers``, and nothing but the entry
point imports the command line (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "controllers")


def modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module and package below PACKAGES."""
    out = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules among ``known`` that ``name`` imports anywhere in its file."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:  # an attribute: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(m, f, set(mods)) for m, f in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state and (cycle := visit(d)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from sim.cli import main\nfrom . import y\n")
    assert imports_of("pkg.m", f, {"sim.cli", "pkg.y"}) == {"sim.cli", "pkg.y"}


def test_no_import_cycles() -> None:
    edges = graph()
    assert "sim.runner" in edges and "controllers" in edges
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_only_the_entry_point_imports_the_cli() -> None:
    users = sorted(m for m, deps in graph().items() if "sim.cli" in deps)
    assert users == [], users


def test_the_command_line_starts_without_the_heavy_optional_libraries() -> None:
    """Every ``lightwatch run`` imports ``sim.cli``; scipy.stats (about 1 s), matplotlib and
    dask are imported only by the commands that use them."""
    import subprocess
    import sys

    code = (
        "import sys, sim.cli; "
        "print(','.join(m for m in ('scipy.stats', 'matplotlib', 'dask') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
