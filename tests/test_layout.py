"""The import rules of docs/architecture.md, checked on every module's syntax tree (nothing is imported).

- `safeio` imports nothing from the repository; `arena` and `data_pipeline` import only `safeio`;
- `jaxformer` imports `safeio` and only the public faces of `arena` and `data_pipeline` (the names
  their `__init__` exports: `from arena import X`, never `arena.match`);
- nothing outside `experiments` imports `experiments`;
- no module imports, or reads an attribute of, another module's private (`_name`) names.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("safeio", "arena", "data_pipeline", "jaxformer", "experiments")
ALLOWED = {
    "safeio": set(),
    "arena": {"safeio"},
    "data_pipeline": {"safeio"},
    "jaxformer": {"safeio", "arena", "data_pipeline"},
    "experiments": set(PACKAGES),
}
PUBLIC_FACE_ONLY = {"jaxformer": {"arena", "data_pipeline"}}


def _modules() -> list[pathlib.Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, root: pathlib.Path) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(tree: ast.AST, this: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the file, nested ones too."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against this module's package
                base = this.split(".")[: -node.level] if not this.endswith("__init__") else this.split(".")
                module = ".".join(base + ([module] if module else []))
            out.append((module, [a.name for a in node.names], node.lineno))
    return out


def _violations(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    this = _module_name(path, root)
    top = this.split(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    found = []
    module_aliases: dict[str, str] = {}  # local name -> repository module it is bound to
    for module, names, line in _imports(tree, this):
        target = module.split(".")[0]
        where = f"{path.relative_to(root)}:{line}"
        if target in PACKAGES and target != top:
            if target not in ALLOWED[top]:
                found.append(f"{where}: {top} must not import {module}")
            elif target in PUBLIC_FACE_ONLY.get(top, ()) and module != target:
                found.append(f"{where}: {top} may use only the public face of {target} (`from {target} import ...`), "
                             f"not {module}")
        for name in names:
            if name.startswith("_") and not name.startswith("__") and module != this:
                found.append(f"{where}: imports the private name {name} from {module}")
            if target in PACKAGES and _is_module(f"{module}.{name}", root):
                module_aliases[name] = f"{module}.{name}"
        if not names and target in PACKAGES:
            module_aliases[module.split(".")[0]] = module.split(".")[0]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.relative_to(root)}:{node.lineno}: reads the private name "
                         f"{module_aliases[node.value.id]}.{node.attr}")
    return found


def test_every_package_keeps_its_import_rules():
    violations = [v for path in _modules() for v in _violations(path)]
    assert not violations, "import rule violations:\n" + "\n".join(violations)


def test_the_checker_catches_each_kind_of_violation(tmp_path):
    bad = {
        "arena/bad_a.py": "from jaxformer.model import Transformer\n",
        "data_pipeline/bad_b.py": "def f():\n    import arena\n",
        "jaxformer/bad_c.py": "from arena.match import MatchRunner\n",
        "jaxformer/bad_d.py": "from experiments import cli\n",
        "jaxformer/bad_e.py": "from jaxformer.model import _helper\n",
        "jaxformer/bad_f.py": "from jaxformer import model\nx = model._secret\n",
    }
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "jaxformer" / "model.py").write_text("")
    for rel, text in bad.items():
        (tmp_path / rel).write_text(text)
    for rel in bad:
        found = _violations(tmp_path / rel, tmp_path)
        assert len(found) == 1, (rel, found)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_has_a_docstring(package):
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    assert ast.get_docstring(tree), f"{package}/__init__.py should say what the package is for"
