"""dualrev.numpy.fft: NumPy's discrete Fourier transforms, differentiable in both modes and to any order.

One primitive, ``fft``, stands for all of them, as ``jax.lax.fft`` does: an n-dimensional transform of one of four
kinds (``"fft"``, ``"ifft"``, ``"rfft"``, ``"irfft"``) over given axes and lengths with a ``norm``. The NumPy-signature
functions (fft, ifft, rfft, irfft, hfft, ihfft and their 2-D and n-D forms) are thin wrappers that resolve NumPy's
``n``/``s``/``axis``/``axes`` defaults; fftfreq, rfftfreq, fftshift and ifftshift are composites.

A transform is linear, so its JVP is the transform of the tangent, and its VJP the transpose, in JAX's convention for
complex values (the transpose, not the conjugate transpose; a real operand keeps the real part of its cotangent):

- fft, ifft: the DFT matrix is symmetric, so the transpose is the same transform of the cotangent (zero-padding or
  truncation to ``s`` becomes truncation or zero-padding back);
- rfft (real input, the first half of the spectrum): the full transform of the zero-padded cotangent, real part;
- irfft (the Hermitian half in, a real signal out): the conjugate of the rfft of the cotangent, whose entries that
  stand for two coefficients of the full spectrum (all but the zero frequency and, for even n, the Nyquist one) are
  doubled; the norm is the opposite one (``"backward"`` <-> ``"forward"``), as the inverse's scaling moves across.

Imports core and the other dualrev.numpy families.
"""

from __future__ import annotations

import operator

import numpy as np

from dualrev.core import Tracer, defprim, implements
from dualrev.numpy.shape import asarray, concatenate, getitem, roll
from dualrev.numpy.ufuncs import conjugate, real

__all__ = [
    "fft",
    "fft2",
    "fftfreq",
    "fftn",
    "fftshift",
    "hfft",
    "ifft",
    "ifft2",
    "ifftn",
    "ifftshift",
    "ihfft",
    "irfft",
    "irfft2",
    "irfftn",
    "rfft",
    "rfft2",
    "rfftfreq",
    "rfftn",
]

_NORMS = ("backward", "ortho", "forward")
_SWAPPED = {"backward": "forward", "ortho": "ortho", "forward": "backward"}  # the norm of the adjoint direction
_IMPLS = {"fft": np.fft.fftn, "ifft": np.fft.ifftn, "rfft": np.fft.rfftn, "irfft": np.fft.irfftn}

# -- helpers (dualrev operations; NumPy only on shapes and constants) --


def _dtype(x):
    return x.dtype if isinstance(x, (Tracer, np.ndarray, np.generic)) else np.asarray(x).dtype


def _along(axis, index, ndim):
    idx = [slice(None)] * ndim
    idx[axis] = index
    return tuple(idx)


def _resize(x, axes, lengths):
    """x truncated or zero-padded at the end of each of ``axes`` to ``lengths`` (NumPy's ``s``/``n`` handling)."""
    ndim = np.ndim(x)
    for axis, n in zip(axes, lengths):
        have = np.shape(x)[axis]
        if have > n:
            x = getitem(x, _along(axis, slice(0, n), ndim))
        elif have < n:
            shape = list(np.shape(x))
            shape[axis] = n - have
            x = concatenate([x, np.zeros(shape, _dtype(x))], axis=axis)
    return x


