"""The benchmark suite: dualrev beside hand-written NumPy, autograd, JAX (eager and jit) and torch, in one run.

Every workload is computed by each library, checked against the reference (the hand-written NumPy derivative,
or scipy's) before anything is timed, then timed with the cases of a workload interleaved: warm-up, an
auto-chosen number of calls per repeat, the median repeat. All libraries run in float64 on one thread (BLAS,
torch and XLA are pinned before they are imported). The tables give the time per call, the ratio
dualrev / each peer, and the issue's targets as met/MISSED. A peer that is not installed is skipped with a note.

    python benchmarks/suite.py                  # the full suite, a few minutes
    python benchmarks/suite.py --quick          # well under a minute, noisier
    python benchmarks/suite.py --only rosen_hessian,jacobian
    python benchmarks/suite.py --markdown docs/benchmarks.md
"""

import os

# Pin every thread pool before NumPy, torch or JAX is imported: one core each, so the ratios compare the
# libraries rather than how many cores each grabs on a shared machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import importlib.metadata
import itertools
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, os.pardir))

from _timing import CLOCKS, assert_close, fmt_time, machine_info, measure
from scalar_chain import N_BLOCKS, N_OPS, X0, make_chain

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import nn

LIBS = ("numpy", "dualrev", "autograd", "jax eager", "jax jit", "torch")
LIBS = LIBS[:2] + ("dualrev jit",) + LIBS[2:]  # dr.jit of the same dualrev function (compile time in the notes)
WORKLOADS = ("scalar_chain", "mlp_grad", "big_mlp_grad", "rosen_hessian", "rosen_hvp", "jacobian",
             "per_example_grads")


# -- the peers, each optional --


class Peers:
    """The optional libraries, imported once: ``self.autograd``, ``self.jax``, ``self.torch`` (None when
    missing or disabled) and a note per missing one."""

    def __init__(self, skip=()):
        self.notes, self.versions = [], {"numpy": np.__version__, "dualrev": dr.__version__}
        self.autograd = self.jax = self.torch = None
        if "autograd" not in skip:
            try:
                import autograd
                import autograd.numpy as anp
                import autograd.scipy.special as asp

                self.autograd, self.anp, self.asp = autograd, anp, asp
                self.versions["autograd"] = importlib.metadata.version("autograd")
            except ImportError:
                self.notes.append("autograd is not installed (pip install '.[bench]'): its column is skipped")
        if "jax" not in skip:
            try:
                import jax

                jax.config.update("jax_enable_x64", True)
                jax.config.update("jax_platforms", "cpu")
                import jax.numpy as jnp

                self.jax, self.jnp = jax, jnp
                self.versions["jax"] = jax.__version__
            except ImportError:
                self.notes.append("jax is not installed: the jax eager and jax jit columns are skipped")
        if "torch" not in skip:
            try:
                import torch
                import torch.func

                torch.set_num_threads(1)
                try:
                    torch.set_num_interop_threads(1)
                except RuntimeError:  # already set, or parallel work already started
                    pass
                self.torch = torch
                self.versions["torch"] = torch.__version__
            except ImportError:
                self.notes.append("torch is not installed (pip install '.[bench]'): its column is skipped")

    def t(self, x):
        """A NumPy pytree as float64 torch tensors (integer arrays stay integer)."""
        return _tree_map(lambda a: self.torch.from_numpy(np.array(a, order="C")), x)

    def j(self, x):
        """A NumPy pytree as JAX arrays."""
        return _tree_map(self.jnp.asarray, x)


