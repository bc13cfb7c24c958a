"""dualrev.integrate.solve_ivp measured against its anchors (the tables of docs/integrate.md):

1. accuracy and nfev against scipy.integrate.solve_ivp, same method and tolerances (Lotka-Volterra on [0, 15]);
2. gradients of a loss against central differences of scipy's solution (rtol 1e-12), and the two modes
   (discretise-then-optimise, adjoint) against each other;
3. peak memory (tracemalloc) of a gradient through 10^2, 10^3, 10^4 fixed steps, in both modes;
4. time of the gradient of a loss through a ~1000-step Lotka-Volterra solve: dualrev (both modes) against JAX's
   odeint (eager and jit), torchdiffeq (backprop and adjoint) and finite differences with scipy.

Process CPU time; the timed rows run interleaved (one call of each per round, after a warm-up call), and the table
gives each one's median over the rounds; every library pinned to one thread.

    python benchmarks/integrate.py            # everything
    python benchmarks/integrate.py --quick    # 10^2 and 10^3 steps only, one repeat
    python benchmarks/integrate.py --only timing
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import time
import tracemalloc

import numpy as np
import scipy.integrate as si

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.integrate import solve_ivp

P = np.array([1.5, 1.0, 3.0, 1.0])
Z0 = np.array([10.0, 5.0])


def lotka_volterra(t, z, a, b, c, d):
    x, y = z[0], z[1]
    return dnp.stack([a * x - b * x * y, -c * y + d * x * y])


def interleaved_medians(fns, rounds):
    """The median CPU time of each function over ``rounds`` rounds, each round calling every function once (so
    that a busy spell of a shared machine falls on all of them alike)."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            start = time.process_time()
            fn()
            times[k].append(time.process_time() - start)
    return [float(np.median(t)) for t in times]


def accuracy_and_nfev():
    print("\n## 1. Accuracy and nfev against scipy.integrate.solve_ivp (Lotka-Volterra, t in [0, 15])\n")
    ref = si.solve_ivp(lotka_volterra, (0, 15), Z0, args=tuple(P), method="DOP853", rtol=1e-13, atol=1e-13,
                       dense_output=True)
    t_eval = np.linspace(0, 15, 151)
    exact = ref.sol(t_eval)
    print("| method | rtol | nfev scipy | nfev dualrev | max |y - y_scipy| | error scipy | error dualrev |")
    print("|---|---|---|---|---|---|---|")
    for method in ("RK45", "DOP853"):
        for rtol in (1e-3, 1e-6, 1e-9):
            kw = {"method": method, "rtol": rtol, "atol": rtol * 1e-3, "t_eval": t_eval, "args": tuple(P)}
            theirs = si.solve_ivp(lotka_volterra, (0, 15), Z0, **kw)
            ours = solve_ivp(lotka_volterra, (0, 15), Z0, **kw)
            print(f"| {method} | {rtol:.0e} | {theirs.nfev} | {ours.nfev} | {np.abs(ours.y - theirs.y).max():.1e} "
                  f"| {np.abs(theirs.y - exact).max():.2e} | {np.abs(ours.y - exact).max():.2e} |")


def loss_of(p, adjoint=False, rtol=1e-10, t_end=5.0):
    sol = solve_ivp(lotka_volterra, (0.0, t_end), Z0, args=tuple(p), t_eval=np.linspace(0, t_end, 11), rtol=rtol,
                    atol=rtol, adjoint=adjoint)
    return dnp.sum(sol.y ** 2) / 100


def scipy_loss(p, rtol=1e-12, t_end=5.0):
    sol = si.solve_ivp(lotka_volterra, (0.0, t_end), Z0, args=tuple(p), t_eval=np.linspace(0, t_end, 11),
                       method="DOP853", rtol=rtol, atol=rtol)
    return np.sum(sol.y ** 2) / 100


