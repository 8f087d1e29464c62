"""Custom Functions PyTorch's way (gpugrad/autograd/function.py): the tutorial's examples,
each written once against a library (``lib`` is gpugrad or torch) and run with both, values
and gradients compared; double backward through a backward written with differentiable
ops; gradcheck; several outputs; and the errors PyTorch raises."""

import gc
import weakref

import numpy as np
import pytest
import torch

import gpugrad as gg


def close(a, b):
    """A gpugrad Tensor against a torch tensor (None against None)."""
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)


def leaves(*arrays, requires_grad=True):
    """The same float64 values as (gpugrad leaves, torch leaves)."""
    g = [gg.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays]
    t = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays]
    return g, t


# -- the examples, written once for both libraries -----------------------------------------
def exp_function(lib):
    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            (result,) = ctx.saved_tensors
            return grad_output * result

    return Exp


def legendre_function(lib):
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    return LegendrePolynomial3


def linear_function(lib, computed):
    """The tutorial's LinearFunction; ``computed`` records which gradients backward made."""

    class LinearFunction(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input, weight, bias=None):
            ctx.save_for_backward(input, weight, bias)
            output = input @ weight.T
            if bias is not None:
                output = output + bias
            return output

        @staticmethod
        def backward(ctx, grad_output):
            input, weight, bias = ctx.saved_tensors
            grad_input = grad_weight = grad_bias = None
            computed.append(ctx.needs_input_grad)
            if ctx.needs_input_grad[0]:
                grad_input = grad_output @ weight
            if ctx.needs_input_grad[1]:
                grad_weight = grad_output.T @ input
            if bias is not None and ctx.needs_input_grad[2]:
                grad_bias = grad_output.sum(0)
            return grad_input, grad_weight, grad_bias

    return LinearFunction


def mul_constant_function(lib):
    class MulConstant(lib.autograd.Function):
        @staticmethod
        def forward(ctx, tensor, constant):
            ctx.constant = constant
            return tensor * constant

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * ctx.constant, None

    return MulConstant


