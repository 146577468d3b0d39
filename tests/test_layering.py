"""The house's floors: no import loops inside glacierfront, and no floor imports one above it.

Every module of glacierfront/ is parsed (not imported) and every import in it counts, at any depth: at the
top, inside functions and classes, under ``if TYPE_CHECKING``. An import of ``glacierfront.a.b`` also runs
the package ``glacierfront.a`` (its ``__init__``), so it counts as importing that package too, unless the
importer lies inside it; ``from glacierfront.a import name`` counts as importing the module ``a.name`` when
there is one, and a lazily exported name (a package's ``_EXPORTS`` table, ``glacierfront.lazy``) as
importing the module that defines it.

The floors, from the ground up:
    ground floor  errors, zones, lazy, geodesy, io/, model/, geo/ (a glacier's box or centre-line, its frame)
    middle        predict/ (a scene's stages: tiling, segment, fronts, vectorise, ..., and the driver, scene)
    upper         batch/, train/, series/, evaluate/, review/
    roof          cli/
Rules: the ground floor never imports predict, batch/, train/, cli/, series/, evaluate/ or review/; predict/
never imports batch/, train/, cli/, series/, evaluate/ or review/ (no exception: ``ALLOWED`` is empty);
batch/, train/, series/, evaluate/ and review/ never import cli/; zones imports nothing from glacierfront but
errors.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "glacierfront"

# (floors, what they never import), each by the first part of a module's name below glacierfront.
RULES = (
    (
        ("errors", "zones", "lazy", "geodesy", "io", "model", "geo"),
        ("predict", "batch", "train", "cli", "series", "evaluate", "review"),
    ),
    (("predict",), ("batch", "train", "cli", "series", "evaluate", "review")),
    (("batch", "train", "series", "evaluate", "review"), ("cli",)),
)
# Imports that may break a rule, as (importer, imported): none. The glacier box (reading, upstream end,
# equal-area frame) that predict and series both use lives on the ground floor, in geo/.
ALLOWED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. glacierfront.io.caffe
    target: str  # imported glacierfront module or package
    where: str  # file:line of the import statement

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, (path, _) in MODULES.items()}


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    """A package's ``_EXPORTS = {name: submodule}`` table (``glacierfront.lazy``), else empty."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


LAZY = {name: _lazy_exports(TREES[name]) for name, (_, is_package) in MODULES.items() if is_package}


def _known(name: str) -> str | None:
    """The longest prefix of a dotted name that is a glacierfront module."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _named(package: str, name: str) -> str | None:
    """What ``from package import name`` loads: a submodule, a lazily exported name's module, or package."""
    if f"{package}.{name}" in MODULES:
        return f"{package}.{name}"
    if name in LAZY.get(package, {}):
        return f"{package}.{LAZY[package][name]}"
    return _known(package)


def _targets(module: str, node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [
            t for alias in node.names if alias.name.startswith("glacierfront") and (t := _known(alias.name))
        ]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            here = module.split(".") if MODULES[module][1] else module.split(".")[:-1]
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if not base.startswith("glacierfront"):
            return []
        return [t for alias in node.names if (t := _named(base, alias.name))]
    return []


def _imports() -> list[Import]:
    found = []
    for module, tree in TREES.items():
        where = MODULES[module][0].relative_to(ROOT)
        for node in ast.walk(tree):
            for target in _targets(module, node):
                # Importing glacierfront.a.b runs glacierfront/a/__init__.py first.
                parts = target.split(".")
                runs = [".".join(parts[:k]) for k in range(2, len(parts))] + [target]
                for imported in runs:
                    inside = module == imported or module.startswith(imported + ".")
                    if imported in MODULES and not inside:
                        found.append(Import(module, imported, f"{where}:{node.lineno}"))
    return found


IMPORTS = _imports()


def _graph(part) -> dict[str, dict[str, list[Import]]]:
    """Node -> node it imports -> the imports that make the edge, with modules grouped by ``part``."""
    graph: dict[str, dict[str, list[Import]]] = {part(m): {} for m in MODULES}
    for imp in IMPORTS:
        a, b = part(imp.source), part(imp.target)
        if a != b:
            graph[a].setdefault(b, []).append(imp)
    return graph


def _cycles(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _loop(graph: dict[str, dict[str, list[Import]]], component: list[str]) -> list[Import]:
    """One loop through the component, as the imports that make it (a shortest way back to its first node)."""
    start, inside = component[0], set(component)
    came: dict[str, tuple[str, Import]] = {}
    frontier = [start]
    while frontier and start not in came:
        nxt = []
        for v in frontier:
            for w, imps in sorted(graph[v].items()):
                if w in inside and w not in came:
                    came[w] = (v, imps[0])
                    nxt.append(w)
        frontier = nxt
    loop, v = [], start
    while True:
        v, imp = came[v]
        loop.append(imp)
        if v == start:
            return loop[::-1]


def _report(graph: dict[str, dict[str, list[Import]]]) -> str:
    return "\n".join(
        f"import loop through {', '.join(c)}:\n" + "\n".join(f"    {imp}" for imp in _loop(graph, c))
        for c in _cycles(graph)
    )


def _floor(module: str) -> str:
    """The first part of a module's name below glacierfront ('' for the package itself)."""
    return module.split(".")[1] if "." in module else ""


def test_the_parser_sees_the_known_imports():
    # The analysis itself: plain, relative-free, in-function and lazily exported imports are all found.
    pairs = {(imp.source, imp.target) for imp in IMPORTS}
    assert ("glacierfront.io.caffe", "glacierfront.zones") in pairs
    assert ("glacierfront.train.crossval", "glacierfront.evaluate.caffe") in pairs  # inside a function
    assert ("glacierfront.train.loop", "glacierfront.model.cisnet") in pairs  # via model's _EXPORTS
    assert ("glacierfront.cli.evaluate", "glacierfront.evaluate") in pairs  # the package __init__ runs
    assert len(MODULES) > 50 and len(IMPORTS) > 200


def test_no_import_loop_between_modules():
    graph = _graph(lambda module: module)
    assert not _cycles(graph), _report(graph)


def test_no_import_loop_between_parts():
    # A subpackage counts as one part: evaluate/ may use train/ or train/ evaluate/, never both ways.
    graph = _graph(lambda module: ".".join(module.split(".")[:2]))
    assert not _cycles(graph), _report(graph)


def test_no_floor_imports_one_above_it():
    broken = [
        f"    {imp} ({_floor(imp.source)} never imports {_floor(imp.target)})"
        for imp in IMPORTS
        for floors, above in RULES
        if _floor(imp.source) in floors
        and _floor(imp.target) in above
        and (imp.source, imp.target) not in ALLOWED
    ]
    assert not broken, "imports against the layer rule:\n" + "\n".join(broken)


def test_zones_is_ground():
    # The zone classes sit below everything, so that any module may take them from glacierfront.zones.
    imported = {imp.target for imp in IMPORTS if imp.source == "glacierfront.zones"}
    assert imported <= {"glacierfront.errors"}, sorted(imported)
