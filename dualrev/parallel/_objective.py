"""``ShardedObjective``: F(p) = sum_k loss(p, *shard_k) (or the row-weighted mean) with its gradient,
Hessian-vector products and Hessian, each computed where the shards live and combined on the driver in shard order;
``ShardedResiduals``: the same for least squares (0.5 |r|^2, J'J and J'r are sums over shards).

Both hand ``dualrev.optimize`` a flat problem (``_flat_objective``, ``_flat_residuals``) so that ``minimize`` and
``least_squares`` accept them in place of a function. Imports the engines, the data checks, dualrev's tree
utilities and ``dualrev.optimize._problem`` (same layer: the flat-vector conventions of the optimisers).
"""

from __future__ import annotations

import hashlib
import numbers
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from dualrev.optimize._problem import Counts, Objective, ravel_x0
from dualrev.parallel import _worker
from dualrev.parallel._data import check_layout, shard_sources
from dualrev.parallel._engines import DaskEngine, ExecutorEngine, SerialEngine, ShardsLostError
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["ShardedObjective", "ShardedResiduals"]


def _make_engine(engine, timeout, retries):
    if engine is None:
        return SerialEngine()
    if type(engine).__name__ == "Client" and type(engine).__module__.startswith("distributed"):
        return DaskEngine(engine, timeout, retries)
    import concurrent.futures as cf

    if isinstance(engine, cf.Executor):
        return ExecutorEngine(engine, timeout, retries)
    raise TypeError(f"ShardedObjective: engine must be None (serial), a distributed.Client or a "
                    f"concurrent.futures.Executor, got {type(engine).__name__}")


def _signature(params):
    """(structure, ((shape, dtype) per leaf)) of a parameter pytree that ravel_x0 accepted."""
    leaves, treedef = tree_flatten(params)
    return str(treedef), tuple((np.shape(leaf), np.result_type(leaf).str) for leaf in leaves)


