"""``python -m dualrev``: a short guided tour of the transforms, printed to stdout in about a second.

grad, jvp, a Hessian, a Hessian-vector product, Newton's method, nesting, vmap and make_graph, each in a few lines.
"""

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def heading(title):
    print(f"\n== {title}")


def main():
    np.set_printoptions(precision=6, suppress=True)
    print(f"dualrev {dr.__version__}: forward (dual numbers) and reverse (tape) automatic differentiation of NumPy code")

    heading("grad: reverse mode, f(x) = sum(sin(x)**2)")
    f = lambda x: dnp.sum(dnp.sin(x) ** 2)
    x = np.array([0.0, 0.5, 1.0])
    print(f"  x = {x}   grad f(x) = {dr.grad(f)(x)}")
    print(f"  exact sin(2x)         = {np.sin(2 * x)}")

    heading("jvp: forward mode, one pass gives f(x) and J @ v")
    out, tangent = dr.jvp(dnp.tanh, (x,), (np.ones(3),))
    print(f"  tanh(x) = {out}   J @ 1 = {tangent}")

    heading("hessian of Rosenbrock at (1, 1)  (forward over reverse)")
    H = dr.hessian(rosenbrock)(np.array([1.0, 1.0]))
    print(f"  {H[0]}\n  {H[1]}")

    heading("hvp: H @ v without forming H")
    v = np.array([1.0, -1.0])
    print(f"  hvp(rosenbrock, (1, 1), v={v}) = {dr.hvp(rosenbrock, (np.array([1.0, 1.0]),), (v,))}")

    heading("Newton's method on Rosenbrock from (-1.2, 1): x <- x - solve(H(x), grad(x))")
    x = np.array([-1.2, 1.0])
    g_fun, h_fun = dr.grad(rosenbrock), dr.hessian(rosenbrock)
    for it in range(1, 51):
        x = x - np.linalg.solve(h_fun(x), g_fun(x))
        gnorm = np.linalg.norm(g_fun(x))
        print(f"  iter {it:2d}  x = [{x[0]: .12f} {x[1]: .12f}]  |grad| = {gnorm:.2e}")
        if gnorm < 1e-10:
            break

    heading("nesting: d/dx [x * d/dy (x + y)] at x = 1  (each transform has its own level: no perturbation confusion)")
    inner = lambda x: dr.grad(lambda y: x + y)(1.0)
    print(f"  = {dr.grad(lambda x: x * inner(x))(1.0)}   (a single shared epsilon would give 2.0)")

    heading("vmap: per-example gradients of a loss, one vectorised pass")
    w = np.array([0.5, -1.0])
    xs = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    per_example = dr.vmap(dr.grad(lambda w, x: dnp.tanh(x @ w) ** 2), in_axes=(None, 0))(w, xs)
    print(f"  vmap(grad(loss), in_axes=(None, 0))(w, xs) has shape {per_example.shape}:")
    for row in per_example:
        print(f"  {row}")

    heading("make_graph: the primitive calls of f(x) = sum(tanh(x) * 2 + 1)")
    graph = dr.make_graph(lambda x: dnp.sum(dnp.tanh(x) * 2.0 + 1.0))(np.ones(3))
    print(graph)
    dot = graph.to_dot()
    print(f"  graph.to_dot() is Graphviz text ({len(dot.splitlines())} lines); graph.render('f.svg') draws it")

    print("\nNext: docs/getting-started.md, docs/how-it-works.md (the algorithm, with pictures) and examples/.")


if __name__ == "__main__":
    main()
