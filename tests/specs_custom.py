"""Oracle specs of the call primitives (merged into tests/test_primitives.py's SPECS): custom_jvp_call,
custom_vjp_call and checkpoint, each reached through its public function (dr.custom_jvp, dr.custom_vjp,
dr.checkpoint) around a small user function whose rule is its true derivative written differently, so that the
registry's tests (values, JVP, VJP, linearize, the four second-order pairs, vmap, jit) check the rule against JAX
differentiating the plain function. Every rule is written with dualrev operations and Python-float constants, so
float32 stays float32.
"""

from __future__ import annotations

import jax.numpy as jnp
from oracle import REAL, Spec, elementwise

import dualrev as dr
import dualrev.numpy as dnp


# custom_jvp, two operands (broadcast against each other): the rule gives both partials
@dr.custom_jvp
def _scaled_sin(x, y):
    return x * dnp.sin(y)


@_scaled_sin.defjvp
def _scaled_sin_jvp(primals, tangents):
    (x, y), (dx, dy) = primals, tangents
    return _scaled_sin(x, y), dx * dnp.sin(y) + x * dnp.cos(y) * dy


# custom_vjp: bwd reads the residual x, and forward mode transposes bwd
@dr.custom_vjp
def _x_tanh(x):
    return x * dnp.tanh(x)


def _x_tanh_fwd(x):
    return _x_tanh(x), x


def _x_tanh_bwd(x, ct):
    t = dnp.tanh(x)
    return (ct * (t + x * (1.0 - t * t)),)


_x_tanh.defvjp(_x_tanh_fwd, _x_tanh_bwd)

# checkpoint: two operands, two outputs (the inside is recomputed in the backward pass)
_two_outputs = dr.checkpoint(lambda x, y: (dnp.sin(x) * y, dnp.exp(-x * x) + y))


def _call_public(public):
    def call(prim, *operands):
        return public(*operands)  # binds prim, the registered call primitive (test_every_call_primitive_...)

    return call


SPECS = {
    "custom_jvp_call": Spec(lambda x, y: x * jnp.sin(y), elementwise(REAL, REAL), call=_call_public(_scaled_sin)),
    "custom_vjp_call": Spec(lambda x: x * jnp.tanh(x), elementwise(REAL), call=_call_public(_x_tanh)),
    "checkpoint": Spec(lambda x, y: (jnp.sin(x) * y, jnp.exp(-x * x) + y), elementwise(REAL, REAL),
                       call=_call_public(_two_outputs)),
}
