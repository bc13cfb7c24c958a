"""Quickstart: the first-order transforms of dualrev.

Shows grad, value_and_grad with argnums and pytree (dict) parameters, jvp (forward mode), vjp (reverse mode),
jacfwd vs jacrev on a small vector function (they agree), and has_aux for returning extra values.

    python examples/quickstart.py
"""

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


def show(label, value):
    print(f"  {label:<34s} {value}")


def main():
    np.set_printoptions(precision=5, suppress=True)

    print("grad of f(x) = sum(x**3) / 3 is x**2")
    x = np.array([1.0, 2.0, 3.0])
    show("grad f(x)", dr.grad(lambda x: dnp.sum(x ** 3) / 3.0)(x))

    print("value_and_grad of a loss over dict params, argnums picks what is differentiated")
    params = {"w": np.array([0.5, -0.3]), "b": np.array(0.1)}
    inputs = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 1.0]])
    targets = np.array([1.0, 0.0, 0.5])

    def loss(params, inputs, targets):
        pred = dnp.tanh(inputs @ params["w"] + params["b"])
        return dnp.mean((pred - targets) ** 2)

    value, g = dr.value_and_grad(loss)(params, inputs, targets)  # argnums=0: a dict like params
    show("loss", value)
    show("d loss / d w", g["w"])
    show("d loss / d b", g["b"])
    g_params, g_inputs = dr.grad(loss, argnums=(0, 1))(params, inputs, targets)
    show("argnums=(0, 1): d loss / d inputs", g_inputs.shape)
    assert np.allclose(g_params["w"], g["w"])

    def f(x):  # R^3 -> R^2
        return dnp.stack([x[0] * x[1], dnp.sin(x[2]) + x[0] ** 2])

    print("jvp: forward mode, J @ v in one pass")
    v = np.array([1.0, 0.0, 0.0])
    out, jv = dr.jvp(f, (x,), (v,))
    show("f(x)", out)
    show("J @ e0", jv)

    print("vjp: reverse mode, u @ J (the pullback can be reused)")
    out, pullback = dr.vjp(f, x)
    (uj,) = pullback(np.array([1.0, 0.0]))
    show("e0 @ J", uj)

    print("jacfwd (one jvp per input) vs jacrev (one vjp per output)")
    J_fwd, J_rev = dr.jacfwd(f)(x), dr.jacrev(f)(x)
    show("jacfwd", np.round(J_fwd, 6).tolist())
    show("jacrev", np.round(J_rev, 6).tolist())
    assert np.allclose(J_fwd, J_rev)
    assert np.allclose(J_fwd @ v, jv) and np.allclose(np.array([1.0, 0.0]) @ J_rev, uj)

    print("has_aux: the function returns (scalar, aux); aux is passed through undifferentiated")

    def loss_with_aux(params, inputs, targets):
        pred = dnp.tanh(inputs @ params["w"] + params["b"])
        return dnp.mean((pred - targets) ** 2), {"pred": pred}

    g_aux, aux = dr.grad(loss_with_aux, has_aux=True)(params, inputs, targets)
    show("aux['pred']", aux["pred"])
    assert np.allclose(g_aux["w"], g["w"])
    print("ok")


if __name__ == "__main__":
    main()
