"""The package stays readable: small classes and modules, shared names shared on purpose.

* No class over 450 lines and no module over 800, counting code and
  comments but not docstrings (numpydoc docstrings may make an estimator
  file long; the machinery may not be).
* No private name (leading underscore) is imported from another package of
  sklearn_meta: what several packages use has a name without an underscore,
  in a private module. The top-level modules count as one package.
* scikit-learn's private helpers are imported in one module only, the shim
  ``sklearn_meta/_sklearn.py``.
"""

import ast
from pathlib import Path

import pytest

import sklearn_meta

ROOT = Path(sklearn_meta.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)
MAX_CLASS_LINES = 450
MAX_MODULE_LINES = 800


def _docstring_lines(tree):
    """Line numbers covered by the docstrings of the module, classes and functions."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant
            ) and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def _counted(source_lines, docstrings, start, stop):
    """Non-blank lines in [start, stop] (1-based) that are not docstring lines."""
    return sum(
        1
        for n in range(start, stop + 1)
        if n not in docstrings and source_lines[n - 1].strip()
    )


def _parse(path):
    source = path.read_text()
    tree = ast.parse(source)
    return source.splitlines(), tree, _docstring_lines(tree)


def _package(path):
    """The package of a module: its folder under sklearn_meta, or the top level."""
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else "<top level>"


def _resolve(path, node):
    """The sklearn_meta path (relative to ROOT, as parts) a relative import names."""
    if node.level == 0:
        if not (node.module or "").startswith("sklearn_meta"):
            return None
        return node.module.split(".")[1:]
    base = list(path.relative_to(ROOT).parts[:-1])
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return base + (node.module.split(".") if node.module else [])


def _imported_package(parts):
    if not parts:
        return "<top level>"
    return parts[0] if (ROOT / parts[0]).is_dir() else "<top level>"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_class_sizes(path):
    lines, tree, docstrings = _parse(path)
    total = _counted(lines, docstrings, 1, len(lines))
    assert total <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)} has {total} lines of code and comments (limit "
        f"{MAX_MODULE_LINES}); split it by idea."
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            size = _counted(lines, docstrings, node.lineno, node.end_lineno)
            assert size <= MAX_CLASS_LINES, (
                f"class {node.name} in {path.relative_to(ROOT)} has {size} lines of code "
                f"and comments (limit {MAX_CLASS_LINES}); move a concern into its own part."
            )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_crosses_packages(path):
    _, tree, _ = _parse(path)
    here = _package(path)
    crossing = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        parts = _resolve(path, node)
        if parts is None or _imported_package(parts) == here:
            continue
        crossing += [
            f"{alias.name} from {'.'.join(parts) or 'sklearn_meta'} (line {node.lineno})"
            for alias in node.names
            if alias.name.startswith("_")
        ]
    assert not crossing, (
        f"{path.relative_to(ROOT)} imports private names from another package: {crossing}. "
        "Give a shared name no leading underscore, in a private module."
    )


def test_sklearn_private_helpers_only_in_the_shim():
    users = []
    for path in MODULES:
        _, tree, _ = _parse(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or "._" in f".{node.module}":
                    users.append(str(path.relative_to(ROOT)))
    assert users and set(users) == {"_sklearn.py"}, users


def test_the_check_sees_a_crossing(tmp_path):
    """The import check is not vacuous: a private name across packages is found."""
    node = ast.parse("from ..fewshot._base import _names").body[0]
    parts = _resolve(ROOT / "plotting" / "_x.py", node)
    assert parts == ["fewshot", "_base"]
    assert _imported_package(parts) == "fewshot"
    # and a long class is counted as long
    source = "class A:\n    '''doc\n    more'''\n" + "    x = 1\n" * 500
    tree = ast.parse(source)
    cls = tree.body[0]
    assert _counted(source.splitlines(), _docstring_lines(tree), cls.lineno, cls.end_lineno) == 501