def _tree_map(f, x):
    if isinstance(x, dict):
        return {k: _tree_map(f, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_tree_map(f, v) for v in x)
    return f(x)


def to_numpy(x):
    """Any library's result pytree as NumPy arrays (torch tensors detached, JAX arrays copied to host)."""
    return _tree_map(lambda a: a.detach().numpy() if hasattr(a, "detach") else np.asarray(a), x)


def _stack(trees):
    """A list of equal-structure pytrees as one pytree of stacked arrays (leading axis: the list)."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: _stack([t[k] for t in trees]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_stack([t[i] for t in trees]) for i in range(len(first)))
    return np.stack([to_numpy(t) for t in trees])


# -- a workload: one row of the table --


class Row:
    """One row of the table: a case per library, each checked against ``reference`` before it is timed.

    ``unit`` is how the row is printed ('us' or 'ms'); ``per`` divides the time (200 for per-operation rows).
    ``extras`` are timed with the row but shown only in its notes (the NumPy forward pass, say).
    """

    def __init__(self, name, unit, reference, rtol=1e-10, per=1, label=None):
        self.name, self.unit, self.reference, self.rtol, self.per = name, unit, reference, rtol, per
        self.label = label or f"{name} [{unit}{'/op' if per != 1 else ''}]"
        self.cases, self.extras, self.skipped, self.notes, self.checked = {}, {}, {}, [], []
        self.times, self.numbers = {}, {}

    def add(self, lib, fn, extra=False, check=True):
        """Keep ``fn`` for checking and timing (``check=False``: timed only, for a forward pass)."""
        (self.extras if extra else self.cases)[lib] = fn
        if check:
            self.checked.append(lib)

    def check(self):
        """Run every checked case once, after all are built, and compare it with the reference: what is timed
        is what was checked (a closure that picked up the wrong variable fails here)."""
        every = {**self.cases, **self.extras}
        for lib in self.checked:
            assert_close(f"{self.name}: {lib}", to_numpy(every[lib]()), self.reference, self.rtol)

    def skip(self, lib, why):
        self.skipped[lib] = why

    def run(self, repeats, target, clock, warmup):
        cases = list(self.cases.items()) + list(self.extras.items())
        times, numbers = measure(cases, repeats, target, clock, warmup)
        self.times = {k: v / self.per for k, v in times.items()}
        self.numbers = numbers


def _add_jit(row, fun, *args):
    """The "dualrev jit" case: ``dr.jit(fun)`` on ``args``; its first call (trace, passes, code generation and
    compile) is timed once here, beside one eager call, and reported in the row's notes."""
    jitted = dr.jit(fun)
    t0 = time.perf_counter()
    jitted(*args)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fun(*args)
    eager = time.perf_counter() - t0
    row.jit_first = (first, eager)
    row.notes.append(f"dualrev jit: first call (trace + compile) {first * 1e3:.1f} ms = {first / eager:.1f} x one "
                     f"eager call ({eager * 1e3:.2f} ms)")
    row.add("dualrev jit", lambda: jitted(*args))


def _jax_call(peers, f, *args):
    """A JAX call that waits for its result (JAX dispatches asynchronously)."""
    return lambda: peers.jax.block_until_ready(f(*args))


# -- scalar_chain: grad of 200 scalar operations (the chain of benchmarks/scalar_chain.py) --


def chain_grad_numpy(x):
    """d chain / dx by hand: each block maps x to x + (exp(tanh(sin(x) x) / 2) - sin(x)) / 8, so the derivative
    is the product over blocks of 1 + (e (1 - t^2) (cos(x) x + sin(x)) / 2 - cos(x)) / 8."""
    g = 1.0
    for _ in range(N_BLOCKS):
        s, c = np.sin(x), np.cos(x)
        t = np.tanh(s * x)
        e = np.exp(t * 0.5)
        g = g * (1.0 + (e * 0.5 * (1.0 - t * t) * (c * x + s) - c) / 8.0)
        x = x + (e - s) / 8.0
    return g


def scalar_chain(peers, opts):
    x = np.asarray(X0, dtype=np.float64)
    assert len(dr.make_graph(make_chain(dnp))(x).equations) == N_OPS
    g_dr = dr.grad(make_chain(dnp))
    ref = float(chain_grad_numpy(x))
    row = Row("scalar_chain", "us", ref, rtol=1e-12, per=N_OPS)
    row.add("numpy", lambda: chain_grad_numpy(x))
    row.add("numpy forward", lambda: make_chain(np)(x), extra=True, check=False)
    row.add("dualrev", lambda: g_dr(x))
    _add_jit(row, g_dr, x)
    if peers.autograd:
        g_ag = peers.autograd.grad(make_chain(peers.anp))
        row.add("autograd", lambda: g_ag(x))
    if peers.jax:
        g_j = peers.jax.grad(make_chain(peers.jnp))
        jx = peers.jnp.asarray(x)
        row.add("jax eager", _jax_call(peers, g_j, jx))
        row.add("jax jit", _jax_call(peers, peers.jax.jit(g_j), jx))
    if peers.torch:
        torch = peers.torch
        chain_t = make_chain(torch)
        g_t = torch.func.grad(chain_t)
        tx = peers.t(x)
        row.add("torch", lambda: g_t(tx))

        def torch_autograd():  # the tape API most torch code uses, often faster than torch.func
            leaf = tx.detach().requires_grad_()
            return torch.autograd.grad(chain_t(leaf), leaf)[0]

        row.add("torch autograd", torch_autograd, extra=True)
    row.notes.append("numpy = the derivative written by hand (a product of per-block factors)")
    return [row]


# -- mlp_grad and big_mlp_grad: tanh MLP, softmax cross-entropy --


def mlp_problem(sizes, batch, seed=0):
    """Parameters (a list of {'W', 'b'} per layer), inputs X in [0, 1) and integer labels y."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        lim = np.sqrt(6.0 / (n_in + n_out))  # Glorot uniform: tanh stays off its flat tails
        params.append({"W": rng.uniform(-lim, lim, (n_in, n_out)), "b": rng.uniform(-0.1, 0.1, n_out)})
    X = rng.uniform(0.0, 1.0, (batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    return params, X, y


def mlp_loss_numpy(params, X, y):
    """The forward pass alone: mean softmax cross-entropy of the tanh MLP."""
    h = X
    for p in params[:-1]:
        h = np.tanh(h @ p["W"] + p["b"])
    z = h @ params[-1]["W"] + params[-1]["b"]
    m = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    return np.mean(lse - z[np.arange(len(y)), y])


def mlp_value_and_grad_numpy(params, X, y):
    """Loss and gradient by hand: dZ_L = (softmax(Z_L) - Y) / N, dW_i = H_i^T dZ_i, db_i = sum(dZ_i),
    dZ_{i-1} = (dZ_i W_i^T) * (1 - H_i^2) where H_i = tanh(Z_{i-1}) is layer i's input."""
    hs = [X]
    for p in params[:-1]:
        hs.append(np.tanh(hs[-1] @ p["W"] + p["b"]))
    z = hs[-1] @ params[-1]["W"] + params[-1]["b"]
    n, rows = len(y), np.arange(len(y))
    s = z - z.max(axis=1, keepdims=True)
    e = np.exp(s)
    se = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(se[:, 0]) - s[rows, y])
    dz = e / se
    dz[rows, y] -= 1.0
    dz /= n
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        h = hs[i]
        grads[i] = {"W": h.T @ dz, "b": dz.sum(axis=0)}
        if i:
            dz = (dz @ params[i]["W"].T) * (1.0 - h * h)
    return loss, grads


