"""Measure, rather than remember, how dualrev, JAX, autograd and torch.func behave on the points the comparison
page (docs/comparison.md) makes.

    python docs/scripts/compare.py        # prints a Markdown table: one row per behaviour, one column per library

Each probe runs a tiny program and reports what happened: the value, or the exception type. A library that is not
installed gets "not installed". ``tests/test_docs_comparison.py`` runs the probes for the libraries it finds and
checks the page's claims against them.
"""

from __future__ import annotations

import pathlib
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # this checkout's dualrev


def _outcome(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn()
    except Exception as e:  # the point of a probe: what a user would see
        return f"raises {type(e).__name__}"
    return out


# -- one module per library: the same probes, each library's spelling --


def dualrev_probes():
    import dualrev as dr
    import dualrev.numpy as dnp

    def custom_vjp_fwd():
        @dr.custom_vjp
        def f(x):
            return dnp.sin(x)

        f.defvjp(lambda x: (dnp.sin(x), x), lambda x, ct: (ct * dnp.cos(x),))
        return round(float(dr.jvp(f, (0.0,), (1.0,))[1]), 6)

    def control_flow():
        def f(x):
            while x < 10.0:
                x = x * 2.0
            return x
        return float(dr.grad(f)(3.0))

    return {
        "nested: d/dx [x · d/dy (x + y)] at x = 1 (1 is right)": lambda: float(dr.grad(lambda x: x * dr.grad(lambda y: x + y)(1.0))(1.0)),
        "`np.sin(x)` (plain NumPy) on a traced x: d/dx at 0": lambda: round(float(dr.grad(lambda x: np.sin(x))(0.0)), 6),
        "`while x < 10: x = 2 * x` at x = 3: d/dx (4 is right)": control_flow,
        "`jvp` through a custom VJP rule for sin: d/dx at 0": custom_vjp_fwd,
        "`grad` with argnums=(0, 1): number of gradients": lambda: len(dr.grad(lambda a, b: a * b, (0, 1))(2.0, 3.0)),
        "dtype of the gradient at a float64 input": lambda: str(np.asarray(dr.grad(lambda x: x * x)(np.float64(1.0))).dtype),
        "dtype of the gradient at a float32 input": lambda: str(np.asarray(dr.grad(lambda x: x * x)(np.float32(1.0))).dtype),
        "`x[0] = 2.0` inside `grad`: gradient of sum(x)": lambda: _setitem(dr.grad, dnp),
        "`vmap(grad(f))` over a (3, 2) batch: shape": lambda: dr.vmap(dr.grad(lambda x: dnp.sum(x ** 2)))(np.ones((3, 2))).shape,
    }


def _setitem(grad, xnp):
    def f(x):
        x[0] = 2.0
        return xnp.sum(x)
    return grad(f)(np.ones(2)).tolist()


def jax_probes():
    import jax
    import jax.numpy as jnp


    def custom_vjp_fwd():
        @jax.custom_vjp
        def f(x):
            return jnp.sin(x)

        f.defvjp(lambda x: (jnp.sin(x), x), lambda x, ct: (ct * jnp.cos(x),))
        return round(float(jax.jvp(f, (0.0,), (1.0,))[1]), 6)

    def control_flow():
        def f(x):
            while x < 10.0:
                x = x * 2.0
            return x
        return float(jax.grad(f)(3.0))

    def setitem():
        def f(x):
            x[0] = 2.0
            return jnp.sum(x)
        return jax.grad(f)(jnp.ones(2)).tolist()

    probes = {
        "nested: d/dx [x · d/dy (x + y)] at x = 1 (1 is right)": lambda: float(jax.grad(lambda x: x * jax.grad(lambda y: x + y)(1.0))(1.0)),
        "`np.sin(x)` (plain NumPy) on a traced x: d/dx at 0": lambda: round(float(jax.grad(lambda x: np.sin(x))(0.0)), 6),
        "`while x < 10: x = 2 * x` at x = 3: d/dx (4 is right)": control_flow,
        "`jvp` through a custom VJP rule for sin: d/dx at 0": custom_vjp_fwd,
        "`grad` with argnums=(0, 1): number of gradients": lambda: len(jax.grad(lambda a, b: a * b, (0, 1))(2.0, 3.0)),
        "dtype of the gradient at a float64 input": lambda: str(jax.grad(lambda x: x * x)(np.float64(1.0)).dtype),
        "dtype of the gradient at a float32 input": lambda: str(jax.grad(lambda x: x * x)(np.float32(1.0)).dtype),
        "`x[0] = 2.0` inside `grad`: gradient of sum(x)": setitem,
        "`vmap(grad(f))` over a (3, 2) batch: shape": lambda: jax.vmap(jax.grad(lambda x: jnp.sum(x ** 2)))(jnp.ones((3, 2))).shape,
    }

    def default_precision(fn):
        def probe():
            with jax.enable_x64(False):  # JAX's default, whatever the caller (a test session) has set
                return fn()
        return probe

    return {name: default_precision(fn) for name, fn in probes.items()}


def autograd_probes():
    import autograd
    import autograd.numpy as anp
    from autograd.extend import defvjp, primitive

    def custom_vjp_fwd():
        @primitive
        def f(x):
            return anp.sin(x)

        defvjp(f, lambda ans, x: lambda ct: ct * anp.cos(x))
        return round(float(autograd.make_jvp(f)(0.0)(1.0)[1]), 6)

    def control_flow():
        def f(x):
            while x < 10.0:
                x = x * 2.0
            return x
        return float(autograd.grad(f)(3.0))

    return {
        "nested: d/dx [x · d/dy (x + y)] at x = 1 (1 is right)": lambda: float(autograd.grad(lambda x: x * autograd.grad(lambda y: x + y)(1.0))(1.0)),
        "`np.sin(x)` (plain NumPy) on a traced x: d/dx at 0": lambda: round(float(autograd.grad(lambda x: np.sin(x))(0.0)), 6),
        "`while x < 10: x = 2 * x` at x = 3: d/dx (4 is right)": control_flow,
        "`jvp` through a custom VJP rule for sin: d/dx at 0": custom_vjp_fwd,
        "`grad` with argnums=(0, 1): number of gradients": lambda: len(autograd.grad(lambda a, b: a * b, (0, 1))(2.0, 3.0)),
        "dtype of the gradient at a float64 input": lambda: str(np.asarray(autograd.grad(lambda x: x * x)(np.float64(1.0))).dtype),
        "dtype of the gradient at a float32 input": lambda: str(np.asarray(autograd.grad(lambda x: x * x)(np.float32(1.0))).dtype),
        "`x[0] = 2.0` inside `grad`: gradient of sum(x)": lambda: _setitem(autograd.grad, anp),
        "`vmap(grad(f))` over a (3, 2) batch: shape": lambda: "no vmap" if not hasattr(autograd, "vmap") else "has vmap",
    }


def torch_probes():
    import torch
    from torch import func

    def custom_vjp_fwd():
        class Sin(torch.autograd.Function):
            @staticmethod
            def forward(x):
                return torch.sin(x)

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])

            @staticmethod
            def backward(ctx, ct):
                (x,) = ctx.saved_tensors
                return ct * torch.cos(x)

        x = torch.tensor(0.0, dtype=torch.float64)
        return round(float(func.jvp(Sin.apply, (x,), (torch.ones_like(x),))[1]), 6)

    def control_flow():
        def f(x):
            while x < 10.0:
                x = x * 2.0
            return x
        return float(func.grad(f)(torch.tensor(3.0, dtype=torch.float64)))

    def setitem():
        def f(x):
            x = x.clone()
            x[0] = 2.0
            return torch.sum(x)
        return func.grad(f)(torch.ones(2, dtype=torch.float64)).tolist()

    t64 = lambda v: torch.tensor(v, dtype=torch.float64)
    return {
        "nested: d/dx [x · d/dy (x + y)] at x = 1 (1 is right)": lambda: float(func.grad(lambda x: x * func.grad(lambda y: x + y)(t64(1.0)))(t64(1.0))),
        "`np.sin(x)` (plain NumPy) on a traced x: d/dx at 0": lambda: round(float(func.grad(lambda x: np.sin(x))(t64(0.0))), 6),
        "`while x < 10: x = 2 * x` at x = 3: d/dx (4 is right)": control_flow,
        "`jvp` through a custom VJP rule for sin: d/dx at 0": custom_vjp_fwd,
        "`grad` with argnums=(0, 1): number of gradients": lambda: len(func.grad(lambda a, b: a * b, (0, 1))(t64(2.0), t64(3.0))),
        "dtype of the gradient at a float64 input": lambda: str(func.grad(lambda x: x * x)(t64(1.0)).dtype),
        "dtype of the gradient at a float32 input": lambda: str(func.grad(lambda x: x * x)(torch.tensor(1.0)).dtype),
        "`x[0] = 2.0` inside `grad`: gradient of sum(x)": setitem,
        "`vmap(grad(f))` over a (3, 2) batch: shape": lambda: tuple(func.vmap(func.grad(lambda x: torch.sum(x ** 2)))(torch.ones(3, 2)).shape),
    }


LIBRARIES = {"dualrev": dualrev_probes, "JAX": jax_probes, "autograd": autograd_probes, "torch.func": torch_probes}


def run(names=tuple(LIBRARIES)) -> dict[str, dict[str, object]]:
    """{library: {probe: outcome}} for the libraries ``names`` (an uninstalled one: every outcome 'not installed')."""
    results = {}
    for name in names:
        try:
            probes = LIBRARIES[name]()
        except ImportError:
            results[name] = None
            continue
        results[name] = {probe: _outcome(fn) for probe, fn in probes.items()}
    return results


def versions() -> dict[str, str]:
    out = {}
    for lib, module in (("JAX", "jax"), ("autograd", "autograd"), ("torch.func", "torch")):
        try:
            from importlib.metadata import version
            out[lib] = version(module)
        except Exception:
            out[lib] = "not installed"
    return out


def main():
    results = run()
    names = list(results)
    probes = next(r for r in results.values() if r is not None)
    print("| behaviour | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for probe in probes:
        cells = ["not installed" if results[n] is None else str(results[n][probe]) for n in names]
        print(f"| {probe} | " + " | ".join(cells) + " |")
    print("\nversions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + f", NumPy {np.__version__}")


if __name__ == "__main__":
    main()