def two_outputs_function(lib, received, materialize=True):
    """(exp(x), x * y); ``received`` records which output gradients backward got."""

    class TwoOutputs(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.set_materialize_grads(materialize)
            e = x.exp()
            ctx.save_for_backward(x, y, e)
            return e, x * y

        @staticmethod
        def backward(ctx, g_exp, g_prod):
            x, y, e = ctx.saved_tensors
            received.append((g_exp is not None, g_prod is not None))
            gx = gy = None
            if g_exp is not None:
                gx = g_exp * e
            if g_prod is not None:
                gx = g_prod * y if gx is None else gx + g_prod * y
                gy = g_prod * x
            return gx, gy

    return TwoOutputs


def non_differentiable_function(lib, received):
    """(2x, a count) with the count marked non-differentiable."""

    class ScaleAndCount(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            count = (x > 0).sum() * 1.0
            ctx.mark_non_differentiable(count)
            return 2 * x, count

        @staticmethod
        def backward(ctx, g, g_count):
            received.append(g_count)
            return 2 * g

    return ScaleAndCount


# -- values and gradients against torch ----------------------------------------------------
def test_exp_matches_torch():
    (x,), (tx,) = leaves([[-1.0, 0.0], [0.5, 2.0]])
    y, ty = exp_function(gg).apply(x), exp_function(torch).apply(tx)
    close(y, ty)
    assert y.creator.name == type(ty.grad_fn).__name__ == "ExpBackward"
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    close(x.grad, tx.grad)


def test_legendre_matches_torch():
    (x,), (tx,) = leaves(np.linspace(-1, 1, 7))
    y, ty = legendre_function(gg).apply(x), legendre_function(torch).apply(tx)
    close(y, ty)
    y.backward(gg.tensor(np.arange(7.0)))
    ty.backward(torch.arange(7.0, dtype=torch.float64))
    close(x.grad, tx.grad)


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_linear_function_matches_torch_with_its_needs_input_grad(with_bias, input_requires_grad):
    rng = np.random.default_rng(0)
    (w, b), (tw, tb) = leaves(rng.standard_normal((3, 4)), rng.standard_normal(3))
    (x,), (tx,) = leaves(rng.standard_normal((5, 4)), requires_grad=input_requires_grad)
    seen, tseen = [], []
    args = (x, w, b) if with_bias else (x, w)
    targs = (tx, tw, tb) if with_bias else (tx, tw)
    y = linear_function(gg, seen).apply(*args)
    ty = linear_function(torch, tseen).apply(*targs)
    close(y, ty)
    (y**2).sum().backward()
    (ty**2).sum().backward()
    assert seen == [tuple(tseen[0])]
    for a, ta in zip(args, targs):
        close(a.grad, ta.grad)


def test_non_tensor_argument_passes_through():
    (x,), (tx,) = leaves([1.0, -2.0, 3.0])
    y = mul_constant_function(gg).apply(x, 2.5)
    ty = mul_constant_function(torch).apply(tx, 2.5)
    close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    close(x.grad, tx.grad)


@pytest.mark.parametrize("use", ["both", "exp", "prod"])
@pytest.mark.parametrize("materialize", [True, False])
def test_two_outputs_each_get_their_gradient(use, materialize):
    (x, y), (tx, ty) = leaves([0.5, -1.0, 2.0], [3.0, 1.0, -2.0])
    got, tgot = [], []
    e, p = two_outputs_function(gg, got, materialize).apply(x, y)
    te, tp = two_outputs_function(torch, tgot, materialize).apply(tx, ty)
    close(e, te)
    close(p, tp)
    assert isinstance(e.creator, gg.autograd.engine.Function)
    pick = {"both": lambda a, b: (a * b).sum() + a.sum(), "exp": lambda a, b: a.sum()}
    loss = pick.get(use, lambda a, b: (b * b).sum())
    loss(e, p).backward()
    loss(te, tp).backward()
    assert got == tgot
    close(x.grad, tx.grad)
    close(y.grad, ty.grad)


def test_mark_non_differentiable():
    (x,), (tx,) = leaves([1.0, -2.0, 3.0])
    got, tgot = [], []
    y, n = non_differentiable_function(gg, got).apply(x)
    ty, tn = non_differentiable_function(torch, tgot).apply(tx)
    close(n, tn)
    assert (y.requires_grad, n.requires_grad) == (ty.requires_grad, tn.requires_grad)
    assert n.creator is None and not n.requires_grad
    y.sum().backward()
    ty.sum().backward()
    close(got[0], tgot[0])  # a materialized zero
    close(x.grad, tx.grad)


def test_needs_input_grad_with_no_grad_and_non_tensors():
    seen = {}

    def probe(lib):
        class Probe(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b, k, scale=1.0):
                seen.setdefault(lib.__name__, []).append(ctx.needs_input_grad)
                return a * b * k * scale

        return Probe

    for lib in (gg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0])
        out = probe(lib).apply(a, b, 2.0, scale=3.0)
        with lib.no_grad():
            out_no_grad = probe(lib).apply(a, b, 2.0)
        assert out.requires_grad and not out_no_grad.requires_grad
        assert not probe(lib).apply(b, b, 1.0).requires_grad
    assert seen["gpugrad"] == [tuple(s) for s in seen["torch"]]


def test_forward_runs_under_no_grad_and_an_input_returned_is_a_new_output():
    class Identity(gg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            assert not gg.is_grad_enabled()
            return x

        @staticmethod
        def backward(ctx, g):
            return 3 * g

    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and y.creator is not None and x.creator is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_setup_context_style():
    class Cube(gg.autograd.Function):
        @staticmethod
        def forward(x, power=3):
            return x**power

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.power = inputs[1]

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.power * x ** (ctx.power - 1), None

    x = gg.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


# -- double backward -----------------------------------------------------------------------
@pytest.mark.parametrize("make", [exp_function, legendre_function, mul_constant_function])
def test_double_backward_matches_torch(make):
    (x,), (tx,) = leaves([0.3, -0.7, 1.2])
    args = (2.0,) if make is mul_constant_function else ()
    y, ty = make(gg).apply(x, *args), make(torch).apply(tx, *args)
    (g,) = gg.grad((y * y).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad((ty * ty).sum(), tx, create_graph=True)
    close(g, tg)
    (h,) = gg.grad((g * g).sum(), x)
    (th,) = torch.autograd.grad((tg * tg).sum(), tx)
    close(h, th)


def test_double_backward_through_two_outputs():
    (x, y), (tx, ty) = leaves([0.5, -1.0], [2.0, 3.0])
    e, p = two_outputs_function(gg, []).apply(x, y)
    te, tp = two_outputs_function(torch, []).apply(tx, ty)
    gx, gy = gg.grad((e * p).sum(), [x, y], create_graph=True)
    tgx, tgy = torch.autograd.grad((te * tp).sum(), [tx, ty], create_graph=True)
    close(gx, tgx)
    close(gy, tgy)
    hx, hy = gg.grad((gx * gy).sum(), [x, y])
    thx, thy = torch.autograd.grad((tgx * tgy).sum(), [tx, ty])
    close(hx, thx)
    close(hy, thy)


# -- gradcheck -----------------------------------------------------------------------------
def test_gradcheck_and_gradgradcheck_on_the_examples():
    rng = np.random.default_rng(1)
    x = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = gg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = gg.tensor(rng.standard_normal(2), requires_grad=True)
    y = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    Linear = linear_function(gg, [])
    for fn, inputs in [
        (exp_function(gg).apply, (x,)),
        (legendre_function(gg).apply, (x,)),
        (Linear.apply, (x, w, b)),
        (lambda t: mul_constant_function(gg).apply(t, -1.5), (x,)),
        (two_outputs_function(gg, []).apply, (x, y)),
    ]:
        assert gg.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-4)
        assert gg.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-4)
    assert gg.autograd.gradcheck(lambda t: non_differentiable_function(gg, []).apply(t), (x,))


# -- gg.autograd.backward ------------------------------------------------------------------
def test_autograd_backward_matches_torch():
    (x, w), (tx, tw) = leaves([1.0, 2.0], [3.0, -1.0])
    for lib, a, b in ((gg, x, w), (torch, tx, tw)):
        lib.autograd.backward([a * b, (a * a).sum()], [lib.ones_like(a), None])
        lib.autograd.backward((a * b * b).sum(), inputs=[b])
    close(x.grad, tx.grad)
    close(w.grad, tw.grad)


# -- errors as torch's ---------------------------------------------------------------------
def _returning(lib, grads, forward=lambda x, k: x * 1):
    class Bad(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k=None):
            return forward(x, k)

        @staticmethod
        def backward(ctx, g):
            return grads(g)

    return Bad


@pytest.mark.parametrize(
    "grads, k, match",
    [
        (lambda g: (g, g, g), None, "incorrect number of gradients \\(expected 1, got 3\\)"),
        (lambda g: g[:2], None, "invalid gradient at index 0 - got \\[2\\] but expected"),
        (lambda g: g.sum(), None, "invalid gradient at index 0 - got \\[\\] but expected"),
        (lambda g: (g, g), 2.0, "different than None at position 2"),
        (lambda g: 3, None, "expected Variable or None \\(got int\\)"),
    ],
)
def test_bad_gradients_raise_as_torch(grads, k, match):
    for lib in (gg, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with pytest.raises(RuntimeError, match=match):
            _returning(lib, grads).apply(x, *([] if k is None else [k])).sum().backward()


def test_extra_none_gradients_and_a_broadcast_gradient_are_accepted():
    for lib in (gg, torch):
        x = lib.tensor([[1.0, 2.0]], requires_grad=True)
        _returning(lib, lambda g: (g, None, None)).apply(x).sum().backward()
        ones = lib.ones((3, 1, 2))
        _returning(lib, lambda g, ones=ones: g * ones).apply(x).sum().backward()
        assert x.grad.tolist() == [[4.0, 4.0]]


def test_calling_an_instance_or_an_unwritten_method_raises_as_torch():
    for lib in (gg, torch):
        with pytest.warns(DeprecationWarning):
            instance = exp_function(lib)()
        with pytest.raises(RuntimeError, match="non-static forward method is deprecated"):
            instance(lib.tensor([1.0]))
        with pytest.raises(NotImplementedError, match="implement the forward"):
            lib.autograd.Function.apply(lib.tensor([1.0]))

        class NoBackward(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        y = NoBackward.apply(lib.tensor([1.0], requires_grad=True))
        with pytest.raises(NotImplementedError, match="backward or vjp"):
            y.sum().backward()


def test_saving_a_non_tensor_raises():
    class SavesANumber(gg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

    with pytest.raises(TypeError, match="argument 1 is of type int"):
        SavesANumber.apply(gg.tensor([1.0], requires_grad=True))


def test_a_saved_tensor_modified_in_place_raises_as_torch():
    for lib in (gg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = exp_function(lib).apply(x)
        with lib.no_grad():
            y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1"):
            y.sum().backward()


def test_a_second_backward_needs_retain_graph():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = exp_function(gg).apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_a_saved_output_makes_no_reference_cycle():
    gc.collect()
    gc.disable()
    try:
        x = gg.tensor([1.0, 2.0], requires_grad=True)
        y = exp_function(gg).apply(x)
        ref = weakref.ref(y)
        del y
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_anomaly_mode_with_several_outputs():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    with gg.detect_anomaly():
        e, p = two_outputs_function(gg, []).apply(x, x)
        (e + p).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]) + 2 * np.array([1.0, 2.0]))


def test_autograd_function_is_pytorchs_and_the_engine_stays_exported():
    assert gg.autograd.Function is gg.autograd.function.Function
    assert not issubclass(gg.autograd.Function, gg.autograd.engine.Function)
    assert issubclass(gg.autograd.engine.Function, object) and gg.autograd.grad is gg.grad


def test_once_differentiable_backward_raises_on_a_second_derivative_as_torch():
    from torch.autograd.function import once_differentiable

    for lib, decorate in ((gg, gg.autograd.once_differentiable), (torch, once_differentiable)):

        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            @decorate
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = lib.tensor([1.0, 3.0], requires_grad=True)
        v = lib.tensor([1.0, 0.5], requires_grad=True)
        (g,) = lib.autograd.grad(Square.apply(x), x, v, create_graph=True)
        assert g.tolist() == [2.0, 3.0] and g.requires_grad
        with pytest.raises(RuntimeError, match="differentiate twice"):
            g.sum().backward()
        (g,) = lib.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
        assert not g.requires_grad  # the seed does not require grad: nothing to record
        x.grad = None
        Square.apply(x).sum().backward()
        assert x.grad.tolist() == [2.0, 6.0]


def test_mark_dirty_is_refused_plainly():
    class AddOneInPlace(gg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

    with pytest.raises(NotImplementedError, match="return a new Tensor"):
        AddOneInPlace.apply(gg.tensor([1.0]))