def mlp_loss_dualrev(params, X, y):
    h = X
    for p in params[:-1]:
        h = nn.tanh(nn.linear(h, p["W"], p["b"]))
    return nn.cross_entropy(nn.linear(h, params[-1]["W"], params[-1]["b"]), y)


def make_mlp_loss(m, logsumexp):
    """The same loss in a NumPy-like module with one-hot targets Y (autograd, JAX)."""

    def loss(params, X, Y):
        h = X
        for p in params[:-1]:
            h = m.tanh(h @ p["W"] + p["b"])
        z = h @ params[-1]["W"] + params[-1]["b"]
        return m.mean(logsumexp(z, axis=1) - m.sum(Y * z, axis=1))

    return loss


def make_mlp_loss_torch(torch):
    def loss(params, X, y):
        h = X
        for p in params[:-1]:
            h = torch.tanh(h @ p["W"] + p["b"])
        return torch.nn.functional.cross_entropy(h @ params[-1]["W"] + params[-1]["b"], y)

    return loss


def _mlp_row(peers, name, sizes, batch):
    params, X, y = mlp_problem(sizes, batch)
    Y = np.eye(sizes[-1])[y]
    ref = mlp_value_and_grad_numpy(params, X, y)
    row = Row(name, "ms", ref)
    row.add("numpy", lambda: mlp_value_and_grad_numpy(params, X, y))
    row.add("numpy forward", lambda: mlp_loss_numpy(params, X, y), extra=True, check=False)
    vg = dr.value_and_grad(mlp_loss_dualrev)
    row.add("dualrev", lambda: vg(params, X, y))
    _add_jit(row, vg, params, X, y)
    if peers.autograd:
        vg_ag = peers.autograd.value_and_grad(make_mlp_loss(peers.anp, peers.asp.logsumexp))
        row.add("autograd", lambda: vg_ag(params, X, Y))
    if peers.jax:
        vg_j = peers.jax.value_and_grad(make_mlp_loss(peers.jnp, peers.jax.nn.logsumexp))
        args = peers.j((params, X, Y))
        row.add("jax eager", _jax_call(peers, vg_j, *args))
        row.add("jax jit", _jax_call(peers, peers.jax.jit(vg_j), *args))
    if peers.torch:
        torch = peers.torch
        vg_t = torch.func.grad_and_value(make_mlp_loss_torch(torch))
        tp, tX, ty = peers.t((params, X, y))

        def torch_vg():
            g, v = vg_t(tp, tX, ty)
            return v, g

        row.add("torch", torch_vg)
        loss_t = make_mlp_loss_torch(torch)

        def torch_autograd():
            leaves = [{k: v.detach().requires_grad_() for k, v in p.items()} for p in tp]
            loss = loss_t(leaves, tX, ty)
            flat = [v for p in leaves for v in p.values()]
            gs = iter(torch.autograd.grad(loss, flat))
            return loss.detach(), [{k: next(gs) for k in p} for p in leaves]

        row.add("torch autograd", torch_autograd, extra=True)
    row.notes.append(f"{'-'.join(map(str, sizes))} tanh MLP, softmax cross-entropy, batch {batch}; every case "
                     "returns the loss and the gradient")
    return row


