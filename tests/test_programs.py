"""Random programs of 3-8 primitives on random shapes: grad, jvp and Hessian-vector products agree with JAX.

Each op is written once against a namespace ``xp`` (dualrev.numpy or jax.numpy) so both frameworks run the same
program. Values stay in every op's domain by construction (log(1 + x^2), not log(x)).
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dualrev as dr
import dualrev.numpy as dnp

UNARY = {
    "sin": lambda xp, x: xp.sin(x),
    "tanh": lambda xp, x: xp.tanh(x),
    "exp": lambda xp, x: xp.exp(0.3 * x),
    "log1p_sq": lambda xp, x: xp.log(1.0 + x * x),
    "sqrt": lambda xp, x: xp.sqrt(x * x + 0.5),
    "cube": lambda xp, x: x**3,
    "abs": lambda xp, x: xp.abs(x - 0.1),
    "rowsum": lambda xp, x: xp.sum(x, axis=-1, keepdims=True),
    "colmean": lambda xp, x: xp.mean(x, axis=0, keepdims=True),
    "flip": lambda xp, x: x[::-1],
    "roll": lambda xp, x: xp.concatenate([x[1:], x[:1]], axis=0),
    "transpose_back": lambda xp, x: xp.reshape(xp.transpose(x), x.shape),
}
BINARY = {
    "add": lambda xp, x, y: x + y,
    "sub": lambda xp, x, y: x - y,
    "mul": lambda xp, x, y: x * y,
    "div": lambda xp, x, y: x / (1.0 + y * y),
    "maximum": lambda xp, x, y: xp.maximum(x, y),
    "where": lambda xp, x, y: xp.where(x > y, x, y * y),
    "pow": lambda xp, x, y: (1.0 + x * x) ** (0.5 * xp.tanh(y)),
}


@st.composite
def programs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=3))
    n_inputs = draw(st.integers(1, 2))
    steps = []
    for k in range(draw(st.integers(3, 8))):
        n_regs = n_inputs + k
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(UNARY))), (draw(st.integers(0, n_regs - 1)),)))
        else:
            steps.append((draw(st.sampled_from(sorted(BINARY))),
                          (draw(st.integers(0, n_regs - 1)), draw(st.integers(0, n_regs - 1)))))
    xs = [draw(hnp.arrays(np.float64, shape, elements=st.floats(-1.5, 1.5))) for _ in range(n_inputs)]
    return steps, xs


def build(steps, xp, W):
    def program(*xs):
        regs = list(xs)
        for name, args in steps:
            op = UNARY.get(name) or BINARY[name]
            regs.append(op(xp, *(regs[i] for i in args)))
        last = xp.broadcast_to(regs[-1], xs[0].shape) @ W  # a contraction too
        # every register feeds the output, so values used several times accumulate cotangents
        return xp.sum(xp.tanh(last)) + 0.1 * sum(xp.sum(r) for r in regs[len(xs):-1])

    return program


@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs_match_jax(program, seed):
    steps, xs = program
    xs = tuple(xs)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((xs[0].shape[-1], 3))
    f, f_jax = build(steps, dnp, W), build(steps, jnp, W)
    argnums = tuple(range(len(xs)))
    vs = tuple(rng.standard_normal(x.shape) for x in xs)

    np.testing.assert_allclose(f(*xs), f_jax(*xs), rtol=1e-10, atol=1e-12)
    for g, w in zip(dr.grad(f, argnums)(*xs), jax.grad(f_jax, argnums)(*xs)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dr.jvp(f, xs, vs)[1], jax.jvp(f_jax, xs, vs)[1], rtol=1e-9, atol=1e-12)
    hvp = dr.hvp(f, xs, vs)
    hvp_jax = jax.jvp(jax.grad(f_jax, argnums), xs, vs)[1]
    for h, w in zip(hvp if len(xs) > 1 else (hvp,), hvp_jax):
        np.testing.assert_allclose(h, w, rtol=1e-8, atol=1e-10)