class _Sharded:
    """The shared part: data checks, the engine, the parameter structure (fixed by the first call), the runs and
    their fixed-order combination, and the statistics."""

    _kind = "ShardedObjective"
    _residuals = False

    def __init__(self, fun: Callable, data: Any, *, engine: Any = None, reduce: str = "sum", shards: int | None = None,
                 timeout: float | None = None, retries: int = 2):
        if not callable(fun):
            raise TypeError(f"{self._kind}: the loss must be callable, got {type(fun).__name__}")
        if reduce not in ("sum", "mean"):
            raise ValueError(f"{self._kind}: reduce must be 'sum' or 'mean', got {reduce!r}")
        if timeout is not None and not (isinstance(timeout, numbers.Real) and timeout > 0):
            raise ValueError(f"{self._kind}: timeout must be a positive number of seconds or None, got {timeout!r}")
        if not (isinstance(retries, numbers.Integral) and retries >= 0):
            raise ValueError(f"{self._kind}: retries must be an integer >= 0, got {retries!r}")
        self.fun, self.reduce, self.timeout = fun, reduce, timeout
        self.name = getattr(fun, "__name__", type(fun).__name__)
        sources, described = shard_sources(data, shards)
        if described is not None:
            self.shard_sizes = check_layout(described)
        self._engine = _make_engine(engine, timeout, retries)
        if sources[0][0] == "dask" and not isinstance(self._engine, DaskEngine):
            import dask  # no cluster to keep the chunks on: compute them here, once

            computed = dask.compute(*[s[1] for s in sources])
            sources = [("arrays", c) for c in computed]
        self._sources = sources
        self._signature = None
        loaded = self._engine.setup(sources)
        if described is None:
            self.shard_sizes = check_layout(loaded, "the loaded shards")
        total = float(sum(self.shard_sizes))
        self._weights = [1.0] * len(self.shard_sizes) if reduce == "sum" else [n / total for n in self.shard_sizes]
        self.stats = {"calls": 0, "wall": 0.0, "compute": 0.0, "compute_cpu": 0.0, "overhead": 0.0, "sent": 0,
                      "received": 0, "tasks": 0}
        self.last_call = {}

    @property
    def n_shards(self) -> int:
        return len(self.shard_sizes)

    @property
    def engine(self) -> str:
        return self._engine.name

    def close(self):
        """Release the shards held for this objective (Dask futures, this process's cache)."""
        self._engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"{self._kind}({self.name}, {self.n_shards} shards, {sum(self.shard_sizes)} rows, "
                f"reduce={self.reduce!r}, engine={self.engine})")

    # -- the parameter layout: fixed by the first call, checked on every call --

    def _flatten(self, params, where="params"):
        flat, unravel = ravel_x0(params, f"{self._kind}: {where}")
        signature = _signature(params)
        if self._signature is None:
            self._bind(flat, unravel, signature)
        elif signature != self._signature:
            raise ValueError(f"{self._kind}: {where} has structure {signature[0]} with leaves (shape, dtype) "
                             f"{list(signature[1])}, but this objective was first called with {self._signature[0]}, "
                             f"{list(self._signature[1])}; pass parameters of that structure (or build a new "
                             f"{self._kind} for the new one)")
        return flat

    def _bind(self, flat, unravel, signature):
        """Send the program for this parameter layout, then check the loss on shard 0 before any other work."""
        self._engine.set_program(_worker.Program(uuid.uuid4().hex, self.fun, unravel, flat.dtype, self._residuals))
        self._signature, self._unravel, self.dtype = signature, unravel, flat.dtype
        try:
            shape, dtype, _ = self._engine.run("probe", flat, shards=[0])[0]
        except (TimeoutError, ShardsLostError):
            self._signature = None
            raise
        except Exception as e:
            self._signature = None
            raise ValueError(f"{self._kind}: evaluating {self.name}(params, *shard 0) failed with "
                             f"{type(e).__name__}: {e}. Check that params has the structure and shapes the loss "
                             "expects.") from e
        kind = np.dtype(dtype).kind
        if kind not in "fiu":
            self._signature = None
            raise TypeError(f"{self._kind}: the loss must return real values; {self.name}(params, *shard 0) returned "
                            f"dtype {np.dtype(dtype)}")
        if not self._residuals and int(np.prod(shape)) != 1:
            self._signature = None
            raise TypeError(f"{self._kind}: the loss must return a scalar, but {self.name}(params, *shard 0) returned "
                            f"an array of shape {tuple(shape)}; sum or average it over the shard's rows")

    # -- runs and the fixed-order combination --

    def _token(self, flat):
        return hashlib.blake2b(flat.tobytes(), digest_size=16).hexdigest()

    def _run(self, op, flat, v=None, token=None):
        start = time.perf_counter()
        parts = self._engine.run(op, flat, v, token)
        last = dict(self._engine.last, op=op)
        self.last_call = last
        s = self.stats
        s["calls"] += 1
        for key in ("wall", "compute", "compute_cpu", "overhead", "sent", "received", "tasks"):
            s[key] += last[key]
        s["driver"] = s.get("driver", 0.0) + (time.perf_counter() - start - last["wall"])
        return parts

    def _combine(self, parts):
        """sum_k w_k part_k, left to right in shard order: the same operations whatever ran where."""
        total = None
        for w, p in zip(self._weights, parts):
            term = p * w if w != 1.0 else p
            total = term if total is None else total + term
        return total