def _half_spectrum_weights(n, ndim, axis, dtype):
    """The weights of an rfft's entries along ``axis`` (n // 2 + 1 of them) as parts of the full spectrum of length n:
    1 for the zero frequency and (n even) the Nyquist one, 2 for the others, which stand for a conjugate pair."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * ndim
    shape[axis] = n // 2 + 1
    return w.reshape(shape).astype(dtype)


# -- the primitive --


def _fft_impl(x, *, kind, s, axes, norm):
    return _IMPLS[kind](x, s=s, axes=axes, norm=norm)


def _fft_jvp(dx, ans, x, *, kind, s, axes, norm):
    return _fft(dx, kind=kind, s=s, axes=axes, norm=norm)


def _fft_vjp(ct, ans, x, *, kind, s, axes, norm):
    lengths = [np.shape(x)[a] for a in axes]
    if kind in ("fft", "ifft"):  # symmetric DFT matrices: the transpose is the transform itself
        return _resize(_fft(ct, kind=kind, s=s, axes=axes, norm=norm), axes, lengths)
    if kind == "rfft":  # x -> the first half of fftn(x): pad the cotangent to the full spectrum, transform, real part
        full = _resize(ct, axes[-1:], s[-1:])
        return _resize(real(_fft(full, kind="fft", s=s, axes=axes, norm=norm)), axes, lengths)
    # irfft reads each entry of the half spectrum once but counts it twice when it stands for a conjugate pair
    weights = _half_spectrum_weights(s[-1], np.ndim(ct), axes[-1], _dtype(ct))
    g = conjugate(_fft(ct, kind="rfft", s=s, axes=axes, norm=_SWAPPED[norm]) * weights)
    return _resize(g, axes, lengths)


_fft = defprim(
    _fft_impl, name="fft", jvp=(_fft_jvp,), vjp=(_fft_vjp,), vjp_reads=((),), supports_complex=True,
    batch=lambda args, batched, *, kind, s, axes, norm: _fft(args[0], kind=kind, s=s,
                                                             axes=tuple(a + 1 for a in axes), norm=norm),
    note="one primitive for every transform (kind fft/ifft/rfft/irfft over axes, lengths s, norm), as jax.lax.fft; "
         "linear: the JVP is the transform, the VJP its transpose (JAX's convention for complex values)",
)

# -- argument handling, as NumPy's --


def _norm(norm, name):
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ValueError(f"dualrev.numpy.fft.{name}: invalid norm {norm!r}; use 'backward', 'ortho' or 'forward'")
    return norm


def _check_out(out, a, name):
    if out is not None and isinstance(a, Tracer):
        raise TypeError(f"dualrev.numpy.fft.{name}: out= cannot hold a traced value; use the returned array")


def _transform(kind, a, s, axes, norm, name, out=None):
    """Call the primitive with NumPy's defaults resolved: ``s`` (None entries: the input's length; for irfft the
    last one 2 * (m - 1)) and ``axes`` (None: the last len(s) axes, or all), both as tuples, axes non-negative."""
    a = asarray(a)
    norm = _norm(norm, name)
    _check_out(out, a, name)
    ndim = np.ndim(a)
    shape = np.shape(a)
    if axes is None:
        axes = tuple(range(ndim)) if s is None else tuple(range(ndim - len(s), ndim))
    axes = tuple(operator.index(ax) for ax in axes)
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(f"dualrev.numpy.fft.{name}: axis {ax} is out of bounds for array of "
                                          f"dimension {ndim}")
    axes = tuple(ax % ndim for ax in axes)
    if s is None:
        s = [None] * len(axes)
        if kind == "irfft" and axes:
            s[-1] = 2 * (shape[axes[-1]] - 1)
    s = list(s)
    if len(s) != len(axes):
        raise ValueError(f"dualrev.numpy.fft.{name}: shape and axes have different lengths")
    s = tuple(shape[ax] if n is None else operator.index(n) for n, ax in zip(s, axes))
    if any(n < 1 for n in s):
        raise ValueError(f"dualrev.numpy.fft.{name}: invalid number of data points {s} specified")
    if len(set(axes)) != len(axes) and isinstance(a, Tracer):
        raise ValueError(f"dualrev.numpy.fft.{name}: repeated axes {axes} on a traced value; transform twice instead")
    if kind in ("rfft",) and _dtype(a).kind == "c":
        raise TypeError(f"dualrev.numpy.fft.{name}: the input is complex ({_dtype(a)}); {name} takes real input "
                        "(use fft/fftn for complex input)")
    if not axes:
        return _IMPLS[kind](a, s=s, axes=axes, norm=norm) if not isinstance(a, Tracer) else a
    if _dtype(a).kind not in "fc":
        a = a.astype(np.float64) if isinstance(a, Tracer) else np.asarray(a, np.float64)
    result = _fft(a, kind=kind, s=s, axes=axes, norm=norm)
    if out is not None:  # plain arrays only (see _check_out)
        out[...] = result
        return out
    return result


def _one_axis(n, axis):
    return None if n is None else (n,), (axis,)


# -- one-dimensional transforms --


@implements(np.fft.fft)
def fft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.fft``: the one-dimensional discrete Fourier transform along ``axis`` (zero-padded or truncated to
    ``n``), differentiable.

    >>> dr.grad(lambda x: dnp.sum(dnp.abs(dnp.fft.fft(x)) ** 2))(np.ones(4))  # Parseval: 2 * 4 * x
    """
    return _transform("fft", a, *_one_axis(n, axis), norm, "fft", out)


