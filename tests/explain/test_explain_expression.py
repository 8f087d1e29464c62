"""The expression language: tokens, precedence, safety, evaluation, --vars."""

import importlib

import pytest

from gpugrad.explain import expression

ex = importlib.import_module("gpugrad.explain")  # gg.explain is the function, this the package


def test_parser_never_evaluates_python():
    with pytest.raises(ex.ExprError):
        ex.parse("__import__('os').system('true')")


def test_precedence_and_associativity():
    out, _ = ex.evaluate(ex.parse("-x**2 + 2**3**2 / 64"), {"x": 3})
    assert out.item() == pytest.approx(-9 + 512 / 64)


def test_tree_shape_and_variables_in_order_of_appearance():
    tree = expression.parse("max(b, a) * -a + 1.5e1")
    assert tree == (
        "bin",
        "+",
        ("bin", "*", ("call", "max", [("var", "b"), ("var", "a")]), ("neg", ("var", "a"))),
        ("num", 15.0),
    )
    assert expression.variables_of(tree) == ["b", "a"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1..2", "bad number '1..2' at column 1"),
        ("exp + 1", "function 'exp' needs parentheses"),
        ("x y", "unexpected 'y'"),
        ("x +", "found end of input"),
    ],
)
def test_syntax_errors_say_where(text, message):
    with pytest.raises(expression.ExprError, match=message.replace("(", r"\(")):
        expression.parse(text)


def test_constants_fold_to_numbers_and_division_by_zero_is_nan():
    out, leaves = expression.evaluate(expression.parse("x * (3 - 1) + 1/0"), {"x": 2})
    assert leaves["x"].name == "x" and leaves["x"].requires_grad
    assert out.item() != out.item()  # nan


def test_expression_without_a_variable_is_refused():
    with pytest.raises(expression.ExprError, match="does not depend on any variable"):
        expression.evaluate(expression.parse("1 + 2"), {})


def test_parse_vars():
    assert expression.parse_vars("x=-2, y = 5e-1") == {"x": -2.0, "y": 0.5}
    assert expression.parse_vars("") == {}
    with pytest.raises(expression.ExprError, match="'z' is not a number"):
        expression.parse_vars("x=z")
