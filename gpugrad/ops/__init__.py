"""Differentiable operations, one file per family; forward and backward side by side.

See the docstring of ``gpugrad.autograd`` for the contract a Function follows.
"""
