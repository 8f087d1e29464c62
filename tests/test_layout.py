"""The layout rules of DESIGN.md, checked on the source: one op in one place, files small
enough to read, no module reaching into another's private names, and the one-way imports
that keep the library free of cycles."""

import ast
import inspect
from pathlib import Path

import pytest

import gpugrad as gg
from gpugrad import nn
from gpugrad.autograd.engine import Function

PACKAGE = Path(gg.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_source_tree_is_where_the_tests_look():
    assert len(SOURCES) > 40 and (PACKAGE / "tensor.py") in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_no_library_file_is_over_the_line_budget(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{_relative(path)} has {lines} lines (budget {MAX_LINES})"


def test_no_function_shares_its_name_with_an_nn_module():
    modules = {name for name, obj in vars(nn).items() if inspect.isclass(obj)}
    functions = {cls.__name__ for cls in _subclasses(Function)}
    assert not modules & functions


def _private_reads(tree: ast.Module):
    """``from x import _name`` and ``module._name`` where module is an imported module."""
    imported_modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                # the package's own private module (kernels/_build) is allowed
                if private and not (node.level and alias.name == "_build"):
                    yield f"from {node.module or '.'} import {alias.name}"
                imported_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
            and node.value.id not in ("_build", "numpy", "cupy", "os", "sys")
        ):
            yield f"{node.value.id}.{node.attr}"


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_no_module_reads_another_modules_private_names(path):
    reads = sorted(set(_private_reads(ast.parse(path.read_text()))))
    assert not reads, f"{_relative(path)} reads private names: {reads}"


def test_no_module_assigns_globals_of_another():
    """Cycles are broken by one explicit setup call, not by writing module globals from
    elsewhere (``autograd._Tensor = Tensor``)."""
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id in ("autograd", "engine", "tensor", "kernels")
                    ):
                        offenders.append(f"{_relative(path)}:{node.lineno}")
    assert not offenders


def test_tensor_module_holds_the_class_only():
    tree = ast.parse((PACKAGE / "tensor.py").read_text())
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert classes == ["Tensor"] and functions == []


def test_only_backend_and_kernels_import_cupy():
    importers = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n == "cupy" or n.startswith(("cupy.", "cupyx")) for n in names):
                importers.add(_relative(path))
    allowed = {"gpugrad/backend.py", "gpugrad/kernels/_build.py"}
    # Known exceptions, each reached only with CUDA arrays: `info` prints cupy's version,
    # indexing's scatter-add is cupyx's, and the NCCL communicator is cupy.cuda.nccl.
    allowed |= {"gpugrad/cli.py", "gpugrad/ops/indexing.py", "gpugrad/distributed.py"}
    assert importers <= allowed, sorted(importers - allowed)


def test_both_backward_namespaces_offer_the_same_names():
    """A backward formula runs on raw arrays or, under create_graph, on Tensors: every name
    it may call exists in both namespaces."""
    import numpy

    from gpugrad.autograd import raw_namespace
    from gpugrad.ops import namespace

    raw = raw_namespace(numpy)
    assert all(hasattr(namespace, name) and hasattr(raw, name) for name in namespace.__all__)
    public = {n for n in vars(raw) if not n.startswith("_")} | {
        n for n in vars(type(raw)) if not n.startswith("_")
    }
    assert public - {"xp", "graph"} <= set(namespace.__all__)
