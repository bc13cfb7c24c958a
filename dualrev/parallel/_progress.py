"""Per-iteration progress of a solve on a sharded objective: a ``callback`` for ``minimize``/``least_squares`` that
shows the objective, the gradient norm and the time spent outside the shards' arithmetic (communication and
scheduling). A tqdm bar when tqdm is installed, else one printed line per iteration. Imports NumPy and tqdm
(optional)."""

from __future__ import annotations

import sys
import time

import numpy as np

from dualrev.tree_util import tree_leaves

__all__ = ["progress"]


class _Progress:
    def __init__(self, objective, total, desc, file):
        self.objective, self.desc, self.file = objective, desc, file or sys.stderr
        self.start = time.perf_counter()
        self.overhead0 = objective.stats["overhead"]
        self.iterations = 0
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc=desc, file=self.file, unit="it")

    def __call__(self, result):
        self.iterations += 1
        fun = result.get("cost", result.get("fun"))
        grad = result.get("grad", result.get("jac"))
        gnorm = max((float(np.max(np.abs(leaf))) for leaf in tree_leaves(grad) if np.size(leaf)), default=0.0)
        comm = self.objective.stats["overhead"] - self.overhead0
        stats = {"f": f"{float(fun):.6g}", "|g|": f"{gnorm:.2e}", "comm": f"{comm:.2f}s",
                 "total": f"{time.perf_counter() - self.start:.2f}s"}
        if self.bar is not None:
            self.bar.set_postfix(stats, refresh=False)
            self.bar.update(1)
        else:
            print(f"{self.desc} iteration {self.iterations}: " + ", ".join(f"{k} {v}" for k, v in stats.items()),
                  file=self.file)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def progress(objective, total: int | None = None, desc: str = "solve", file=None):
    """A callback for ``minimize(..., callback=...)`` (or ``least_squares``) showing, per iteration, the objective,
    the gradient's max-norm and the accumulated communication time of ``objective`` (a ShardedObjective or
    ShardedResiduals). Call ``.close()`` at the end (or use it as a context manager).

    >>> with progress(obj, total=50) as cb:
    ...     res = minimize(obj, x0, method="newton-cg", callback=cb)
    """
    return _ProgressContext(objective, total, desc, file)


class _ProgressContext(_Progress):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