def mlp_grad(peers, opts):
    return [_mlp_row(peers, "mlp_grad", (64, 128, 10), 256)]


def big_mlp_grad(peers, opts):
    return [_mlp_row(peers, "big_mlp_grad", (784, 1024, 1024, 10), 512)]


# -- rosen_hessian and rosen_hvp --


def make_rosen(m):
    def rosen(x):
        return m.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return rosen


def rosen_hessian(peers, opts, sizes=(50, 200)):
    from scipy.optimize import rosen_hess

    rows = []
    for n in sizes:
        x = np.random.default_rng(n).uniform(-1.5, 1.5, n)
        row = Row(f"rosen_hessian n={n}", "ms", rosen_hess(x))
        row.add("numpy", lambda x=x: rosen_hess(x))
        h = dr.hessian(make_rosen(dnp))
        row.add("dualrev", lambda h=h, x=x: h(x))
        _add_jit(row, h, x)
        if peers.autograd:
            h = peers.autograd.hessian(make_rosen(peers.anp))
            row.add("autograd", lambda h=h, x=x: h(x))
        if peers.jax:
            h, jx = peers.jax.hessian(make_rosen(peers.jnp)), peers.jnp.asarray(x)
            row.add("jax eager", _jax_call(peers, h, jx))
            row.add("jax jit", _jax_call(peers, peers.jax.jit(h), jx))
        if peers.torch:
            h, tx = peers.torch.func.hessian(make_rosen(peers.torch)), peers.t(x)
            row.add("torch", lambda h=h, tx=tx: h(tx))
        rows.append(row)
    rows[0].notes.append("numpy = scipy.optimize.rosen_hess (written by hand), also the reference")
    return rows


def rosen_hvp(peers, opts, n=10000):
    from scipy.optimize import rosen_hess_prod

    rng = np.random.default_rng(n)
    x, v = rng.uniform(-1.5, 1.5, n), rng.normal(size=n)
    row = Row(f"rosen_hvp n={n}", "ms", rosen_hess_prod(x, v))
    row.add("numpy", lambda: rosen_hess_prod(x, v))
    rosen = make_rosen(dnp)
    row.add("dualrev", lambda: dr.hvp(rosen, (x,), (v,)))
    _add_jit(row, lambda x, v: dr.hvp(rosen, (x,), (v,)), x, v)
    if peers.autograd:
        hvp = peers.autograd.hessian_vector_product(make_rosen(peers.anp))
        row.add("autograd", lambda: hvp(x, v))
    if peers.jax:
        jax = peers.jax
        g_j = jax.grad(make_rosen(peers.jnp))

        def hvp_j(x, v):
            return jax.jvp(g_j, (x,), (v,))[1]

        jx, jv = peers.j((x, v))
        row.add("jax eager", _jax_call(peers, hvp_j, jx, jv))
        row.add("jax jit", _jax_call(peers, jax.jit(hvp_j), jx, jv))
    if peers.torch:
        tf = peers.torch.func
        g_t = tf.grad(make_rosen(peers.torch))
        tx, tv = peers.t((x, v))
        row.add("torch", lambda: tf.jvp(g_t, (tx,), (tv,))[1])
    row.notes.append("numpy = scipy.optimize.rosen_hess_prod; dualrev, JAX and torch run forward over reverse, "
                     "autograd reverse over reverse")
    return [row]


# -- jacobian of tanh(A x), forward and reverse --


def jacobian(peers, opts, n=100):
    rng = np.random.default_rng(n)
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    x = rng.normal(size=n)

    def jac_numpy(x):
        t = np.tanh(A @ x)
        return (1.0 - t * t)[:, None] * A

    ref = jac_numpy(x)
    if peers.jax:
        jA, jx = peers.j((A, x))
    if peers.torch:
        tA, tx = peers.t((A, x))
    rows = []
    for mode in ("jacfwd", "jacrev"):
        row = Row(f"{mode} tanh(Ax) n={n}", "ms", ref)
        row.add("numpy", lambda: jac_numpy(x))
        j = getattr(dr, mode)(lambda x: dnp.tanh(A @ x))
        row.add("dualrev", lambda j=j: j(x))
        _add_jit(row, j, x)
        if peers.autograd:
            if mode == "jacrev":
                j = peers.autograd.jacobian(lambda x: peers.anp.tanh(peers.anp.dot(A, x)))
                row.add("autograd", lambda j=j: j(x))
            else:
                row.skip("autograd", "autograd has no forward-mode Jacobian")
        if peers.jax:
            j = getattr(peers.jax, mode)(lambda x: peers.jnp.tanh(jA @ x))
            row.add("jax eager", _jax_call(peers, j, jx))
            row.add("jax jit", _jax_call(peers, peers.jax.jit(j), jx))
        if peers.torch:
            j = getattr(peers.torch.func, mode)(lambda x: peers.torch.tanh(tA @ x))
            row.add("torch", lambda j=j: j(tx))
        rows.append(row)
    rows[0].notes.append("numpy = (1 - tanh(Ax)^2)[:, None] * A")
    return rows