def gradients():
    print("\n## 2. Gradients: against central differences of scipy (DOP853, rtol 1e-12), and mode against mode\n")
    fd = np.array([(scipy_loss(P + 1e-6 * e) - scipy_loss(P - 1e-6 * e)) / 2e-6 for e in np.eye(4)])
    print("| rtol | max rel. diff., discretise vs FD | adjoint vs FD | discretise vs adjoint |")
    print("|---|---|---|---|")
    for rtol in (1e-6, 1e-8, 1e-10):
        g_dto = dr.grad(lambda p, rtol=rtol: loss_of(p, rtol=rtol))(P)
        g_adj = dr.grad(lambda p, rtol=rtol: loss_of(p, adjoint=True, rtol=rtol))(P)

        def rel(a, b):
            return np.abs(a - b).max() / np.abs(b).max()

        print(f"| {rtol:.0e} | {rel(g_dto, fd):.1e} | {rel(g_adj, fd):.1e} | {rel(g_dto, g_adj):.1e} |")


def memory(step_counts):
    print("\n## 3. Peak memory of one gradient (tracemalloc), fixed steps, Lotka-Volterra on [0, 10]\n")
    print("| steps | discretise-then-optimise (compiled replay) | discretise, jit=False, checkpointed (64) "
          "| discretise, jit=False, no checkpoint | adjoint |")
    print("|---|---|---|---|---|")
    for n in step_counts:
        h = 10.0 / n
        # Loose tolerances accept every step at max_step: exactly n steps of size h.
        fixed = {"rtol": 1e3, "atol": 1e3, "first_step": h, "max_step": h, "t_eval": [10.0]}

        def loss(p, fixed=fixed, **kw):
            return dnp.sum(solve_ivp(lotka_volterra, (0.0, 10.0), Z0, args=tuple(p), **fixed, **kw).y)

        peaks = []
        for kw in ({}, {"jit": False}, {"jit": False, "checkpoint_every": 0}, {"adjoint": True}):
            if n > 1000 and kw.get("checkpoint_every") == 0:
                peaks.append(None)
                continue
            tracemalloc.start()
            dr.grad(lambda p, kw=kw: loss(p, **kw))(P)
            peaks.append(tracemalloc.get_traced_memory()[1] / 2 ** 20)
            tracemalloc.stop()
        print(f"| {n} | " + " | ".join("-" if p is None else f"{p:.2f} MiB" for p in peaks) + " |")