class ShardedObjective(_Sharded):
    """F(params) = sum over shards of ``loss(params, *shard)`` (``reduce="mean"``: the average weighted by the
    shards' row counts, for a loss that averages over its shard), with exact derivatives from dualrev, each
    computed where the data lives and combined in shard order (bitwise the same for any engine and worker count).

    Its arguments (``_Sharded.__init__``):

        loss: ``loss(params, *shard_arrays) -> scalar``, written with dualrev.numpy or plain NumPy on arrays.
        data: a NumPy array or tuple of arrays (split along axis 0 into ``shards`` pieces, default 8), a list of
            shards (each an array or a tuple of arrays), a list of loader functions (each returning its shard,
            called on the worker), or a Dask array / tuple of Dask arrays (chunks along axis 0 are the shards).
        engine: None (this process), a ``distributed.Client`` or any ``concurrent.futures.Executor``.
        reduce: "sum" or "mean".
        shards: the number of shards NumPy arrays are split into (fixed, whatever the number of workers).
        timeout: seconds a call may take before ``TimeoutError`` (None: no limit).
        retries: how many times a shard lost with its worker is recomputed before ``ShardsLostError``.

    >>> obj = ShardedObjective(lambda w, X, y: dnp.sum((X @ w - y) ** 2), (X, y))
    >>> obj.value_and_grad(np.zeros(X.shape[1]))
    """

    def value(self, params: Any) -> np.floating:
        """F(params), by plain NumPy on each shard (no tracing)."""
        return self._value_flat(self._flatten(params))

    __call__ = value

    def grad(self, params: Any) -> Any:
        """The gradient of F, with the structure of ``params``."""
        flat = self._flatten(params)  # first: the first call fixes the layout (and self._unravel)
        return self._unravel.numpy(self._value_and_grad_flat(flat)[1])

    def value_and_grad(self, params: Any) -> tuple[np.floating, Any]:
        """``(F(params), grad F(params))``."""
        f, g = self._value_and_grad_flat(self._flatten(params))
        return f, self._unravel.numpy(g)

    def hvp(self, params: Any, v: Any) -> Any:
        """The Hessian of F at ``params`` times ``v`` (same structure as params)."""
        flat = self._flatten(params)
        v_flat = self._flatten_like(v, "v")
        return self._unravel.numpy(self._hvp_flat(flat, v_flat, self._token(flat)))

    def hessian(self, params: Any) -> Any:
        """The Hessian of F, structured like ``dr.hessian``: shape ``params.shape * 2`` for an array, nested
        pytrees (blocks ``leaf_i.shape + leaf_j.shape``) for a pytree of arrays."""
        flat = self._flatten(params)
        H = self._hessian_flat(flat)
        leaves, treedef = tree_flatten(self._unravel.numpy(flat))
        shapes = [np.shape(leaf) for leaf in leaves]
        if len(leaves) == 1:
            return H.reshape(shapes[0] + shapes[0])
        offsets = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
        rows = [tree_unflatten(treedef, [H[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]].reshape(si + sj)
                                         for j, sj in enumerate(shapes)]) for i, si in enumerate(shapes)]
        return tree_unflatten(treedef, rows)

    def _flatten_like(self, v, where):
        flat, _ = ravel_x0(v, f"{self._kind}: {where}")
        signature = _signature(v)
        if signature[0] != self._signature[0] or [s for s, _ in signature[1]] != [s for s, _ in self._signature[1]]:
            raise ValueError(f"{self._kind}: {where} must have the structure of params ({self._signature[0]}, leaves "
                             f"{list(self._signature[1])}), got {signature[0]} with {list(signature[1])}")
        return flat.astype(self.dtype)

    # -- flat cores (also used by minimize) --

    def _value_flat(self, flat):
        return self._combine(self._run("value", flat))

    def _value_and_grad_flat(self, flat):
        parts = self._run("value_and_grad", flat)
        return self._combine([p[0] for p in parts]), self._combine([p[1] for p in parts])

    def _grad_linearized_flat(self, flat, token):
        return self._combine(self._run("grad", flat, token=token))

    def _hvp_flat(self, flat, v, token):
        return self._combine(self._run("hvp", flat, v, token))

    def _hessian_flat(self, flat):
        return self._combine(self._run("hessian", flat))

    def _flat_objective(self, caller, x0, args):
        """The problem ``dualrev.optimize.minimize`` iterates on (its ``Objective`` interface)."""
        if args != ():
            raise TypeError(f"{caller}: args must be empty for a ShardedObjective (its data are the shards); got "
                            f"{len(args)} extra argument(s)")
        return _FlatShardedObjective(self, caller, x0)


def _finite(x0, caller):
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"{caller}: x0 contains NaN or infinite values")
    return x0


class _FlatShardedObjective(Objective):
    """``optimize._problem.Objective``'s interface over a ShardedObjective: the same checks at x0 and counters,
    every evaluation a run over the shards. (Objective's constructor, which builds transforms of a local
    function, is not used.)"""

    def __init__(self, sharded, caller, x0):  # deliberately not Objective.__init__
        self.sharded, self.caller, self.fun, self.args = sharded, caller, sharded, ()
        self.name = sharded.name
        self.x0 = _finite(sharded._flatten(x0, "x0"), caller)
        self.unravel = sharded._unravel
        self.dtype, self.n = self.x0.dtype, self.x0.size
        self.counts = Counts()

    def check_x0(self):
        f0, g0 = self.value_and_grad(self.x0)
        if not np.isfinite(f0):
            raise ValueError(f"{self.caller}: the objective is not finite at x0 ({self.name}(x0) = {f0})")
        if not np.all(np.isfinite(g0)):
            raise ValueError(f"{self.caller}: the gradient of {self.name} is not finite at x0")
        self.counts.nfev += 1
        return f0, g0

    def value(self, x):
        self.counts.nfev += 1
        return self._cast(self.sharded._value_flat(x))

    def value_and_grad(self, x):
        self.counts.njev += 1
        f, g = self.sharded._value_and_grad_flat(x)
        return self._cast(f), np.asarray(g, dtype=self.dtype)

    def grad_and_hvp(self, x):
        self.counts.njev += 1
        token = self.sharded._token(x)
        g = self.sharded._grad_linearized_flat(x, token)
        counts, sharded, dtype = self.counts, self.sharded, self.dtype

        def hvp(v):
            counts.nhev += 1
            return np.asarray(sharded._hvp_flat(x, np.asarray(v, dtype=dtype), token), dtype=dtype)

        return np.asarray(g, dtype=self.dtype), hvp

    def hessian(self, x):
        self.counts.nhev += 1
        return np.asarray(self.sharded._hessian_flat(x), dtype=self.dtype)