# -- per_example_grads: 256 gradients of the 64-128-10 MLP, vmap against a Python loop --


def make_example_loss(m):
    """The loss of one example (x of shape (64,), one-hot y of shape (10,)), written once for every module
    with a NumPy-like namespace (dualrev.numpy, autograd.numpy, jax.numpy, torch). The logits of this network
    stay small, so logsumexp needs no max shift."""

    def loss(params, x, y):
        h = m.tanh(x @ params[0]["W"] + params[0]["b"])
        z = h @ params[1]["W"] + params[1]["b"]
        return m.log(m.sum(m.exp(z))) - m.sum(y * z)

    return loss


def example_grads_numpy(params, X, Y):
    """All per-example gradients at once, by hand: the batched backward pass without the mean, and outer
    products per example for the weights."""
    (W1, b1), (W2, b2) = (params[0]["W"], params[0]["b"]), (params[1]["W"], params[1]["b"])
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    dZ = E / E.sum(axis=1, keepdims=True) - Y
    dA = (dZ @ W2.T) * (1.0 - H * H)
    return [{"W": X[:, :, None] * dA[:, None, :], "b": dA}, {"W": H[:, :, None] * dZ[:, None, :], "b": dZ}]


def example_grad_numpy(params, x, y):
    """One example's gradient by hand (the body of the NumPy loop)."""
    g = example_grads_numpy(params, x[None], y[None])
    return [{k: v[0] for k, v in layer.items()} for layer in g]


def per_example_grads(peers, opts, batch=256):
    params, X, y = mlp_problem((64, 128, 10), batch, seed=1)
    Y = np.eye(10)[y]
    ref = example_grads_numpy(params, X, Y)
    vec = Row("per_example_grads vmap", "ms", ref)
    loop = Row("per_example_grads loop", "ms", ref)
    vec.add("numpy", lambda: example_grads_numpy(params, X, Y))
    loop.add("numpy", lambda: _stack([example_grad_numpy(params, X[i], Y[i]) for i in range(batch)]))

    g = dr.grad(make_example_loss(dnp))
    loop.add("dualrev", lambda: _stack([g(params, X[i], Y[i]) for i in range(batch)]))
    if not hasattr(dr, "vmap"):
        vec.skip("dualrev", "dr.vmap does not exist yet")
    else:
        vg = dr.vmap(g, in_axes=(None, 0, 0))
        try:  # vmap is new: a missing batching rule skips the case (a wrong result still fails the check)
            vg(params, X, Y)
        except (NotImplementedError, TypeError, ValueError) as e:
            vec.skip("dualrev", f"dr.vmap(dr.grad(loss)) raised {type(e).__name__}: {e}")
        else:
            vec.add("dualrev", lambda: vg(params, X, Y))
            _add_jit(vec, vg, params, X, Y)
    if peers.autograd:
        g_ag = peers.autograd.grad(make_example_loss(peers.anp))
        loop.add("autograd", lambda: _stack([g_ag(params, X[i], Y[i]) for i in range(batch)]))
        vec.skip("autograd", "autograd has no vmap")
    if peers.jax:
        jax = peers.jax
        g_j = jax.grad(make_example_loss(peers.jnp))
        jp, jX, jY = peers.j((params, X, Y))
        vg_j = jax.vmap(g_j, in_axes=(None, 0, 0))
        vec.add("jax eager", _jax_call(peers, vg_j, jp, jX, jY))
        vec.add("jax jit", _jax_call(peers, jax.jit(vg_j), jp, jX, jY))
        jrows = list(zip(jX, jY))  # slicing a JAX array is itself a dispatch: slice once, outside the loop
        for lib, f in (("jax eager", g_j), ("jax jit", jax.jit(g_j))):
            if lib == "jax eager" and opts.quick:
                loop.skip(lib, "left out of --quick (about a second per call)")
                continue
            loop.add(lib, lambda f=f: _stack([jax.block_until_ready(f(jp, a, b)) for a, b in jrows]))
    if peers.torch:
        tf = peers.torch.func
        g_t = tf.grad(make_example_loss(peers.torch))
        tp, tX, tY = peers.t((params, X, Y))
        vg_t = tf.vmap(g_t, in_dims=(None, 0, 0))
        vec.add("torch", lambda: vg_t(tp, tX, tY))
        trows = list(zip(tX, tY))
        loop.add("torch", lambda: _stack([g_t(tp, a, b) for a, b in trows]))
    vec.notes.append(f"{batch} per-example gradients of the 64-128-10 tanh MLP; vmap row: vmap(grad(loss), "
                     "in_axes=(None, 0, 0)) (numpy: the batched backward pass by hand); loop row: a Python loop "
                     "of grad over the examples, results stacked")
    return [vec, loop]