def timing(repeats):
    print("\n## 4. Gradient of a loss through a Lotka-Volterra solve with about 1000 steps (dopri5, t in [0, 60])\n")
    t_end, rtol = 60.0, 1e-7
    t_eval = np.linspace(0.0, t_end, 50)
    steps = len(si.solve_ivp(lotka_volterra, (0, t_end), Z0, args=tuple(P), rtol=rtol, atol=rtol).t) - 1
    print(f"scipy RK45 takes {steps} steps at rtol = atol = {rtol}.\n")

    def ours(adjoint, jit=True):
        def loss(p):
            sol = solve_ivp(lotka_volterra, (0.0, t_end), Z0, args=tuple(p), t_eval=t_eval, rtol=rtol, atol=rtol,
                            adjoint=adjoint, jit=jit)
            return dnp.sum(sol.y ** 2) / 1000

        return lambda: dr.grad(loss)(P)

    def solve_only():
        solve_ivp(lotka_volterra, (0.0, t_end), Z0, args=tuple(P), t_eval=t_eval, rtol=rtol, atol=rtol)
        return np.full(4, np.nan)

    rows = [("dualrev, discretise-then-optimise", ours(False)), ("dualrev, adjoint", ours(True)),
            ("dualrev, discretise-then-optimise, jit=False", ours(False, jit=False)),
            ("dualrev, adjoint, jit=False", ours(True, jit=False)),
            ("(dualrev, the solve alone, no gradient)", solve_only)]

    def lotka_volterra_numpy(t, z, a, b, c, d):  # what a scipy user writes
        x, y = z
        return np.array([a * x - b * x * y, -c * y + d * x * y])

    def scipy_fd(fun):
        def loss(p):
            sol = si.solve_ivp(fun, (0.0, t_end), Z0, args=tuple(p), t_eval=t_eval, rtol=rtol, atol=rtol)
            return np.sum(sol.y ** 2) / 1000

        def fd():
            base = loss(P)
            return np.array([(loss(P + 1e-7 * e) - base) / 1e-7 for e in np.eye(4)])

        return fd

    rows.append(("scipy solve_ivp, forward differences (5 solves), NumPy fun", scipy_fd(lotka_volterra_numpy)))
    rows.append(("scipy solve_ivp, forward differences (5 solves), the dualrev.numpy fun",
                 scipy_fd(lotka_volterra)))
    try:
        import jax
        import jax.numpy as jnp
        from jax.experimental.ode import odeint

        jax.config.update("jax_enable_x64", True)

        def jax_loss(p):
            def rhs(z, t, p):
                return jnp.stack([p[0] * z[0] - p[1] * z[0] * z[1], -p[2] * z[1] + p[3] * z[0] * z[1]])

            ys = odeint(rhs, jnp.asarray(Z0), jnp.asarray(t_eval), p, rtol=rtol, atol=rtol)
            return jnp.sum(ys ** 2) / 1000

        jax_grad = jax.grad(jax_loss)
        jit_grad = jax.jit(jax_grad)
        jit_grad(P).block_until_ready()  # compile once
        rows.append(("JAX odeint (adjoint), eager", lambda: jax_grad(P).block_until_ready()))
        rows.append(("JAX odeint (adjoint), jit (compiled)", lambda: jit_grad(P).block_until_ready()))
    except ImportError:
        print("JAX is not installed: skipped")
    try:
        import torch
        import torchdiffeq

        torch.set_num_threads(1)

        class LV(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.p = torch.nn.Parameter(torch.tensor(P, dtype=torch.float64))

            def forward(self, t, z):
                a, b, c, d = self.p
                return torch.stack([a * z[0] - b * z[0] * z[1], -c * z[1] + d * z[0] * z[1]])

        def torch_grad(solver):
            def run():
                f = LV()
                ys = solver(f, torch.tensor(Z0), torch.tensor(t_eval), rtol=rtol, atol=rtol, method="dopri5")
                (ys ** 2).sum().div(1000).backward()
                return f.p.grad

            return run

        rows.append(("torchdiffeq odeint (backprop through the solver)", torch_grad(torchdiffeq.odeint)))
        rows.append(("torchdiffeq odeint_adjoint", torch_grad(torchdiffeq.odeint_adjoint)))
    except ImportError:
        print("torchdiffeq is not installed: skipped (pip install torchdiffeq)")
    reference = rows[0][1]()
    grads = [np.asarray(fn(), dtype=float) for _, fn in rows]  # also the warm-up call of each
    seconds = interleaved_medians([fn for _, fn in rows], repeats)
    print(f"Median of {repeats} interleaved rounds.\n")
    print("| gradient by | seconds | max rel. diff. to dualrev (discretise) |")
    print("|---|---|---|")
    for (name, _), g, sec in zip(rows, grads, seconds):
        diff = "-" if np.isnan(g).all() else f"{np.abs(g - reference).max() / np.abs(reference).max():.1e}"
        print(f"| {name} | {sec:.3f} | {diff} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^2 and 10^3 steps only, one repeat")
    parser.add_argument("--only", choices=["accuracy", "gradients", "memory", "timing"], help="one section")
    args = parser.parse_args()
    if args.only in (None, "accuracy"):
        accuracy_and_nfev()
    if args.only in (None, "gradients"):
        gradients()
    if args.only in (None, "memory"):
        memory([100, 1000] if args.quick else [100, 1000, 10000])
    if args.only in (None, "timing"):
        timing(1 if args.quick else 5)


if __name__ == "__main__":
    main()
