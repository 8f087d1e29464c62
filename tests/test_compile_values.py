"""gg.compile replays the ops without a gradient that a training step computes from its
inputs (comparisons, isnan, //, %, argmax, sort, one_hot ...): each replay computes them
again from the new batch, bit for bit as an eager step.  Every test feeds new values at
each call, so a value kept from the recording would show.  Host reads stay refused."""

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F

CALLS = 6  # the warm-up, the recording, four replays


def _values(out):
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [v for o in out for v in _values(o)]
    return [out.numpy().copy()]


def _same_as_eager(step, batches, params=()):
    """``compiled(*batch)`` and ``step(*batch)`` give the same values (and the same
    ``.grad`` of ``params``, which the step resets itself) for every batch."""
    compiled = gg.compile(step)
    for k, batch in enumerate(batches):
        got = _values(compiled(*batch)) + [p.grad.numpy().copy() for p in params]
        want = _values(step(*batch)) + [p.grad.numpy().copy() for p in params]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
        assert len(compiled.plans) == (0 if k == 0 else 1)


def _floats(shape, seed=0, nan=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(CALLS):
        a = rng.standard_normal(shape).astype(np.float32)
        if nan:  # NaN and infinities in new places every call
            flat = a.reshape(-1)
            flat[rng.choice(flat.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
        out.append(gg.tensor(a))
    return out


def _ints(shape, high, seed=1, low=0):
    rng = np.random.default_rng(seed)
    return [gg.tensor(rng.integers(low, high, shape)) for _ in range(CALLS)]


def _param(*shape, seed=2):
    gg.manual_seed(seed)
    return gg.randn(*shape, requires_grad=True)


def _trained(w, value):
    """The step's loss from ``value``, backward into ``w`` (its .grad reset first)."""
    w.grad = None
    loss = (w * value).sum()
    loss.backward()
    return loss


def test_comparisons_with_numbers_and_tensors_are_replayed():
    w = _param(3, 4)
    xs, ys = _floats((3, 4)), _floats((3, 4), seed=5)

    def step(x, y):
        masks = (x > 0, x < 0.5, x >= y, x <= -0.25, x == y, x != 0, gg.gt(x, y), -x < 0.3)
        masks += (gg.ge(x, [0.0, 0.1, 0.2, 0.3]), gg.eq(x, x), x.lt(y), gg.ne(x, y))
        total = masks[0] * 1.0
        for m in masks[1:]:
            total = total + m
        return _trained(w, total * x), masks

    _same_as_eager(step, list(zip(xs, ys)), [w])


def test_where_with_a_condition_computed_in_the_step():
    """The task's example: gg.where(x > 0, x, 0 * x)."""
    w = _param(5)

    def step(x):
        w.grad = None
        loss = gg.where(x > 0, x * w, 0 * w).sum() + gg.where(x < 0.5, 1.0, w).sum()
        loss.backward()
        return loss

    _same_as_eager(step, [(x,) for x in _floats(5)], [w])


def test_masked_fill_with_a_number_and_a_computed_mask():
    w = _param(2, 3)

    def step(x):
        return _trained(w, (x * w).masked_fill(x < 0, 0.0) + F.relu(x).masked_fill(x > 1, -1.0))

    _same_as_eager(step, [(x,) for x in _floats((2, 3))], [w])


def test_isnan_isinf_isfinite():
    w = _param(4, 4)

    def step(x):
        nan, inf, fin = gg.isnan(x), x.isinf(), gg.isfinite(x)
        return _trained(w, gg.where(fin, x, 0.0) + nan + 2 * inf), nan, inf, fin

    _same_as_eager(step, [(x,) for x in _floats((4, 4), nan=True)], [w])


def test_floor_divide_of_tensors_and_numbers():
    w = _param(6)
    xs, ns, ds = _floats(6), _ints(6, 50, low=-50), _ints(6, 9, seed=3, low=1)

    def step(x, n, d):
        q = (n // 4, n // d, 100 // d, gg.floor_divide(n, 3), x // 0.3, n // 2.5)
        return _trained(w, q[0] + q[1] + q[2] + q[3] + q[4] + q[5]), q

    _same_as_eager(step, list(zip(xs, ns, ds)), [w])


def test_remainder_with_a_number():
    """The task's example: w * (y % 4), the 4 a constant and y the new labels."""
    w = _param(3)
    ys, xs = _ints(3, 50, low=-50), _floats(3)

    def step(y, x):
        r = (y % 4, y.remainder(7), y % 2.5, x % 0.75, 10 % (y.abs() + 1))
        return _trained(w, r[0] + r[1] + r[2] + r[3] + r[4] + x % 0.5), r

    _same_as_eager(step, list(zip(ys, xs)), [w])


def test_argmax_argmin_any_all():
    w = _param(3, 5)

    def step(x):
        picks = (x.argmax(1), gg.argmin(x, dim=0, keepdim=True), x.argmax(), x.argmin())
        tests = ((x > 1).any(1), (x > -2).all(), gg.any(x > 0, dim=0, keepdim=True))
        value = picks[0][:, None] + picks[1] + picks[2] - picks[3] + tests[0][:, None]
        return _trained(w, value + tests[1] + tests[2]), picks, tests

    _same_as_eager(step, [(x,) for x in _floats((3, 5))], [w])


def test_argsort_sort_and_topk_follow_the_new_values():
    w = _param(3, 6)

    def step(x):
        w.grad = None
        h = x * w
        values, order = h.sort(1, descending=True)
        top, where = gg.topk(h, 2, dim=1)
        low, _ = gg.sort(h, 0)
        loss = (values * gg.tensor([1.0, 2, 3, 4, 5, 6])).sum() + top.sum() * 3 + low[0].sum()
        loss.backward()
        return loss, order, where, gg.argsort(x, 1)

    _same_as_eager(step, [(x,) for x in _floats((3, 6))], [w])


def test_one_hot_of_the_new_labels():
    w = _param(4, 5)

    def step(y):
        return _trained(w, F.one_hot(y, 5) * 2.0), F.one_hot(y, num_classes=6)

    _same_as_eager(step, [(y,) for y in _ints(4, 5)], [w])


def test_integer_tensors_with_floats_and_integer_casts():
    """An integer tensor times a float, or divided, is cast in the step (recorded); a
    cast of a tensor that requires grad to an integer type leaves the graph, replayed."""
    w = _param(4)

    def step(y):
        w.grad = None
        h = y * 0.5 + y / 3 + (w * 10 * y).long() + (w * y).int() * y
        loss = (w * h).sum()
        loss.backward()
        return loss, h

    _same_as_eager(step, [(y,) for y in _ints(4, 9)], [w])


def _model_and_step(seed):
    gg.manual_seed(seed)
    model = gg.nn.Linear(4, 3)
    opt = gg.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        logits = model(x)
        keep = y != 3  # label 3: padding
        losses = F.cross_entropy(logits, gg.where(keep, y, 0), reduction="none")
        loss = (losses * keep).sum() / keep.sum().clip(min=1)
        loss.backward()
        opt.step()
        return loss, (logits.argmax(1) == y).float().mean()

    return model, step


def test_a_masked_loss_and_the_accuracy_in_a_training_step():
    """A step as written with PyTorch: the loss of the rows that are not padding, and the
    batch's accuracy from argmax == labels; trained both ways, the same numbers."""
    xs, ys = _floats((8, 4)), _ints(8, 4)
    compiled_model, step = _model_and_step(0)
    eager_model, eager_step = _model_and_step(0)
    compiled = gg.compile(step)
    for x, y in zip(xs, ys):
        got, want = _values(compiled(x, y)), _values(eager_step(x, y))
        for g, e in zip(got, want):
            np.testing.assert_array_equal(g, e)
    assert len(compiled.plans) == 1
    for p, q in zip(compiled_model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def _refused(step, *args, match):
    compiled = gg.compile(step, warmup=0)
    with pytest.raises(gg.CompileError, match=match):
        compiled(*args)


def test_host_reads_of_these_ops_stay_refused():
    x, y = _floats((3,))[0], _ints(3, 4)[0]
    _refused(lambda x: (x > 0).sum().item(), x, match=r"host read.*item")
    _refused(lambda x: 1.0 if x.argmax() == 0 else x, x, match="host read")
    _refused(lambda x: gg.allclose(x, x * 1), x, match="gg.allclose")
    _refused(lambda x: gg.equal(x > 0, x > 0), x, match="gg.equal")
    _refused(lambda x: float(x.max()), x, match="host read")
    _refused(lambda x: (x > 0).tolist(), x, match="host read")
    _refused(lambda y: F.one_hot(y), y, match=r"one_hot with num_classes=-1")
    _refused(lambda x: x[x > 0].sum(), x, match=r"getitem: it holds an array")


def test_one_hot_labels_out_of_range_in_a_replay_raise_at_the_next_host_read(device):
    """On the CPU the replay checks the labels itself (RuntimeError, as eager); on a GPU (no
    host read in a replay) a device flag makes the next host read raise (ValueError, as
    the deferred label checks of the losses)."""
    w = gg.randn(3, device=device, requires_grad=True)

    def step(y):
        return (F.one_hot(y, 3) * w).sum()

    compiled = gg.compile(step)
    for _ in range(3):
        compiled(gg.tensor([0, 1, 2], device=device))
    with pytest.raises((RuntimeError, ValueError), match="one_hot"):
        compiled(gg.tensor([0, 1, 7], device=device)).item()
    from gpugrad import backend

    backend.run_deferred_checks()  # reported once
    assert compiled(gg.tensor([2, 1, 0], device=device)).item() == pytest.approx(
        w.sum().item(), rel=1e-6
    )