# -- targets --


def _t(rows, name, lib):
    row = rows.get(name)
    return None if row is None else row.times.get(lib)


def _chain_targets(rows, add, ratio):
    """The two per-operation targets: a quarter of autograd's time, and below torch's (its faster API)."""
    r = ratio("scalar_chain", "dualrev", "autograd")
    add("scalar_chain: per-op time <= 1/4 of autograd's", None if r is None else r <= 0.25,
        "-" if r is None else f"dualrev/autograd = {r:.2f} (<= 0.25)")
    ts = [t for t in (_t(rows, "scalar_chain", "torch"), _t(rows, "scalar_chain", "torch autograd")) if t]
    d = _t(rows, "scalar_chain", "dualrev")
    r = None if not ts or d is None else d / min(ts)
    add("scalar_chain: per-op time below torch's (faster of torch.func and torch.autograd)",
        None if r is None else r < 1, "-" if r is None else f"dualrev/torch = {r:.2f} (< 1)")


def _jit_targets(rows, add, ratio):
    """The targets of dr.jit (issue 12), each on the rows that ran."""
    bounds = [("scalar_chain", "numpy", 2.0, "<= 2x hand-written per op"), ("mlp_grad", "numpy", 1.05, "<= 1.05x hand"),
              ("big_mlp_grad", "numpy", 1.02, "<= 1.02x hand"), ("rosen_hessian n=200", "dualrev", 1 / 3,
              "<= 1/3 of eager dualrev"), ("rosen_hvp n=10000", "numpy", 3.0, "<= 3x hand"),
              ("jacfwd tanh(Ax) n=100", "numpy", 2.0, "<= 2x hand"), ("jacrev tanh(Ax) n=100", "numpy", 2.0,
              "<= 2x hand")]
    for name, peer, bound, what in bounds:
        if name in rows:
            r = ratio(name, "dualrev jit", peer)
            add(f"{name}: dualrev jit {what}", None if r is None else r <= bound,
                "-" if r is None else f"jit/{peer} = {r:.2f} (<= {bound:.3g})")
    for name, row in rows.items():
        first = getattr(row, "jit_first", None)
        if first is not None:
            add(f"{name}: dualrev jit first call <= 5x one eager call", first[0] <= 5 * first[1],
                f"{first[0] / first[1]:.1f}x")


def targets(rows):
    """``(target, measured, verdict)`` per target of issue 7; verdict is 'met', 'MISSED' or 'n/a'."""
    out = []

    def add(what, ok, measured):
        out.append((what, measured, "n/a" if ok is None else ("met" if ok else "MISSED")))

    def ratio(row, a, b):
        ta, tb = _t(rows, row, a), _t(rows, row, b)
        return None if ta is None or tb is None else ta / tb

    if "scalar_chain" in rows:
        _chain_targets(rows, add, ratio)
    _jit_targets(rows, add, ratio)
    for name, bound in (("mlp_grad", 1.3), ("big_mlp_grad", 1.05)):
        if name not in rows:
            continue
        r = ratio(name, "dualrev", "numpy")
        add(f"{name}: within {bound}x of hand-written NumPy", None if r is None else r <= bound,
            "-" if r is None else f"dualrev/numpy = {r:.2f} (<= {bound})")
    for name in [k for k in rows if k.startswith("rosen_hessian")]:
        peers = [p for p in ("autograd", "jax eager", "torch") if _t(rows, name, p) is not None]
        rs = {p: ratio(name, "dualrev", p) for p in peers}
        ok = None if not rs or None in rs.values() else max(rs.values()) < 1
        add(f"{name}: faster than every eager peer", ok,
            ", ".join(f"/{p} = {v:.2f}" for p, v in rs.items()) + " (each < 1)" if rs and ok is not None else "-")
    for name in [k for k in rows if k.startswith("rosen_hvp")]:
        rs = {p: ratio(name, "dualrev", p) for p in ("autograd", "torch")}
        ok = None if None in rs.values() else max(rs.values()) < 1
        add(f"{name}: faster than autograd and torch", ok,
            "-" if ok is None else ", ".join(f"/{p} = {v:.2f}" for p, v in rs.items()) + " (each < 1)")
    for name in [k for k in rows if k.startswith(("jacfwd", "jacrev"))]:
        r = ratio(name, "dualrev", "torch")
        add(f"{name}: faster than torch", None if r is None else r < 1,
            "-" if r is None else f"dualrev/torch = {r:.2f} (< 1)")
    loop, vec = _t(rows, "per_example_grads loop", "dualrev"), _t(rows, "per_example_grads vmap", "dualrev")
    if "per_example_grads loop" in rows:
        s = None if loop is None or vec is None else loop / vec
        add("per_example_grads: dr.vmap >= 5x faster than the dr.grad loop", None if s is None else s >= 5,
            "-" if s is None else f"loop/vmap = {s:.1f} (>= 5)")
    return out


