"""Custom derivative rules and rematerialisation: custom_jvp, custom_vjp, checkpoint.

Shows a custom_jvp softplus whose gradient stays finite at x = 1000 (the naive formula gives nan), a
custom_vjp that clips gradients, a custom_vjp (hand-written logsumexp VJP) used under dr.jvp and dr.hessian
(JAX refuses forward mode through custom_vjp; dualrev transposes the bwd rule), and checkpoint on a tanh MLP
giving the same gradient as without it.

    python examples/custom_rules.py
"""

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


def sigmoid(x):
    return 0.5 * (dnp.tanh(0.5 * x) + 1.0)  # no overflow for any x


@dr.custom_jvp
def softplus(x):  # log(1 + exp(x)), computed without overflow
    return dnp.maximum(x, 0.0) + dnp.log(1.0 + dnp.exp(-dnp.abs(x)))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return softplus(x), dx * sigmoid(x)


@dr.custom_vjp
def clip_gradient(x):  # identity forward; the backward pass clips the cotangent to [-1, 1]
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda res, ct: (dnp.minimum(dnp.maximum(ct, -1.0), 1.0),))


@dr.custom_vjp
def logsumexp(x):
    m = np.max(dr.stop_gradient(x))  # a constant shift: no derivative through max
    return m + dnp.log(dnp.sum(dnp.exp(x - m)))


def logsumexp_fwd(x):
    out = logsumexp(x)
    return out, (x, out)


def logsumexp_bwd(res, ct):  # linear in ct, written with dualrev ops: so forward mode can transpose it
    x, out = res
    return (ct * dnp.exp(x - out),)


logsumexp.defvjp(logsumexp_fwd, logsumexp_bwd)


def main():
    np.set_printoptions(precision=6, suppress=True)
    print("custom_jvp: softplus(x) = log(1 + exp(x)) with a stable derivative sigmoid(x)")
    with np.errstate(over="ignore", invalid="ignore"):
        naive = dr.grad(lambda x: dnp.log(1.0 + dnp.exp(x)))(1000.0)
    print(f"  naive  grad at x=1000: {naive}")
    print(f"  custom grad at x=1000: {dr.grad(softplus)(1000.0)}   value {softplus(1000.0)}")
    print(f"  2nd derivative at 0 (rule differentiated again): {dr.grad(dr.grad(softplus))(0.0)}")
    assert dr.grad(softplus)(1000.0) == 1.0 and np.isclose(dr.grad(dr.grad(softplus))(0.0), 0.25)

    print("custom_vjp: clip_gradient is the identity, its cotangent is clipped to [-1, 1]")
    x = np.array([0.1, -2.0, 3.0])
    print(f"  grad sum(5 * x**2 / 2)         = {dr.grad(lambda x: dnp.sum(5.0 * x ** 2 / 2.0))(x)}")
    print(f"  grad sum(5 * clip(x)**2 / 2)   = {dr.grad(lambda x: dnp.sum(5.0 * clip_gradient(x) ** 2 / 2.0))(x)}")

    print("custom_vjp under forward mode: logsumexp with a hand-written VJP, under jvp and hessian")
    x = np.array([0.5, -1.0, 2.0])
    p = np.exp(x - np.log(np.sum(np.exp(x))))  # softmax: the exact gradient
    v = np.array([1.0, 0.0, -1.0])
    _, jv = dr.jvp(logsumexp, (x,), (v,))
    H = dr.hessian(logsumexp)(x)
    print(f"  jvp     {jv:.12f}   exact softmax @ v {p @ v:.12f}")
    print(f"  hessian max error vs diag(p) - p p^T: {np.max(np.abs(H - (np.diag(p) - np.outer(p, p)))):.1e}")
    assert np.isclose(jv, p @ v) and np.allclose(H, np.diag(p) - np.outer(p, p))

    print("checkpoint: a 4-layer tanh MLP, each layer recomputed in the backward pass")
    rng = np.random.default_rng(0)
    params = [{"W": rng.standard_normal((8, 8)) / 3, "b": rng.standard_normal(8) / 10} for _ in range(4)]
    x0 = rng.standard_normal(8)

    def layer(p, h):
        return dnp.tanh(p["W"] @ h + p["b"])

    def loss(params, x, layer_fn):
        h = x
        for p in params:
            h = layer_fn(p, h)
        return dnp.sum(h ** 2)

    g_plain = dr.grad(loss)(params, x0, layer)
    g_ckpt = dr.grad(loss)(params, x0, dr.checkpoint(layer))
    err = max(np.max(np.abs(a[k] - b[k])) for a, b in zip(g_plain, g_ckpt) for k in a)
    print(f"  max |grad - grad with checkpoint| = {err:.1e}")
    assert err < 1e-14
    print("ok")


if __name__ == "__main__":
    main()