class ShardedResiduals(_Sharded):
    """Residuals on sharded data for ``dualrev.optimize.least_squares``: ``residual(params, *shard)`` returns the
    shard's residuals; the cost 0.5 |r|^2, J'J and J'r are sums over shards (``reduce="mean"`` weights them by the
    shards' row counts over the total). Same arguments as ``ShardedObjective``.

    >>> res = least_squares(ShardedResiduals(lambda p, t, y: p[0] * dnp.exp(p[1] * t) - y, (t, y)), p0)
    """

    _kind = "ShardedResiduals"
    _residuals = True

    def cost(self, params: Any) -> float:
        """0.5 * sum of squared residuals over all shards."""
        return self._cost_flat(self._flatten(params))

    def normal_equations(self, params: Any) -> tuple[float, np.ndarray, np.ndarray]:
        """``(cost, J'J, J'r)`` at params, over the flat parameter vector."""
        return self._gauss_newton_flat(self._flatten(params))

    def _cost_flat(self, flat):
        return self._combine(self._run("cost", flat))

    def _gauss_newton_flat(self, flat):
        parts = self._run("gauss_newton", flat)
        return tuple(self._combine([p[j] for p in parts]) for j in range(3))

    def _flat_residuals(self, caller, x0, args):
        """The problem ``dualrev.optimize.least_squares`` iterates on, through the normal equations."""
        if args != ():
            raise TypeError(f"{caller}: args must be empty for ShardedResiduals (its data are the shards); got "
                            f"{len(args)} extra argument(s)")
        return _FlatShardedResiduals(self, caller, x0)


class _FlatShardedResiduals:
    """``least_squares``'s residual model over shards. Only J'J (n x n) and J'r (n) travel, never r or J (they are
    O(data)), so the steps solve the normal equations (J'J + mu I) h = -J'r: accurate while J'J is well
    conditioned (cond(J)^2 below 1/eps); ``result.fun`` and ``result.jac`` are None."""

    def __init__(self, sharded, caller, x0):
        self.sharded, self.caller = sharded, caller
        self.x0 = _finite(sharded._flatten(x0, "x0"), caller)
        self.unravel = sharded._unravel
        self.counts = {"nfev": 0, "njev": 0}
        self.describe = f"{sum(sharded.shard_sizes)} rows in {sharded.n_shards} shards (normal equations)"
        self.trial = None

    def cost(self, x):
        self.counts["nfev"] += 1
        cost = float(self.sharded._cost_flat(x))
        self.trial = (x, cost)
        return cost

    def cost_of_last(self, x):
        return self.trial[1]

    def normal_equations(self, x):
        self.counts["njev"] += 1
        cost, self.A, self.g = self.sharded._gauss_newton_flat(x)
        if self.counts["njev"] == 1:
            if not np.isfinite(cost):
                raise ValueError(f"{self.caller}: the residuals are not finite at x0")
            if not np.all(np.isfinite(self.A)):
                raise ValueError(f"{self.caller}: the Jacobian of the residuals is not finite at x0")
        return self.A, self.g

    def step(self, mu):
        A, g = self.A, self.g
        if mu is None:
            return np.linalg.lstsq(A, -g, rcond=None)[0].astype(g.dtype)
        damped = A + mu * np.eye(A.shape[0], dtype=A.dtype)
        try:
            L = np.linalg.cholesky(damped)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(damped, -g, rcond=None)[0].astype(g.dtype)
        return np.linalg.solve(L.T, np.linalg.solve(L, -g)).astype(g.dtype)

    def fields(self, copy=False):
        return {"fun": None, "jac": None}
