"""dualrev.parallel: exact gradients, Hessian-vector products and Hessians of objectives that are sums over data
shards, computed where the shards live (a Dask cluster, any ``concurrent.futures.Executor``, or this process) and
combined in shard order, so the result is bitwise the same for any engine and number of workers. The objectives
plug into ``dualrev.optimize.minimize`` and ``least_squares``.

Dask is an optional extra (``pip install "dualrev[distributed]"``), imported only when a ``distributed.Client``
is given. Built on dualrev's public transforms and ``dualrev.optimize``'s flat-problem conventions.

>>> obj = ShardedObjective(lambda w, X, y: dnp.sum((X @ w - y) ** 2), (X, y), engine=client)
>>> minimize(obj, np.zeros(X.shape[1]), method="newton-cg").x
"""

from dualrev.parallel._engines import ShardsLostError
from dualrev.parallel._objective import ShardedObjective, ShardedResiduals
from dualrev.parallel._progress import progress

__all__ = ["ShardedObjective", "ShardedResiduals", "ShardsLostError", "progress"]
