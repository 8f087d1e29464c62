"""The in-place SGD and Adam/AdamW steps of ``kernels/optimizer.cu`` (launchers:
``gpugrad.kernels.optimizer``) against torch.optim, emulated on the CPU and on a GPU (the
``impl`` fixture): the per-parameter kernels, and the multi-tensor ones over several
parameters (sizes around the chunk, empty, 0-d), which must give the per-parameter kernels'
numbers in a constant number of launches, read lr from device memory and count Adam's steps
there, and cache their pointer tables.  The optimizers on the multi-tensor kernels (emulated,
and on a GPU) against torch.optim, and on a GPU against the same on the CPU."""

import numpy as np
import pytest
import torch
from kernel_cases import DTYPES, on_gpu, on_kernels

import gpugrad as gg
from gpugrad import optim
from gpugrad.autograd import recording
from gpugrad.kernels import optimizer, zero_grad

OPTIMIZERS = {
    "sgd": dict(lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False),
    "sgd_momentum_wd": dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=False),
    "sgd_nesterov": dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    "adam": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    "adam_l2": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
}


def _torch_optimizer(kind, w):
    hp = OPTIMIZERS[kind]
    if kind.startswith("sgd"):
        return torch.optim.SGD([w], **hp)
    return (torch.optim.AdamW if kind == "adamw" else torch.optim.Adam)([w], **hp)


def _tolerance(impl, dtype) -> dict:
    """After several steps, against torch.optim in the dtype (float16: in float32).  Where
    w - lr·g cancels, the absolute error is a few units in the last place of |w| ~ 1; on a
    GPU, fused multiply-adds move float32 by up to 1e-5."""
    if dtype == np.float16:
        return dict(rtol=1e-2, atol=1e-2)
    rtol = 1e-5 if (impl.machine, dtype) == ("gpu", np.float32) else impl.tol[dtype]["rtol"]
    return dict(rtol=rtol, atol=max(impl.tol[dtype]["atol"], 4 * float(np.finfo(dtype).eps)))


def _adam(p, grad, m, v, **hyper):
    """One adam_update, one step of plain Adam unless ``hyper`` says otherwise."""
    defaults = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False)
    corrections = dict(bias_correction1=0.1, bias_correction2=0.001)  # step 1
    optimizer.adam_update(p, grad, m, v, **{**defaults, **corrections, **hyper})


def _step(kind, w, g, state, t, lr=None):
    """Step t (from 1) of ``kind`` on the device arrays w (in place), g and state."""
    hp = {**OPTIMIZERS[kind], **({} if lr is None else {"lr": lr})}
    if kind.startswith("sgd"):
        optimizer.sgd_update(
            w,
            g,
            state[0] if hp["momentum"] else None,
            lr=hp["lr"],
            momentum=hp["momentum"],
            nesterov=hp["nesterov"],
            weight_decay=hp["weight_decay"],
            first_step=t == 1,
        )
        return
    b1, b2 = hp["betas"]
    _adam(
        w,
        g,
        *state,
        lr=hp["lr"],
        beta1=b1,
        beta2=b2,
        eps=hp["eps"],
        weight_decay=hp["weight_decay"],
        decoupled=kind == "adamw",
        bias_correction1=1 - b1**t,
        bias_correction2=1 - b2**t,
    )


@on_kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_optimizer_kernels_match_torch(impl, kind, dtype):
    if dtype == np.float16 and kind.startswith("adam"):
        pytest.skip(
            "float16 Adam state underflows (v ~ 1e-9 -> 0) exactly as in PyTorch; "
            "a float32 reference would not match"
        )
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal(100003).astype(dtype)  # more than a pass of the emulated grid
    grads = [rng.standard_normal(w0.size).astype(dtype) for _ in range(5)]
    ref_dtype = np.float32 if dtype == np.float16 else dtype  # float16: float32 maths
    tw = torch.tensor(w0.astype(ref_dtype), requires_grad=True)
    reference = _torch_optimizer(kind, tw)
    w = impl.asarray(w0)
    xp = impl.xp
    state = [xp.empty_like(w)] if kind.startswith("sgd") else [xp.zeros_like(w), xp.zeros_like(w)]
    for t, g in enumerate(grads, start=1):
        tw.grad = torch.tensor(g.astype(ref_dtype))
        reference.step()
        _step(kind, w, impl.asarray(g), state, t)
    np.testing.assert_allclose(
        impl.asnumpy(w).astype(np.float64),
        tw.detach().numpy(),
        **_tolerance(impl, dtype),
    )


