"""The error function, ``erf``, elementwise: NumPy has none, so its float64 values come
from the rational approximations of fdlibm's ``s_erf.c`` (Sun Microsystems, 1993; under one
ulp), evaluated branch-free on whole arrays (NumPy or CuPy alike).  Backward:
gy · 2/√π · exp(-x²), written with ``ns`` so erf is differentiable to any order."""

from __future__ import annotations

import math

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor

__all__ = ["erf"]

# fmt: off
ERX = 8.45062911510467529297e-01  # erf(1) rounded to float
# erf(x) = x + x·P(x²)/Q(x²) on |x| < 0.84375
PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
      -5.77027029648944159157e-03, -2.37630166566501626084e-05)
QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
      1.32494738004321644526e-04, -3.96022827877536812320e-06)
# erf(x) = erx + P(x-1)/Q(x-1) on [0.84375, 1.25)
PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
      3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
      -2.16637559486879084300e-03)
QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
      1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
# erfc(x) = exp(-x² - 0.5625 + R(1/x²)/S(1/x²)) / x on [1.25, 1/0.35) (ra, sa), [1/0.35, 6) (rb, sb)
RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e01,
      -6.23753324503260060396e01, -1.62396669462573470355e02, -1.84605092906711035994e02,
      -8.12874355063065934246e01, -9.81432934416914548592e00)
SA = (1.0, 1.96512716674392571292e01, 1.37657754143519042600e02, 4.34565877475229228821e02,
      6.45387271733267880336e02, 4.29008140027567833386e02, 1.08635005541779435134e02,
      6.57024977031928170135e00, -6.04244152148580987438e-02)
RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e01,
      -1.60636384855821916062e02, -6.37566443368389627722e02, -1.02509513161107724954e03,
      -4.83519191608651397019e02)
SB = (1.0, 3.03380607434824582924e01, 3.25792512996573918826e02, 1.53672958608443695994e03,
      3.19985821950859553908e03, 2.55305040643316442583e03, 4.74528541206955367215e02,
      -2.24409524465858183362e01)
# fmt: on


def _poly(coefficients, z):
    """c0 + c1·z + c2·z² + ... by Horner's rule."""
    out = coefficients[-1]
    for c in coefficients[-2::-1]:
        out = out * z + c
    return out


def erf_array(x):
    """erf of a float array, computed in float64 and returned in x's dtype."""
    xp = backend.get_array_module(x)
    a = xp.abs(x.astype(xp.float64))
    c = xp.minimum(a, 6.0)  # every branch is evaluated everywhere: keep them finite
    z = c * c
    small = c + c * (_poly(PP, z) / _poly(QQ, z))  # fdlibm's efx is PP[0]
    s = c - 1.0
    middle = ERX + _poly(PA, s) / _poly(QA, s)
    with_eps = xp.maximum(c, 1.0)  # the tail is used from 1.25 on
    w = 1.0 / (with_eps * with_eps)
    near = a < 1 / 0.35
    ratio = xp.where(near, _poly(RA, w) / _poly(SA, w), _poly(RB, w) / _poly(SB, w))
    # exp(-a²) split as exp(-h² - 0.5625) · exp((h - a)(h + a) + ratio), h = a with its low
    # 32 bits cleared, so that h² is exact
    h = (with_eps.view(xp.uint64) & xp.uint64(0xFFFFFFFF00000000)).view(xp.float64)
    tail = (
        1.0 - xp.exp(-h * h - 0.5625) * xp.exp((h - with_eps) * (h + with_eps) + ratio) / with_eps
    )
    out = xp.where(a < 0.84375, small, xp.where(a < 1.25, middle, xp.where(a < 6.0, tail, 1.0)))
    out = xp.where(xp.isnan(a), a, out)
    return (xp.sign(x) * out).astype(x.dtype, copy=False)


class Erf(Function):
    """erf(x); gradient gy · 2/√π · exp(-x²)."""

    save_inputs = (0,)

    def forward(self, x):
        return erf_array(x)

    def backward(self, ns, gy, x):
        return gy * (2 / math.sqrt(math.pi)) * ns.exp(-(x * x))


def erf(x) -> Tensor:
    """The error function, elementwise (float64-accurate to about one ulp)."""
    return Erf()(as_tensor(x))
