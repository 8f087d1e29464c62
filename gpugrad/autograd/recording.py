"""The switch through which ``gg.compile`` watches a step being recorded.

While a step is recorded, ``active`` is the recorder (``gpugrad.compile.Recorder``); every
other time it is None, and each hook below costs one global read.  The modules under
``gg.compile`` (the engine, Tensor, the factories, the optimizers) call these hooks; they
never import ``gpugrad.compile`` itself, which sits above them.

What a recorder is told:
* ``forward(node, inputs, out, ctor_keys)``: a Function ran (engine.Function.__call__);
  ``ctor_keys`` are the attributes the node had before its forward (its constructor's);
  an op without a gradient that computes outside a Function call (a comparison, ``//``,
  ``argmax``: ``gpugrad/ops/nondifferentiable.py``) tells it the same through :func:`forward`;
* ``backward(roots, seeds, retain_graph, create_graph, inputs)``: a backward is asked
  for; the recorder runs it (as the replays will) instead of the engine;
* ``constant(t)``: a factory made ``t`` from host data or a fill: the same every step;
* ``refuse(what)``: something happened that a replay could not repeat (a host read, an
  in-place write, a custom Function ...): the recorder raises, naming it.
"""

from __future__ import annotations

import contextlib

active = None
capturing = False  # a compiled plan is being captured as a CUDA graph (gpugrad.cuda_graph)


class CompileError(RuntimeError):
    """A step that ``gg.compile`` cannot record or replay: the message names what."""


def start(recorder) -> None:
    """Route the hooks to ``recorder`` (``gpugrad.compile`` calls this around a recording)."""
    global active
    active = recorder


def stop() -> None:
    """No recorder: the hooks do nothing."""
    global active
    active = None


def constant(t):
    """Mark ``t`` (made by a factory from host data) as a constant of the step being
    recorded; returns ``t``."""
    if active is not None:
        active.constant(t)
    return t


def forward(node, inputs, out) -> None:
    """``out`` was computed from the tensors ``inputs`` outside a Function call, and
    ``node.forward(*arrays)`` computes it again (an op without a gradient): the step being
    recorded replays it as it replays a Function's forward."""
    if active is not None:
        active.forward(node, inputs, out, tuple(node.__dict__))


def refuse(what: str) -> None:
    """Raise (through the recorder) if a step is being recorded: ``what`` cannot be replayed."""
    if active is not None:
        active.refuse(what)


class Capture:
    """What a CUDA graph capture left for later: ``uploads``, host-to-device copies that CuPy
    refuses on a capturing stream, run by :meth:`finish` once the capture has ended and
    before the graph's first launch; and ``forgets``, how the device caches that assumed
    this capture's work (an optimizer's lr, its pointer tables, Adam's step counts) drop
    that assumption if the capture fails (:meth:`failed`), so the next step uploads what
    the host holds instead of trusting a device that never ran the capture."""

    def __init__(self):
        self.uploads, self.keys, self.forgets = [], set(), []

    def finish(self) -> None:
        for upload in self.uploads:
            upload()
        self.uploads = []

    def failed(self) -> None:
        for forget in self.forgets:
            forget()
        self.uploads, self.forgets = [], []


_capture = None  # the Capture of the graph being captured


@contextlib.contextmanager
def capturing_graph():
    """Inside: a plan is being captured as a CUDA graph, :func:`refuse_in_capture` raises
    and :func:`after_capture` defers uploads.  Yields the :class:`Capture`; an exception
    inside marks it failed."""
    global capturing, _capture
    capturing, _capture = True, Capture()
    capture = _capture
    try:
        yield capture
    except BaseException:
        capture.failed()
        raise
    finally:
        capturing, _capture = False, None


def after_capture(upload, key=None, forget=None) -> None:
    """Run ``upload()`` (a host-to-device copy: CuPy refuses one on a capturing stream)
    after the capture, before the graph's first launch: for device memory the captured
    kernels read but nothing in the graph writes (a pointer table, an lr).  ``key`` names
    the memory: a second upload to it in one capture raises, as the graph's launches
    before and after it would all read the last value.  ``forget()``: see
    :func:`on_capture_failure`."""
    if not capturing:
        raise RuntimeError("after_capture is only for work deferred out of a CUDA graph capture")
    if key is not None:
        if key in _capture.keys:
            raise CompileError(
                "gg.compile: device values (an optimizer's lr or step counts) changed twice "
                "while the step was captured as a CUDA graph, which holds one value per "
                "launch; compile the step with cuda_graph=False"
            )
        _capture.keys.add(key)
    _capture.uploads.append(upload)
    if forget is not None:
        _capture.forgets.append(forget)


def on_capture_failure(forget) -> None:
    """While capturing: call ``forget()`` if the capture fails (a host cache that assumed
    the captured work ran, or an upload that never happened).  Nothing otherwise."""
    if capturing:
        _capture.forgets.append(forget)


def refuse_in_capture(what: str) -> None:
    """Raise CompileError if a plan is being captured as a CUDA graph: ``what`` would be
    frozen into it (a random draw whose offset the host advances)."""
    if capturing:
        raise CompileError(
            f"gg.compile: {what} cannot be captured in a CUDA graph yet; compile the step "
            f"with cuda_graph=False"
        )
