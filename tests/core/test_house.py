"""The house rules of the package, checked on its own source: no import cycles, no private
name imported from another module, every public module says what it exports."""

import ast
import importlib
import warnings
from pathlib import Path

import pytest

import lstm_ref

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lstm_ref"


# The previous release's spellings (lstm_ref._deprecated): they warn when imported, which
# tests/cli/test_deprecated.py checks; here they are imported quietly.
DEPRECATED = ("lstm_ref.grid", "lstm_ref.grid_torch", "lstm_ref.grid_tf1", "lstm_ref.grid_onnx",
              "lstm_ref.adapters")


def modules():
    """Every module of lstm_ref, by dotted name, found in the source tree (so that collecting
    the tests imports nothing)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            found.append(".".join(parts))
    return found


def import_quietly(name):
    """Import ``name``, without the DeprecationWarning of a deprecated module."""
    with warnings.catch_warnings():
        if name.startswith(DEPRECATED):
            warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


def sources():
    """Every .py file of the package and the tests."""
    return sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))


def test_no_import_cycles():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("lstm_ref")
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    # A package's __init__ re-exports its modules: the edges from a package to its own
    # children are its face, not a dependency of the children on each other.
    for module, targets in edges.items():
        edges[module] = {t for t in targets if not t.startswith(module + ".")}
    state, path, cycles = {}, [], []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    ("lstm_ref", "tests")):
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}"
                              for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offenders, "private names imported:\n" + "\n".join(offenders)


def test_no_private_name_is_reached_through_an_imported_module():
    """``module._name`` where ``module`` was imported from lstm_ref or the tests: the same
    reach past a module's contract as importing ``_name``, monkeypatching included."""
    offenders = []
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        bound = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    ("lstm_ref", "tests")):
                bound |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                bound |= {a.asname or a.name for a in node.names
                          if a.name.startswith(("lstm_ref", "tests"))}
        offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}"
                      for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id in bound and node.attr.startswith("_")
                      and not node.attr.startswith("__")]
        offenders += [f"{path.relative_to(ROOT)}:{node.lineno} setattr({node.args[0].id}, "
                      f"{node.args[1].value!r})"
                      for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and len(node.args) >= 2
                      and isinstance(node.args[0], ast.Name) and node.args[0].id in bound
                      and isinstance(node.args[1], ast.Constant)
                      and str(node.args[1].value).startswith("_")
                      and not str(node.args[1].value).startswith("__")]
    assert not offenders, "private names reached:\n" + "\n".join(offenders)


@pytest.mark.parametrize("name", [m for m in modules() if not m.rsplit(".", 1)[-1].startswith("_")])
def test_every_public_module_declares_what_it_exports(name):
    try:
        module = import_quietly(name)
    except ModuleNotFoundError as exc:  # lstm_ref.conformance needs parameterized (test extra)
        if exc.name is None or exc.name.startswith("lstm_ref"):
            raise
        pytest.skip(f"{name} imports {exc.name}, which is not installed")
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"


def test_the_package_face_exports_the_public_api():
    for name in ("forward", "gradients", "LSTMWeights", "compare", "assert_equivalent",
                 "compare_gradients", "assert_gradients_equivalent", "from_keras", "from_torch",
                 "from_onnx", "from_tf1_cell", "Report", "InconclusiveError", "__version__"):
        assert name in lstm_ref.__all__ or name == "__version__", name
        assert hasattr(lstm_ref, name), name
