"""The layer rule of docs/architecture.md, checked on the source: no module imports from a layer above it,
the wings of ``classifiers`` keep their order, and no import circle closes anywhere."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "seqvec"

# bottom to top; a part may import its own layer and the layers below it
LAYERS = [
    {"seqvec", "errors", "moved"},  # the root package is imported for __version__ only (its API is lazy)
    {"io", "devices", "progress"},
    {"lm"},
    {"embeddings"},
    {"classifiers"},
    {"search"},
    {"viz"},
    {"workflow"},
    {"cli", "__main__"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
# the wings of classifiers, bottom to top (docs/architecture.md); the package's __init__ is below them all
WINGS = ["labels", "heads", "training", "evaluation", "selection"]


def part_of(module: str) -> str:
    """``seqvec.lm.model`` -> ``lm``; ``seqvec`` -> ``seqvec``."""
    names = module.split(".")
    return names[1] if len(names) > 1 else names[0]


def seqvec_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of seqvec in a file, at any depth (lazy imports count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "seqvec"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "seqvec":
            if node.module == "seqvec":  # from seqvec import x: x may be a subpackage
                found += [(node.lineno, f"seqvec.{alias.name}") for alias in node.names
                          if alias.name in RANK]
                found += [(node.lineno, "seqvec") for alias in node.names if alias.name not in RANK]
            else:
                found.append((node.lineno, node.module))
    return found


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    parts.discard("__init__")
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS and docs/architecture.md"


def test_no_upward_imports():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        here = part_of(".".join(relative.parts)) if relative.name != "__init__" or len(relative.parts) > 2 else "seqvec"
        for line, module in seqvec_imports(path):
            there = part_of(module)
            if RANK[there] > RANK[here]:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({here}) imports {module} ({there})")
    assert not violations, "\n".join(violations)


def test_io_imports_only_errors():
    for path in (PACKAGE / "io").rglob("*.py"):
        for line, module in seqvec_imports(path):
            assert module == "seqvec.errors" or module.startswith("seqvec.io"), f"{path.name}:{line} imports {module}"


def module_name(path: Path) -> str:
    """``.../seqvec/lm/model.py`` -> ``seqvec.lm.model``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the seqvec modules it imports (at any depth). ``from a.b import c`` names the
    module ``a.b.c`` where that is a module, else ``a.b``."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                for alias in node.names:
                    edges.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in graph.get(node, ()):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    """No module reaches itself through imports (lazy ones inside functions count too)."""
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set(), "c": {"b"}}, []),
])
def test_cycle_finder_sees_circles(graph, expected):
    assert cycles(graph) == expected


def test_the_lm_circle_would_be_seen():
    """The circle this test was written for (kernels importing bilstm lazily) is found if it returns."""
    graph = import_graph()
    graph["seqvec.lm.kernels"] = graph["seqvec.lm.kernels"] | {"seqvec.lm.bilstm"}
    assert any({"seqvec.lm.bilstm", "seqvec.lm.kernels"} <= set(c) for c in cycles(graph))


def test_classifier_wings_keep_their_order():
    """A wing of classifiers imports its own wing and the wings below it, never one above."""
    assert {p.name for p in (PACKAGE / "classifiers").iterdir() if (p / "__init__.py").exists()} == set(WINGS)
    loose = [p.name for p in (PACKAGE / "classifiers").glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"put {loose} in a wing of classifiers ({', '.join(WINGS)}; docs/architecture.md)"
    violations = []
    for name, edges in import_graph().items():
        if not name.startswith("seqvec.classifiers."):
            continue
        here = WINGS.index(name.split(".")[2])
        for module in edges:
            parts = module.split(".")
            if module.startswith("seqvec.classifiers.") and WINGS.index(parts[2]) > here:
                violations.append(f"{name} ({WINGS[here]}) imports {module} ({parts[2]})")
    assert not violations, "\n".join(violations)


def test_no_package_holds_more_than_14_modules():
    for folder in [PACKAGE, *(p.parent for p in PACKAGE.rglob("__init__.py"))]:
        modules = [p for p in folder.iterdir() if p.suffix == ".py" and p.name != "__init__.py"]
        assert len(modules) <= 14, f"{folder.relative_to(PACKAGE.parent)} holds {len(modules)} modules"


def test_a_subpackage_stands_above_the_modules_beside_it():
    """``lm.training`` may use the model in ``lm``; ``lm``'s own modules never reach into ``lm.training``
    (likewise for every package below the root, whose parts follow LAYERS instead)."""
    violations = []
    for name, edges in import_graph().items():
        package = name.rpartition(".")[0]
        if package in ("", "seqvec") or (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists():
            continue  # the root package's lazy API and a package's own __init__ are faces, not rooms
        for module in edges:
            inner = module.removeprefix(package + ".")
            if module.startswith(package + ".") and "." in inner:
                violations.append(f"{name} imports {module}")
    assert not violations, "\n".join(violations)
