"""python -m gpugrad explain: the notes' numbers, one-line errors, the DOT and SVG files."""

import shutil
import subprocess
import sys

import pytest

from gpugrad import cli


def test_cli_prints_the_notes_numbers(capsys, tmp_path):
    dot = tmp_path / "g.dot"
    assert cli.main(["explain", "(x+y)*z", "--vars", "x=-2,y=5,z=-4", "--dot", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "d/dx = -4, d/dy = -4, d/dz = 3" in out and "output v1 = -12" in out
    text = dot.read_text()
    assert text.startswith("digraph") and "darkgreen" in text and "red" in text and "-12" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["(x+*y)", "--vars", "x=1,y=2"], "syntax error at column 4"),
        (["foo(x)", "--vars", "x=1"], "unknown function 'foo'"),
        (["x+y", "--vars", "x=1"], "missing value for variable 'y'"),
        (["x+1", "--vars", "x=1,q=3"], "unknown variable 'q'"),
        (["x+1", "--vars", "x:1"], "bad --vars entry"),
        (["max(x)", "--vars", "x=1"], "takes 2 argument"),
        (["x $ 2", "--vars", "x=1"], "unexpected character"),
        (["(x+1", "--vars", "x=1"], "expected ')'"),
    ],
)
def test_cli_errors_are_one_line_exit_2(capsys, args, message):
    assert cli.main(["explain", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, code", [(["--help"], 0), ([], 2), (["x", "--nope"], 2)])
def test_cli_usage_exit_codes(capsys, args, code):
    assert cli.main(["explain", *args]) == code


def test_cli_subprocess_and_svg(tmp_path):
    svg = tmp_path / "g.svg"
    r = subprocess.run(
        [sys.executable, "-m", "gpugrad", "explain", "x*y", "--vars", "x=2,y=3", "--svg", str(svg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    have_dot = shutil.which("dot") is not None
    try:
        import graphviz  # noqa: F401

        have_pkg = True
    except ImportError:
        have_pkg = False
    if have_dot and have_pkg:
        assert r.returncode == 0, r.stderr
        assert svg.read_text().lstrip().startswith("<?xml") or "<svg" in svg.read_text()
    else:
        assert r.returncode == 2 and "graphviz" in r.stderr.lower()
