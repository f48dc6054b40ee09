"""The layer rule of docs/architecture.md, checked on the source: no module imports from a layer above it."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "seqvec"

# bottom to top; a part may import its own layer and the layers below it
LAYERS = [
    {"seqvec", "errors"},  # the root package is imported for __version__ only (its API is lazy)
    {"io", "devices", "progress"},
    {"lm"},
    {"embeddings"},
    {"classifiers"},
    {"search"},
    {"viz"},
    {"pipeline"},
    {"cli", "__main__"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


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
