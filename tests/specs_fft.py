"""Oracle specs of dualrev.numpy.fft's primitive (merged into tests/test_primitives.py's SPECS).

``fft`` is one primitive for every transform (kind fft/ifft/rfft/irfft, lengths s over axes, norm), as jax.lax.fft.
The harness draws real float32-exact operands and compares real outputs, so a complex spectrum is compared as its
real and imaginary parts; complex input is tested in tests/test_fft.py.
"""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import strategies as st
from oracle import Spec, arrays, jnp

import dualrev.numpy as dnp

_JAX = {"fft": jnp.fft.fftn, "ifft": jnp.fft.ifftn, "rfft": jnp.fft.rfftn, "irfft": jnp.fft.irfftn}


def _parts(z, real, imag):
    return (real(z), imag(z)) if np.dtype(z.dtype).kind == "c" else z


@st.composite
def fft_operands(draw):
    """A kind, a shape from a small pool (JAX compiles once per shape), one to all of its axes in any order, lengths
    that pad or truncate (or the input's own), and a norm."""
    kind = draw(st.sampled_from(["fft", "ifft", "rfft", "irfft"]))
    shape = draw(st.sampled_from([(4,), (3, 4), (2, 3, 2)]))
    ndim = len(shape)
    axes = tuple(draw(st.permutations(range(ndim)))[:draw(st.integers(1, ndim))])
    s = tuple(draw(st.sampled_from([shape[a], shape[a], 2, 5])) for a in axes)
    norm = draw(st.sampled_from(["backward", "ortho", "forward"]))
    return (draw(arrays(shape)),), {"kind": kind, "s": s, "axes": axes, "norm": norm}


_fft_ref = jax.jit(lambda x, kind, s, axes, norm: _parts(_JAX[kind](x, s=s, axes=axes, norm=norm), jnp.real, jnp.imag),
                   static_argnames=("kind", "s", "axes", "norm"))

SPECS = {
    "fft": Spec(_fft_ref, fft_operands(),
                call=lambda prim, x, **params: _parts(prim(x, **params), dnp.real, dnp.imag)),
}