# -- output --


def _table(header, body, numeric=True):
    """A plain-text table and its Markdown twin from a header and rows of strings; columns after the first are
    right-aligned when ``numeric``."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    text = ["  ".join(str(c).rjust(w) if i and numeric else str(c).ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in [header] + body]
    rule = "|" + "|".join("---:" if i and numeric else "---" for i in range(len(header))) + "|"
    md = ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(r) + " |" for r in body]
    return text, md


def report(rows, peers, opts, argv):
    libs = [lib for lib in LIBS if any(lib in r.cases for r in rows)]
    times_body = [[r.label] + [fmt_time(r.times[lib], r.unit) if lib in r.times else "-" for lib in libs]
                  for r in rows]
    peers_cols = [lib for lib in libs if lib != "dualrev"]
    ratio_body = []
    for r in rows:
        d = r.times.get("dualrev")
        ratio_body.append([r.name] + ["-" if d is None or lib not in r.times else f"{d / r.times[lib]:.2f}"
                                      for lib in peers_cols])
    t_text, t_md = _table(["workload"] + libs, times_body)
    r_text, r_md = _table(["dualrev / ..."] + peers_cols, ratio_body)
    derived = []
    for r in rows:
        if "numpy forward" in r.times and "dualrev" in r.times:
            derived.append(f"{r.name}: dualrev grad / NumPy forward = {r.times['dualrev'] / r.times['numpy forward']:.1f}"
                           f", hand-written grad / NumPy forward = {r.times['numpy'] / r.times['numpy forward']:.1f}")
    for r in rows:
        if "torch autograd" in r.times and "dualrev" in r.times:
            derived.append(f"{r.name}: torch.autograd.grad (tape API) {fmt_time(r.times['torch autograd'], r.unit)} "
                           f"{r.unit}{'/op' if r.per != 1 else ''}; dualrev / it = "
                           f"{r.times['dualrev'] / r.times['torch autograd']:.2f}")
    byname = {r.name: r for r in rows}
    if "per_example_grads loop" in byname:
        vec, loop = byname["per_example_grads vmap"], byname["per_example_grads loop"]
        for lib in ("dualrev", "jax eager", "jax jit", "torch"):
            if lib in vec.times and lib in loop.times:
                derived.append(f"per_example_grads: {lib} loop / vmap = {loop.times[lib] / vec.times[lib]:.1f}")
    tg = targets(byname)
    g_text, g_md = _table(["target", "measured", "verdict"], [list(t) for t in tg], numeric=False)
    missed = []  # each row with a missed target, once: its dualrev case is profiled (where its time goes)
    for what, _, verdict in tg:
        name = what.split(":")[0]
        row = byname.get(name) or byname.get(f"{name} vmap")
        if verdict == "MISSED" and row is not None and "dualrev" in row.cases and row not in missed:
            missed.append(row)
    profiles = [profile(row, 12) for row in missed]
    notes = list(peers.notes)
    for r in rows:
        notes += [f"{r.name}: {n}" for n in r.notes]
        notes += [f"{r.name}: {lib} skipped: {why}" for lib, why in r.skipped.items()]
    clock = "process CPU time" if opts.clock == "cpu" else "wall-clock time"
    how = (f"median of {opts.repeats} interleaved repeats of ~{opts.target:g} s each ({clock}), after warm-up; "
           "float64, one thread everywhere")
    info = machine_info(peers.versions)

    print("\n".join(["", *info, how, "", "time per call (scalar_chain: per operation)", *t_text, "",
                     "ratios dualrev / peer (below 1: dualrev faster)", *r_text, "", *derived, "", "targets",
                     *g_text, "", "notes:", *[f"- {n}" for n in notes]]))
    for title, table in profiles:
        print(f"\nprofile of {title}:\n{table}")
    if opts.markdown:
        cmd = "python benchmarks/suite.py " + " ".join(argv)
        md = ["# Benchmarks", "",
              ("Generated by `benchmarks/suite.py` (do not edit by hand; rerun it). Every case is checked against "
               "the reference before it is timed; see [benchmarks/README.md](../benchmarks/README.md) for the "
               "workloads and the method."), "",
              "This page came from:", "", "```sh", cmd.strip(), "```", "",
              ("Other ways to run it: `pip install \".[bench]\"` for the peers; `--quick` (about 30 s, noisier); "
               "`--only rosen_hessian,jacobian` (a comma-separated choice of workloads); `--profile` (a cProfile "
               "of dualrev on every row); `--skip torch` (leave a peer out); `--clock wall`."), "",
              *[f"- {line}" for line in info], f"- {how}", "",
              "## Time per call", "",
              "Milliseconds, except scalar_chain: microseconds per operation.", "", *t_md, "",
              "## Ratios dualrev / peer", "", "Below 1: dualrev is faster.", "", *r_md, "",
              *[f"- {d}" for d in derived], "",
              "## Targets (issue 7)", "", *g_md, "",
              *(["## Where dualrev's time goes on the missed targets", "",
                 ("cProfile of the dualrev case of each row with a missed target, taken right after the timing "
                  "(cProfile's own overhead inflates small functions; the order is what matters)."), ""]
                if profiles else []),
              *[line for title, table in profiles for line in (f"{title}:", "", "```", table, "```", "")],
              "## Notes", "", *[f"- {n}" for n in notes], ""]
        with open(opts.markdown, "w") as f:
            f.write("\n".join(md))
        print(f"\nwrote {opts.markdown}")


def profile(row, top):
    """cProfile of the row's dualrev case over about a second of calls: a heading and the ``top`` functions by
    own time (file names without their folders)."""
    import cProfile
    import io
    import pstats

    fn = row.cases["dualrev"]
    calls = max(1, round(1.0 / (row.times["dualrev"] * row.per)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    table = text[text.index("ncalls"):].rstrip() if "ncalls" in text else text.rstrip()
    return f"dualrev on {row.name}: {calls} calls under cProfile, top {top} by own time", table


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats of ~0.03 s: the whole suite in well "
                        "under a minute, noisier")
    parser.add_argument("--only", default="", help=f"comma-separated workloads out of {', '.join(WORKLOADS)}")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables to PATH (docs/benchmarks.md)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per case (default 7; quick 3)")
    parser.add_argument("--target", type=float, default=None, help="seconds per repeat (default 0.3; quick 0.03)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="process CPU time or wall time")
    parser.add_argument("--profile", type=int, nargs="?", const=15, default=0, metavar="N",
                        help="after timing a row, cProfile its dualrev case and print the top N (default 15)")
    parser.add_argument("--skip", default="", help="comma-separated peers to leave out: autograd, jax, torch")
    opts = parser.parse_args(argv)
    opts.repeats = opts.repeats or (3 if opts.quick else 7)
    opts.target = opts.target or (0.03 if opts.quick else 0.3)
    chosen = [w.strip() for w in opts.only.split(",") if w.strip()] or list(WORKLOADS)
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        parser.error(f"--only: unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")

    skip = {s.strip() for s in opts.skip.split(",") if s.strip()}
    if skip - {"autograd", "jax", "torch"}:
        parser.error(f"--skip: unknown peer(s) {', '.join(sorted(skip - {'autograd', 'jax', 'torch'}))}; "
                     "choose from autograd, jax, torch")
    peers = Peers(skip=skip)
    builders = {"scalar_chain": scalar_chain, "mlp_grad": mlp_grad, "big_mlp_grad": big_mlp_grad,
                "rosen_hessian": rosen_hessian, "rosen_hvp": rosen_hvp, "jacobian": jacobian,
                "per_example_grads": per_example_grads}
    rows = []
    for w in chosen:
        for row in builders[w](peers, opts):
            t0 = time.perf_counter()
            row.check()
            print(f"{row.name}: {', '.join(row.checked)} agree with the reference (rtol {row.rtol:g}); ",
                  end="", flush=True)
            row.run(opts.repeats, opts.target, CLOCKS[opts.clock], warmup=0 if opts.quick else 2)  # the check is a first warm-up
            print(f"checked and timed in {time.perf_counter() - t0:.1f} s", flush=True)
            rows.append(row)
            if opts.profile and "dualrev" in row.cases:
                print("\n{}\n{}\n".format(*profile(row, opts.profile)))
    report(rows, peers, opts, argv)
    return rows


if __name__ == "__main__":
    main()