@on_kernels
def test_float16_adam_keeps_state_in_float16(impl):
    w = impl.xp.ones(10, np.float16)
    m, v = impl.xp.zeros_like(w), impl.xp.zeros_like(w)
    _adam(w, impl.xp.full(10, 0.5, np.float16), m, v)
    np.testing.assert_allclose(impl.asnumpy(w).astype(np.float64), 0.9, rtol=1e-3)  # moved by lr
    assert w.dtype == m.dtype == v.dtype == np.float16


@on_gpu
def test_optimizers_on_a_gpu_match_the_cpu(impl):
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal(1001).astype(np.float32)
    grads = [rng.standard_normal(1001).astype(np.float32) for _ in range(4)]
    for make in [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
        lambda p: optim.AdamW(p, lr=0.01),
    ]:
        results = []
        for device in ("cpu", "cuda"):
            w = gg.tensor(w0, device=device, requires_grad=True)
            opt = make([w])
            for g in grads:
                w.grad = gg.tensor(g, device=device)
                opt.step()
            results.append(w.numpy())
        np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


@on_kernels
def test_empty_parameters_launch_nothing(impl):
    for dtype in DTYPES:
        e = impl.xp.empty((0, 5), dtype)
        optimizer.sgd_update(e, e, None, lr=0.1)
    assert not impl.launches


