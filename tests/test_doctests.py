"""The ``>>>`` examples users read run as doctests: every gpugrad module whose source has
one, and the docs pages written as doctests (docs/coming-from-pytorch.md compares with
torch, docs/custom-ops.md checks both kinds of op with gradcheck)."""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gpugrad"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
DOCS = ["docs/coming-from-pytorch.md", "docs/custom-ops.md"]


def modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_modules_with_examples_are_found():
    assert "gpugrad.autograd.function" in modules_with_examples()


@pytest.mark.parametrize("name", modules_with_examples())
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False)
    assert result.attempted > 0, f"{name}: its '>>>' examples were not collected"
    assert result.failed == 0, f"{name}: {result.failed} doctest example(s) failed (see above)"


@pytest.mark.parametrize("page", DOCS)
def test_docs_page_doctests(page):
    result = doctest.testfile(
        str(ROOT / page), module_relative=False, optionflags=FLAGS, verbose=False
    )
    assert result.attempted > 0, f"{page}: no '>>>' examples"
    assert result.failed == 0, f"{page}: {result.failed} doctest example(s) failed (see above)"
