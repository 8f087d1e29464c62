"""Differentiable operations, one module per op or small family, named after it: forward,
backward and the NumPy twin side by side.

The contract a Function follows is the docstring of ``gpugrad.autograd.engine``;
``docs/writing-an-op.md`` says where each op is.
"""
