"""Higher-order derivatives: nesting transforms.

Shows that nested derivatives keep their perturbations apart (the "perturbation confusion" example
d/dx [x * d/dy (x*y)] = 2x, with all four pairings of forward and reverse mode), the 4th derivative of tanh
by four nested grads and by forward-over-reverse, hessian vs hvp, and check_grads at order 2.

    python examples/higher_order.py
"""

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


def d_fwd(f):
    """Derivative of a scalar function by forward mode."""
    return lambda x: dr.jvp(f, (x,), (np.ones_like(x),))[1]


def d_rev(f):
    """Derivative of a scalar function by reverse mode."""
    return dr.grad(f)


def nested(outer, inner, x0):
    """d/dx [x * d/dy (x*y)] at x0: the inner function closes over the outer x, which must stay a constant
    to the inner derivative (its perturbation belongs to the outer one)."""
    return outer(lambda x: x * inner(lambda y: x * y)(1.0))(x0)


def main():
    print("perturbation confusion: d/dx [x * d/dy (x*y)] at x = 1.5 must be 2x = 3")
    x0 = 1.5
    for outer_name, outer in (("fwd", d_fwd), ("rev", d_rev)):
        for inner_name, inner in (("fwd", d_fwd), ("rev", d_rev)):
            value = nested(outer, inner, x0)
            print(f"  outer {outer_name} / inner {inner_name}:  {value}")
            assert np.isclose(value, 3.0), value

    print("4th derivative of tanh at 0.5 (exact 3.952219563724582)")
    exact = 3.952219563724582
    d4_rev = d_rev(d_rev(d_rev(d_rev(dnp.tanh))))(0.5)
    d4_mix = d_fwd(d_rev(d_fwd(d_rev(dnp.tanh))))(0.5)
    print(f"  rev(rev(rev(rev(tanh))))  {float(d4_rev)!r:<20}  error {abs(d4_rev - exact):.1e}")
    print(f"  fwd(rev(fwd(rev(tanh))))  {float(d4_mix)!r:<20}  error {abs(d4_mix - exact):.1e}")
    assert np.isclose(d4_rev, exact, rtol=1e-12) and np.isclose(d4_mix, exact, rtol=1e-12)

    print("hessian (n jvps of the gradient) vs hvp (one jvp of the gradient)")

    def f(x):
        return dnp.sum(dnp.exp(x[:-1] * x[1:])) + dnp.sum(x ** 4) / 4.0

    x = np.array([0.3, -0.5, 0.8, 0.1])
    v = np.array([1.0, 2.0, -1.0, 0.5])
    H = dr.hessian(f)(x)
    Hv = dr.hvp(f, (x,), (v,))
    print(f"  symmetric: {np.allclose(H, H.T)}   shape {H.shape}")
    print(f"  hessian(f)(x) @ v = {np.round(H @ v, 6)}")
    print(f"  hvp(f, x, v)      = {np.round(Hv, 6)}")
    assert np.allclose(H @ v, Hv)

    print("check_grads: forward and reverse mode vs finite differences, orders 1 and 2")

    def g(x, y):
        return dnp.tanh(x @ y) * dnp.sin(x)

    args = (np.array([[0.2, -0.4], [0.7, 0.1]]), np.array([[0.5, 0.3], [-0.2, 0.9]]))
    dr.check_grads(g, args, order=2)
    print("  check_grads(g, args, order=2) passed")
    print("ok")


if __name__ == "__main__":
    main()