@on_kernels
def test_bad_inputs_raise_before_launching(impl):
    x = impl.xp.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="momentum buffer"):
        optimizer.sgd_update(x, x, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizer.sgd_update(x.T, x.T, None, lr=0.1)
    with pytest.raises(ValueError, match="does not match the parameter"):
        _adam(x, x, impl.xp.zeros(12, np.float32), impl.xp.zeros_like(x))
    assert not impl.launches


# -- multi-tensor kernels ------------------------------------------------------------------------
CHUNK = 64  # small, so that a few hundred elements take several blocks per tensor
MULTI_SHAPES = [(), (0,), (CHUNK - 1,), (CHUNK + 1,), (3, CHUNK), (7, 5), (0, 3)]
LRS = [None, None, 0.3, 0.3]  # step 3 on: a new lr, read from device memory (None: kind's)
LAUNCHES = {"sgd": ["sgd_multi_update"], "adam": ["adam_multi_count", "adam_multi_update"]}


def _multi_step(kind, params, grads, state, scalars, table, lr):
    """One multi-tensor step of ``kind`` on the lists params (in place), grads and state."""
    hp = OPTIMIZERS[kind]
    lr = hp["lr"] if lr is None else lr
    if kind.startswith("sgd"):
        hyper = scalars.update((lr, hp["momentum"], hp["weight_decay"]))
        bufs = state["bufs"] if hp["momentum"] else None
        optimizer.sgd_multi_update(params, grads, bufs, hyper, table, nesterov=hp["nesterov"])
        return
    (b1, b2), decoupled = hp["betas"], kind == "adamw"
    hyper = scalars.update((lr, b1, b2, hp["eps"], hp["weight_decay"]))
    optimizer.adam_multi_update(
        params, grads, state["m"], state["v"], state["steps"], hyper, table, decoupled=decoupled
    )


def _launched(impl, since: int) -> list:
    """The kernels launched since ``since`` (emulated: recorded), without the dtype suffix."""
    return [name.rsplit("_", 1)[0] for name, _, _ in impl.launches[since:]]


@on_kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_multi_tensor_kernels_match_per_parameter_kernels_and_torch(impl, kind, dtype):
    """Several parameters (0-d, empty, sizes around the chunk) over 4 steps, lr changed at
    step 3: the same numbers as the per-parameter kernels (bit for bit when emulated) and as
    torch.optim, in 1 (SGD) or 2 (Adam) launches per step whatever the number of tensors."""
    rng = np.random.default_rng(7)
    xp = impl.xp
    w0 = [rng.standard_normal(s).astype(dtype) for s in MULTI_SHAPES]
    steps = [[rng.standard_normal(s).astype(dtype) for s in MULTI_SHAPES] for _ in LRS]
    params = [impl.asarray(w.copy()) for w in w0]
    singles = [impl.asarray(w.copy()) for w in w0]  # the per-parameter kernels' run
    state = {name: [xp.zeros_like(p) for p in params] for name in ("bufs", "m", "v", "g")}
    state["steps"] = [xp.zeros(1, np.float64) for _ in params]
    single_states = [[xp.empty_like(p)] if kind.startswith("sgd") else [] for p in params]
    single_states = [
        s or [xp.zeros_like(p), xp.zeros_like(p)] for s, p in zip(single_states, params)
    ]
    ref_dtype = np.float32 if dtype == np.float16 else dtype
    tws = [torch.tensor(w.astype(ref_dtype), requires_grad=True) for w in w0]
    reference = _torch_optimizer(kind, tws[0])
    reference.param_groups[0]["params"] = tws
    scalars, table = optimizer.DeviceScalars(), optimizer.PointerTable(chunk=CHUNK)
    for t, (grads, lr) in enumerate(zip(steps, LRS), start=1):
        for tw, g in zip(tws, grads):
            tw.grad = torch.tensor(g.astype(ref_dtype))
        reference.param_groups[0]["lr"] = OPTIMIZERS[kind]["lr"] if lr is None else lr
        reference.step()
        for w, g, s in zip(singles, grads, single_states):
            _step(kind, w, impl.asarray(g), s, t, lr)
        since = len(impl.launches or [])
        for buffer, g in zip(state["g"], grads):  # persistent gradient buffers
            buffer[...] = impl.asarray(g)
        _multi_step(kind, params, state["g"], state, scalars, table, lr)
        if impl.launches is not None:
            assert _launched(impl, since) == LAUNCHES[kind[:4].rstrip("_w")]
    assert table.builds == 1 and scalars.uploads == 2  # built once; lr uploaded when changed
    for w, single, tw in zip(params, singles, tws):
        got = impl.asnumpy(w)
        if impl.name == "emulated":
            np.testing.assert_array_equal(got, impl.asnumpy(single))
        else:  # Adam's bias corrections: the device's pow, not the host's
            np.testing.assert_allclose(got, impl.asnumpy(single), rtol=4 * np.finfo(dtype).eps)
        if not (dtype == np.float16 and kind.startswith("adam")):  # see the test above
            np.testing.assert_allclose(
                got.astype(np.float64), tw.detach().numpy(), **_tolerance(impl, dtype)
            )
    if kind.startswith("adam"):  # the step counts advanced on the device (not the empty's)
        counts = [float(impl.asnumpy(s)[0]) for s in state["steps"]]
        assert counts == [4.0 if w.size else 0.0 for w in w0]


@on_kernels
def test_multi_tensor_kernels_read_lr_and_step_counts_from_device_memory(impl):
    xp = impl.xp
    params = [xp.ones(n, np.float32) for n in (5, 200)]
    grads = [xp.full(n, 2.0, np.float32) for n in (5, 200)]
    scalars, table = optimizer.DeviceScalars(), optimizer.PointerTable(chunk=CHUNK)
    optimizer.sgd_multi_update(params, grads, None, scalars.update((0.5, 0.0, 0.0)), table)
    scalars.array[0] = 0.125  # written on the device: the launch arguments are the same
    optimizer.sgd_multi_update(params, grads, None, scalars.array, table)
    for p in params:  # 1 - 0.5·2 - 0.125·2
        np.testing.assert_array_equal(impl.asnumpy(p), -0.25)
    # Adam: the bias corrections come from the device's count; set back to 0, the next
    # step is a first step again, whose size is lr (up to eps) whatever the moments hold
    m, v = [xp.zeros_like(p) for p in params], [xp.zeros_like(p) for p in params]
    steps = [xp.zeros(1, np.float64) for _ in params]
    hyper = optimizer.DeviceScalars().update((0.01, 0.9, 0.999, 1e-8, 0.0))
    adam_table = optimizer.PointerTable(chunk=CHUNK)
    for _ in range(3):
        optimizer.adam_multi_update(params, grads, m, v, steps, hyper, adam_table, decoupled=False)
    assert [float(impl.asnumpy(s)[0]) for s in steps] == [3.0, 3.0]
    before = [impl.asnumpy(p).copy() for p in params]
    for a, b, s in zip(m, v, steps):
        a[...], b[...], s[...] = 0, 0, 0
    optimizer.adam_multi_update(params, grads, m, v, steps, hyper, adam_table, decoupled=False)
    for p, b in zip(params, before):
        np.testing.assert_allclose(impl.asnumpy(p), b - 0.01, rtol=1e-6)


@on_kernels
def test_multi_tensor_table_is_cached_until_an_array_changes(impl):
    xp = impl.xp
    params = [xp.ones(n, np.float64) for n in (5, 300, 1)]
    grads = [xp.ones(n, np.float64) for n in (5, 300, 1)]
    bufs = [xp.zeros(n, np.float64) for n in (5, 300, 1)]
    scalars, table = optimizer.DeviceScalars(), optimizer.PointerTable(chunk=CHUNK)
    hyper = scalars.update((0.1, 0.5, 0.0))

    def step():
        optimizer.sgd_multi_update(params, grads, bufs, hyper, table)

    for _ in range(3):
        step()
    assert (table.builds, table.tensors, table.blocks, scalars.uploads) == (1, 3, 7, 1)
    old = grads[1]
    grads[1] = xp.full(300, 2.0)  # a new array (the old one alive: another address)
    step()
    assert table.builds == 2 and old is not grads[1]
    step()
    assert table.builds == 2
    # buf: 1, 1.5, 1.75, then 0.875 + 2, 1.4375 + 2; p: 1 - 0.1·(sum of the bufs)
    np.testing.assert_allclose(impl.asnumpy(params[1]), 1 - 0.1 * (1 + 1.5 + 1.75 + 2.875 + 3.4375))
    np.testing.assert_allclose(impl.asnumpy(params[0]), 1 - 0.1 * (1 + 1.5 + 1.75 + 1.875 + 1.9375))


def _addresses(impl, arrays) -> list:
    return [a.ctypes.data if impl.machine != "gpu" else a.data.ptr for a in arrays]


@on_kernels
def test_a_table_a_captured_graph_reads_is_never_written_again(impl):
    """A CUDA graph reads the pointer table captured with it at every launch.  A rebuild
    inside the capture (new gradient addresses) is not copied there (CuPy refuses a copy on
    a capturing stream): it is deferred to after the capture, before the first launch.  A
    rebuild after the capture (an eager step, another graph) goes to a new table, leaving
    the captured one as it was, and alive."""
    xp = impl.xp
    params, bufs = ([xp.ones(n, np.float64) for n in (5, 300)] for _ in range(2))
    grads = [xp.ones(n, np.float64) for n in (5, 300)]
    scalars, table = optimizer.DeviceScalars(), optimizer.PointerTable(chunk=CHUNK)
    hyper = scalars.update((0.1, 0.0, 0.0))

    def step():
        optimizer.sgd_multi_update(params, grads, bufs, hyper, table)

    def table_addresses():
        return impl.asnumpy(table.table)[:4].tolist()  # params, then grads (SGD, no buffers)

    step()
    eager = table_addresses()
    old, grads[1] = grads[1], xp.full(300, 2.0)  # new addresses, as set_to_none=True gives
    with recording.capturing_graph() as capture:
        step()  # (emulated, the launch runs at once and reads the table not yet written)
        assert table_addresses() == eager and len(capture.uploads) == 1
    capture.finish()  # what GraphStep does once the capture has ended
    captured = table.table
    assert table_addresses() == _addresses(impl, params + grads)
    assert table.builds == 2 and table.read_by_graph
    captured_values = impl.asnumpy(captured).copy()
    grads[0] = xp.full(5, 3.0)
    step()  # eager again, new addresses: a third table, the captured one untouched
    assert table.table is not captured and table.builds == 3 and not table.read_by_graph
    assert table_addresses() == _addresses(impl, params + grads)
    np.testing.assert_array_equal(impl.asnumpy(captured), captured_values)
    assert any(kept is captured for kept in table.graph_tables)
    # a capture that finds the table unchanged marks it too: the next rebuild leaves it
    with recording.capturing_graph() as capture:
        step()
    assert not capture.uploads
    kept = table.table
    grads[0] = xp.full(5, 1.0)
    step()
    assert table.table is not kept and any(k is kept for k in table.graph_tables)
    del old


@on_kernels
def test_a_failed_capture_makes_the_table_and_the_scalars_forget(impl):
    """A capture that raises never wrote what it deferred: the table is rebuilt and the
    scalars uploaded at the next eager step, not trusted."""
    xp = impl.xp
    params, bufs = ([xp.ones(n, np.float64) for n in (5, 300)] for _ in range(2))
    grads = [xp.ones(n, np.float64) for n in (5, 300)]
    scalars, table = optimizer.DeviceScalars(), optimizer.PointerTable(chunk=CHUNK)
    optimizer.sgd_multi_update(params, grads, bufs, scalars.update((0.1, 0.0, 0.0)), table)
    grads[1] = xp.full(300, 2.0)
    with pytest.raises(RuntimeError, match="the step failed"), recording.capturing_graph():
        scalars.update((0.05, 0.0, 0.0))
        table.update([params, grads])
        raise RuntimeError("the step failed")
    np.testing.assert_array_equal(impl.asnumpy(scalars.array), [0.1, 0, 0])  # never written
    builds = table.builds
    optimizer.sgd_multi_update(params, grads, bufs, scalars.update((0.05, 0.0, 0.0)), table)
    assert table.builds == builds + 1
    assert impl.asnumpy(table.table)[:4].tolist() == _addresses(impl, params + grads)
    np.testing.assert_array_equal(impl.asnumpy(scalars.array), [0.05, 0, 0])


@on_kernels
def test_an_upload_inside_a_capture_waits_for_its_end_and_a_second_one_is_refused(impl):
    """A scheduler's new lr met inside a capture is written once the capture has ended
    (CuPy refuses a copy on a capturing stream), before the first launch; a second change
    in the same capture cannot be: every launch of the graph would read the last one."""
    scalars = optimizer.DeviceScalars()
    scalars.update((0.1, 0.9))
    with recording.capturing_graph() as capture:
        scalars.update((0.1, 0.9))  # unchanged: nothing to upload
        assert not capture.uploads
        scalars.update((0.05, 0.9))
        np.testing.assert_array_equal(impl.asnumpy(scalars.array), [0.1, 0.9])
        with pytest.raises(gg.CompileError, match="changed twice"):
            scalars.update((0.025, 0.9))
    capture.finish()
    np.testing.assert_array_equal(impl.asnumpy(scalars.array), [0.05, 0.9])


@on_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_zero_zeroes_every_array_of_a_dtype_in_one_launch(impl, dtype):
    """zero_grad(set_to_none=False)'s kernel: every element of every array (sizes around
    the chunk), -0, NaN and inf included, becomes +0; memory around them is untouched."""
    xp = impl.xp
    big = xp.asarray(np.full(2 * CHUNK + 20, -np.inf, dtype))
    inside = big[5 : 2 * CHUNK + 10]  # contiguous, inside a larger buffer
    values = np.array([-0.0, np.nan, np.inf, 1.5], dtype)
    arrays = [inside] + [
        xp.asarray(np.resize(values, n).astype(dtype)) for n in (1, CHUNK - 1, CHUNK + 1)
    ]
    zero_grad.multi_zero(arrays)
    if impl.launches is not None:  # emulated: the launches are recorded
        assert _launched(impl, 0) == ["multi_zero"]
    for a in arrays:
        host = impl.asnumpy(a)
        assert (host == 0).all() and not np.signbit(host).any()
    around = impl.asnumpy(big)
    assert np.isneginf(around[:5]).all() and np.isneginf(around[2 * CHUNK + 10 :]).all()
    zero_grad.multi_zero(arrays)  # the same arrays, the same table
    if impl.launches is not None:
        assert _launched(impl, 0) == ["multi_zero"] * 2


@on_kernels
def test_multi_tensor_empty_groups_launch_nothing(impl):
    xp = impl.xp
    table = optimizer.PointerTable(chunk=CHUNK)
    sgd = optimizer.DeviceScalars().update((0.1, 0.9, 0.0))
    adam = optimizer.DeviceScalars().update((0.1, 0.9, 0.99, 1e-8, 0.0))
    optimizer.sgd_multi_update([], [], [], sgd, table)
    empty = [xp.empty((0, 5), np.float32), xp.empty(0, np.float32)]
    optimizer.sgd_multi_update(empty, empty, empty, sgd, table)
    steps = [xp.zeros(1, np.float64) for _ in empty]
    optimizer.adam_multi_update(empty, empty, empty, empty, steps, adam, table, decoupled=True)
    assert not impl.launches and table.builds == 0
    assert [float(impl.asnumpy(s)[0]) for s in steps] == [0.0, 0.0]


@on_kernels
def test_multi_tensor_bad_inputs_raise_before_launching(impl):
    xp = impl.xp
    x, y = xp.ones((3, 4), np.float32), xp.ones(7, np.float32)
    table = optimizer.PointerTable(chunk=CHUNK)
    sgd = optimizer.DeviceScalars().update((0.1, 0.9, 0.0))
    adam = optimizer.DeviceScalars().update((0.1, 0.9, 0.99, 1e-8, 0.0))
    step = xp.zeros(1, np.float64)
    bad = [
        (lambda: optimizer.sgd_multi_update([x, y], [x], None, sgd, table), "2 parameters but 1"),
        (lambda: optimizer.sgd_multi_update([x, y], [x, x], None, sgd, table), "gradient of shape"),
        (lambda: optimizer.sgd_multi_update([x, y.astype(np.float64)], [x, y], None, sgd, table),
         "one dtype"),
        (lambda: optimizer.sgd_multi_update([x.T], [x.T], None, sgd, table), "C-contiguous"),
        (lambda: optimizer.sgd_multi_update([x], [x], [y], sgd, table), "does not match"),
        (lambda: optimizer.sgd_multi_update([x], [x], None, adam, table), r"shape \(3,\)"),
        (lambda: optimizer.adam_multi_update([x], [x], [x], [x], [], adam, table, decoupled=False),
         "1 parameters but 0 step counts"),
        (lambda: optimizer.adam_multi_update([x], [x], [x], [x], [step.astype(np.float32)], adam,
                                             table, decoupled=False), "float64"),
    ]  # fmt: skip
    for call, message in bad:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="int64"):
        optimizer.sgd_multi_update([xp.ones(3, np.int64)], [x], None, sgd, table)
    with pytest.raises(ValueError, match="positive"):
        optimizer.PointerTable(chunk=0)
    assert not impl.launches and table.builds == 0