@implements(np.fft.ifft)
def ifft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ifft``: the one-dimensional inverse discrete Fourier transform, differentiable."""
    return _transform("ifft", a, *_one_axis(n, axis), norm, "ifft", out)


@implements(np.fft.rfft)
def rfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.rfft``: the transform of real input, its n // 2 + 1 non-negative frequencies; differentiable."""
    return _transform("rfft", a, *_one_axis(n, axis), norm, "rfft", out)


@implements(np.fft.irfft)
def irfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.irfft``: the inverse of rfft, a real signal of length n (default 2 * (m - 1)); differentiable. As in
    NumPy, the imaginary parts of the zero (and, n even, the Nyquist) frequency are not read."""
    return _transform("irfft", a, *_one_axis(n, axis), norm, "irfft", out)


@implements(np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.hfft``: the transform of a Hermitian-symmetric signal given by its first half, a real spectrum (irfft
    of the conjugate with the opposite norm, as NumPy computes it)."""
    a = asarray(a)
    _check_out(out, a, "hfft")
    return _transform("irfft", conjugate(a), *_one_axis(n, axis), _SWAPPED[_norm(norm, "hfft")], "hfft", out)


@implements(np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ihfft``: the inverse of hfft, for real input (the conjugate of rfft with the opposite norm)."""
    _check_out(out, a, "ihfft")
    result = conjugate(_transform("rfft", a, *_one_axis(n, axis), _SWAPPED[_norm(norm, "ihfft")], "ihfft"))
    if out is not None:  # plain arrays only
        out[...] = result
        return out
    return result


# -- two- and n-dimensional transforms --


@implements(np.fft.fftn)
def fftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.fftn``: the n-dimensional transform over ``axes`` (default: all, or the last len(s)), lengths ``s``."""
    return _transform("fft", a, s, axes, norm, "fftn", out)


@implements(np.fft.ifftn)
def ifftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.ifftn``: the n-dimensional inverse transform."""
    return _transform("ifft", a, s, axes, norm, "ifftn", out)


@implements(np.fft.rfftn)
def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.rfftn``: the n-dimensional transform of real input (half spectrum along the last axis)."""
    return _transform("rfft", a, s, axes, norm, "rfftn", out)


@implements(np.fft.irfftn)
def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.irfftn``: the inverse of rfftn, real output of lengths ``s``."""
    return _transform("irfft", a, s, axes, norm, "irfftn", out)


@implements(np.fft.fft2)
def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.fft2``: the two-dimensional transform (fftn over the last two axes)."""
    return _transform("fft", a, s, axes, norm, "fft2", out)


@implements(np.fft.ifft2)
def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.ifft2``: the two-dimensional inverse transform."""
    return _transform("ifft", a, s, axes, norm, "ifft2", out)


@implements(np.fft.rfft2)
def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.rfft2``: the two-dimensional transform of real input."""
    return _transform("rfft", a, s, axes, norm, "rfft2", out)


@implements(np.fft.irfft2)
def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.irfft2``: the inverse of rfft2."""
    return _transform("irfft", a, s, axes, norm, "irfft2", out)


# -- frequencies and shifts --


@implements(np.fft.fftfreq)
def fftfreq(n, d=1.0, device=None):
    """``np.fft.fftfreq``: the sample frequencies k / (n d); differentiable in a traced spacing ``d``."""
    if not isinstance(d, Tracer):
        return np.fft.fftfreq(n, d, device=device)
    return np.fft.fftfreq(n, 1.0) / d


@implements(np.fft.rfftfreq)
def rfftfreq(n, d=1.0, device=None):
    """``np.fft.rfftfreq``: the non-negative sample frequencies k / (n d) of rfft; differentiable in ``d``."""
    if not isinstance(d, Tracer):
        return np.fft.rfftfreq(n, d, device=device)
    return np.fft.rfftfreq(n, 1.0) / d


def _shift(x, axes, sign):
    x = asarray(x)
    if axes is None:
        axes = tuple(range(np.ndim(x)))
    elif isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return roll(x, [sign * (np.shape(x)[ax] // 2) for ax in axes], tuple(axes))


@implements(np.fft.fftshift)
def fftshift(x, axes=None):
    """``np.fft.fftshift``: the zero frequency moved to the centre (a roll by n // 2 along ``axes``)."""
    if not isinstance(x, Tracer):
        return np.fft.fftshift(x, axes)
    return _shift(x, axes, 1)


@implements(np.fft.ifftshift)
def ifftshift(x, axes=None):
    """``np.fft.ifftshift``: the inverse of fftshift (a roll by -(n // 2))."""
    if not isinstance(x, Tracer):
        return np.fft.ifftshift(x, axes)
    return _shift(x, axes, -1)
