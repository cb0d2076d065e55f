"""The standard normal quantile (inverse CDF), vectorised, to the bit of ``scipy.special.ndtri``.

Time in custody is a truncated log-normal drawn by inverting its CDF, once per reception
batch and once for the day-0 stock. ``scipy.special`` gave the quantile, but importing it costs
about 0.3 s of every process's start-up (scipy 1.17 loads its array-API layer with it), more
than a single-prison run simulates in a year. This module computes the same numbers with
numpy and the ``math`` module instead.

The algorithm is Cephes ``ndtri`` (S. L. Moshier, 1984-1989, as SciPy ships it): a rational
function of ``p - 1/2`` in the centre, and of ``1/z`` with ``z = sqrt(-2 log p)`` in each tail.
The arithmetic is done in the same order as the C code, with IEEE operations only (``+ - * /``
and ``sqrt``, correctly rounded in numpy as in C); logarithms come from ``math.log``, the C
library's ``log`` that the compiled code calls (numpy's own may be a SIMD approximation on
some processors). On x86-64 ``tests/test_normal_quantile.py`` compares every result with
SciPy's to the bit, tails included. Where SciPy's build fuses a multiply and an add into one
instruction (possible on ARM), its results may differ from these in the last bit or two;
the test allows 4 units in the last place there.
"""

from __future__ import annotations

import math

import numpy as np

#: sqrt(2 pi)
_S2PI = 2.50662827463100050242e0
#: exp(-2): below it (and above 1 - it) the tail approximations apply
_EXP_M2 = 0.13533528323661269189
#: Coefficients, highest power first; a ``Q`` has an implicit leading 1.
#: Centre, 0 <= |p - 1/2| <= 3/8:
_P0 = (
    -5.99633501014107895267e1,
    9.80010754185999661536e1,
    -5.66762857469070293439e1,
    1.39312609387279679503e1,
    -1.23916583867381258016e0,
)
_Q0 = (
    1.95448858338141759834e0,
    4.67627912898881538453e0,
    8.63602421390890590575e1,
    -2.25462687854119370527e2,
    2.00260212380060660359e2,
    -8.20372256168333339912e1,
    1.59056225126211695515e1,
    -1.18331621121330003142e0,
)
#: Tails with 2 <= z < 8 (p down to exp(-32)):
_P1 = (
    4.05544892305962419923e0,
    3.15251094599893866154e1,
    5.71628192246421288162e1,
    4.40805073893200834700e1,
    1.46849561928858024014e1,
    2.18663306850790267539e0,
    -1.40256079171354495875e-1,
    -3.50424626827848203418e-2,
    -8.57456785154685413611e-4,
)
_Q1 = (
    1.57799883256466749731e1,
    4.53907635128879210584e1,
    4.13172038254672030440e1,
    1.50425385692907503408e1,
    2.50464946208309415979e0,
    -1.42182922854787788574e-1,
    -3.80806407691578277194e-2,
    -9.33259480895457427372e-4,
)
#: Far tails, z >= 8:
_P2 = (
    3.23774891776946035970e0,
    6.91522889068984211695e0,
    3.93881025292474443415e0,
    1.33303460815807542389e0,
    2.01485389549179081538e-1,
    1.23716634817820021358e-2,
    3.01581553508235416007e-4,
    2.65806974686737550832e-6,
    6.23974539184983293730e-9,
)
_Q2 = (
    6.02427039364742014255e0,
    3.67983563856160859403e0,
    1.37702099489081330271e0,
    2.16236993594496635890e-1,
    1.34204006088543189037e-2,
    3.28014464682127739104e-4,
    2.89247864745380683936e-6,
    6.79019408009981274425e-9,
)


def _poly(x: np.ndarray, coefficients: tuple[float, ...], monic: bool) -> np.ndarray:
    """Horner's rule, highest power first (Cephes ``polevl``; ``p1evl`` with ``monic``)."""
    value = x + coefficients[0] if monic else np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        value = value * x + c
    return value


def _logs(x: np.ndarray) -> np.ndarray:
    """The C library's natural logarithm of each (positive, finite) value."""
    return np.array(list(map(math.log, x.tolist())), dtype=float)  # (map: half a comprehension's time)


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """The x with Phi(x) = p for each probability ``p`` (``-inf`` at 0, ``inf`` at 1, NaN
    outside [0, 1]); the same float as ``scipy.special.ndtri``."""
    p = np.asarray(p, dtype=float)
    flat = p.ravel()
    upper = flat > 1.0 - _EXP_M2
    q = np.where(upper, 1.0 - flat, flat)  # the tail's own probability, at most 1 - exp(-2)
    out = np.full(flat.shape, np.nan)
    centre = q > _EXP_M2
    if centre.any():
        w = q[centre] - 0.5
        w2 = w * w
        out[centre] = (w + w * (w2 * _poly(w2, _P0, False) / _poly(w2, _Q0, True))) * _S2PI
    tail = ~centre & (q > 0.0) & (flat <= 1.0)  # (NaN fails both tests and stays NaN)
    if tail.any():
        z = np.sqrt(-2.0 * _logs(q[tail]))
        z0 = z - _logs(z) / z
        r = 1.0 / z
        correction = r * _poly(r, _P1, False) / _poly(r, _Q1, True)
        far = z >= 8.0  # p below exp(-32): rare (time in custody clips p to 1e-12 and above)
        if far.any():
            rf = r[far]
            correction[far] = rf * _poly(rf, _P2, False) / _poly(rf, _Q2, True)
        x = z0 - correction
        out[tail] = np.where(upper[tail], x, -x)
    out[flat == 0.0] = -np.inf
    out[flat == 1.0] = np.inf
    return out.reshape(p.shape)
