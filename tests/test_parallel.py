"""dualrev.parallel: sharded objectives on a real Dask LocalCluster (2 worker processes), a real ProcessPoolExecutor
and serially. Results are bitwise equal across engines and worker counts, agree with dualrev on the unsharded data,
minimize/least_squares reach the single-machine optimum in the same iterations, a worker killed mid-solve changes
nothing, and bad input is refused before any work is sent."""

import io
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.optimize import least_squares, minimize
from dualrev.parallel import ShardedObjective, ShardedResiduals, ShardsLostError, progress

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
# the losses below travel by value: the workers need not import this test module
cloudpickle.register_pickle_by_value(sys.modules[__name__])

METHODS = ["newton", "newton-cg", "trust-exact", "trust-ncg", "bfgs", "l-bfgs", "gd"]


def logistic(w, X, y):
    z = X @ w
    return dnp.sum(dnp.logaddexp(0.0, z) - y * z)


def penalised(w, X, y):
    return logistic(w, X, y) + 0.5 * dnp.sum(w * w) * X.shape[0] / 1200.0


def mlp(params, X, y):
    """A one-hidden-layer network, mean squared error over the shard: a pytree of parameters."""
    h = dnp.tanh(X @ params["W"] + params["b"])
    return dnp.mean((h @ params["v"] - y) ** 2)


def data(n=1200, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.linspace(-1, 1, d)))).astype(float)
    return X, y


def mlp_params(d=6, h=4, seed=1):
    rng = np.random.default_rng(seed)
    return {"W": 0.5 * rng.normal(size=(d, h)), "b": 0.1 * rng.normal(size=h), "v": rng.normal(size=h)}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        with distributed.Client(c) as cl:
            yield cl


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield ex


def evaluations(obj, params, v):
    f, g = obj.value_and_grad(params)
    return [obj.value(params), f, g, obj.grad(params), obj.hvp(params, v), obj.hessian(params)]


def assert_bitwise(a, b):
    la, lb = dr.tree_util.tree_leaves(a), dr.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        assert np.array_equal(x, y), (x, y)


# -- the same bits everywhere --


def test_bitwise_identical_across_engines_and_worker_counts(client, pool):
    X, y = data()
    params, v = mlp_params(), mlp_params(seed=2)
    serial = evaluations(ShardedObjective(mlp, (X, y), reduce="mean"), params, v)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as one, ThreadPoolExecutor(3) as three:
        engines = [pool, one, three, client, client.get_executor()]
        for engine in engines:
            with ShardedObjective(mlp, (X, y), engine=engine, reduce="mean") as obj:
                assert_bitwise(evaluations(obj, params, v), serial)


def test_one_task_per_worker_whatever_the_grouping_gives_the_same_bits(client):
    X, y = data(800, 5)
    w, v = np.linspace(-0.5, 0.5, 5), np.linspace(1.0, -1.0, 5)
    serial = evaluations(ShardedObjective(penalised, (X, y)), w, v)
    with ShardedObjective(penalised, (X, y), engine=client) as obj:
        assert_bitwise(evaluations(obj, w, v), serial)
        engine = obj._engine
        workers = sorted(set(engine._holders.values()))
        assert len(workers) == 2 and obj.last_call["tasks"] == 2  # 8 shards, one task per worker
        # each task ran where its shards are: both processes worked, and no shard was copied to another worker
        assert obj.last_call["processes"] == 2
        who_has = client.who_has(engine.shard_futures)
        assert [who_has[f.key] for f in engine.shard_futures] == [(engine._holders[i],) for i in range(8)]
        assert obj.last_call["received"] == 8 * 5 * 5 * 8  # one 5 x 5 Hessian per shard: parts are added on the driver
        # other groupings (one worker doing all, the other holding nothing; contiguous halves; the scheduler's
        # choice): the tasks and the bits do not change
        for holders in ([workers[0]] * 8, [workers[0]] * 4 + [workers[1]] * 4, [workers[1]] * 7 + [None],
                        [None] * 8):
            engine._holders = dict(enumerate(holders))
            assert_bitwise(evaluations(obj, w, v), serial)
            assert obj.last_call["tasks"] == len(set(holders))
    # a worker holding no shard gets no task
    with ShardedObjective(penalised, (X, y), engine=client, shards=1) as one:
        assert_bitwise(one.value_and_grad(w), ShardedObjective(penalised, (X, y), shards=1).value_and_grad(w))
        assert one.last_call["tasks"] == 1 and one.last_call["processes"] == 1
    with ThreadPoolExecutor(3) as three:  # more threads than shards
        assert_bitwise(ShardedObjective(penalised, (X, y), engine=three, shards=2).value_and_grad(w),
                       ShardedObjective(penalised, (X, y), shards=2).value_and_grad(w))


def test_large_parameters_are_scattered_once_per_call(client):
    def quartic(w, x):
        return dnp.sum(w**4) * dnp.mean(x) + dnp.sum(w[:2] * x[0])

    w = np.linspace(-1.0, 1.0, 20_000)  # 160 kB: above what a task carries embedded
    x = np.arange(16.0).reshape(8, 2)
    serial = ShardedObjective(quartic, x, shards=4)
    with ShardedObjective(quartic, x, engine=client, shards=4) as obj:
        for _ in range(2):  # the second call releases the first call's scattered parameters
            assert_bitwise(obj.value_and_grad(w), serial.value_and_grad(w))
        assert obj.last_call["sent"] == w.nbytes * obj.last_call["tasks"] and obj.last_call["tasks"] <= 2
        assert_bitwise(obj.hvp(w, w), serial.hvp(w, w))


def test_values_and_derivatives_match_the_unsharded_objective(client):
    X, y = data()
    params, v = mlp_params(), mlp_params(seed=2)
    whole = lambda p: mlp(p, X, y)  # noqa: E731
    obj = ShardedObjective(mlp, (X, y), engine=client, reduce="mean", shards=5)
    assert obj.shard_sizes == [240] * 5
    f, g = obj.value_and_grad(params)
    f_ref, g_ref = dr.value_and_grad(whole)(params)
    np.testing.assert_allclose(f, f_ref, rtol=1e-13)
    for k in params:
        np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-11, atol=1e-14)
    hv = obj.hvp(params, v)
    flat_ref = dr.hessian(lambda w: whole(unflat(w)))(flat(params))
    np.testing.assert_allclose(flat(hv), flat_ref @ flat(v), rtol=1e-10, atol=1e-13)
    H = obj.hessian(params)
    assert H["W"]["v"].shape == (6, 4, 4) and H["b"]["W"].shape == (4, 6, 4)
    np.testing.assert_allclose(flat_hessian(H), flat_ref, rtol=1e-10, atol=1e-13)
    # the sum reduction: the plain sum of the shards' losses
    s = ShardedObjective(logistic, (X, y), shards=3)
    np.testing.assert_allclose(s.value(np.ones(6)), logistic(np.ones(6), X, y), rtol=1e-13)
    np.testing.assert_allclose(s.hessian(np.ones(6)), dr.hessian(lambda w: logistic(w, X, y))(np.ones(6)),
                               rtol=1e-12)


KEYS = ["W", "b", "v"]  # dualrev flattens dicts in sorted key order


def flat(p):
    return np.concatenate([np.ravel(p[k]) for k in KEYS])


def unflat(w):
    return {"W": dnp.reshape(w[:24], (6, 4)), "b": w[24:28], "v": w[28:32]}


def flat_hessian(H):
    sizes = {"W": 24, "b": 4, "v": 4}
    return np.block([[np.reshape(H[i][j], (sizes[i], sizes[j])) for j in KEYS] for i in KEYS])


def test_input_kinds_scalars_lists_float32_and_data_forms(pool):
    X, y = data(200, 3)
    # a Python float, a 0-d array and a NumPy scalar as the parameter
    obj = ShardedObjective(lambda a, X, y: dnp.sum((a * X[:, 0] - y) ** 2), (X, y))
    for a in (0.5, np.asarray(0.5), np.float64(0.5)):
        g = obj.grad(a)
        np.testing.assert_allclose(g, 2 * np.sum((0.5 * X[:, 0] - y) * X[:, 0]), rtol=1e-12)
    # float32 data and parameters stay float32; a list of shards (lists accepted where NumPy takes them)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    shards = [(X32[:70], y32[:70]), (X32[70:], y32[70:])]
    obj32 = ShardedObjective(logistic, shards, engine=pool)
    g32 = obj32.grad(np.zeros(3, np.float32))
    assert g32.dtype == np.float32 and obj32.value(np.zeros(3, np.float32)).dtype == np.float32
    np.testing.assert_allclose(g32, dr.grad(lambda w: logistic(w, X, y))(np.zeros(3)), rtol=1e-5)
    lists = ShardedObjective(lambda w, x: dnp.sum(x * w), [[1.0, 2.0], [3.0]])
    assert lists.value(2.0) == 12.0 and lists.shard_sizes == [2, 1]
    # a tuple-of-arrays pytree of parameters
    two = ShardedObjective(lambda p, X, y: logistic(p[0], X, y) + p[1] ** 2, (X, y), shards=2)
    g = two.grad((np.zeros(3), 1.5))
    assert isinstance(g, tuple) and np.isclose(g[1], 3.0 * 2)  # the constant term is summed over 2 shards


def test_dask_arrays_and_loaders_on_every_engine(client, pool):
    da = pytest.importorskip("dask.array")
    X, y = data(800, 4)
    w = np.linspace(-0.3, 0.4, 4)
    serial = ShardedObjective(penalised, (X, y))  # 8 shards of 100 rows
    ref = serial.value_and_grad(w)
    Xd, yd = da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=100)
    loaders = [lambda k=k: (X[100 * k:100 * (k + 1)], y[100 * k:100 * (k + 1)]) for k in range(8)]
    for engine in (None, pool, client):
        assert_bitwise(ShardedObjective(penalised, (Xd, yd), engine=engine).value_and_grad(w), ref)
        loaded = ShardedObjective(penalised, loaders, engine=engine)
        assert loaded.shard_sizes == [100] * 8
        assert_bitwise(loaded.value_and_grad(w), ref)


def test_only_parameters_travel_once_the_processes_hold_the_shards(pool, client):
    X, y = data(4000, 8)
    w = np.zeros(8)
    obj = ShardedObjective(logistic, (X, y), engine=pool)
    # an executor cannot choose the process: each process is sent a shard the first time it gets work on it
    history = []
    for _ in range(100):
        obj.grad(w)
        history.append(obj.last_call["sent"])
        if history[-1] == 2 * w.nbytes:
            break
    assert history[-1] == 2 * w.nbytes, history  # the parameters, once to each of the 2 tasks (one per process)
    assert obj.last_call["tasks"] == 2
    # each process gets each shard once, plus the resends that land on a process already holding it
    assert obj.stats["sent"] < 4 * (X.nbytes + y.nbytes)
    # on Dask the shards were scattered once; each call sends the parameters with the one task per worker (a few
    # calls: a worker that another test killed may still be coming back, and its shards are then scattered again)
    on_dask = ShardedObjective(logistic, (X, y), engine=client)
    on_dask.grad(w)
    for _ in range(10):
        on_dask.hvp(w, w)
        if on_dask.last_call["sent"] == 2 * 2 * w.nbytes:
            break
    assert on_dask.last_call["sent"] == 2 * 2 * w.nbytes  # x and v, once to each of the 2 workers
    assert on_dask.last_call["received"] == 8 * w.nbytes  # one part per shard


# -- the optimisers --


@pytest.mark.parametrize("method", METHODS)
def test_minimize_every_method_matches_the_single_machine_solve(method):
    X, y = data(600, 4)
    full = minimize(lambda w: penalised(w, X, y), np.zeros(4), method=method)
    obj = ShardedObjective(penalised, (X, y), shards=4)
    res = minimize(obj, np.zeros(4), method=method)
    assert res.success and full.success
    assert res.nit == full.nit
    # the sums differ from the whole-data sum in the last bits; gd's many line searches magnify that a little
    np.testing.assert_allclose(res.x, full.x, rtol=1e-9 if method == "gd" else 1e-10, atol=1e-12)


def test_minimize_on_the_cluster_with_a_pytree_and_progress(client):
    X, y = data(600, 6)
    obj = ShardedObjective(mlp, (X, 2 * y - 1), engine=client, reduce="mean", shards=3)
    whole = minimize(lambda p: mlp(p, X, 2 * y - 1), mlp_params(), method="l-bfgs", maxiter=15)
    out = io.StringIO()
    with progress(obj, total=15, file=out) as callback:
        res = minimize(obj, mlp_params(), method="l-bfgs", maxiter=15, callback=callback)
    assert res.nit == whole.nit == 15
    for k in KEYS:
        np.testing.assert_allclose(res.x[k], whole.x[k], rtol=1e-8, atol=1e-10)
    text = out.getvalue()
    assert "|g|" in text and "comm" in text and ("15/15" in text or "iteration 15:" in text)  # tqdm or plain


@pytest.mark.parametrize("method", ["lm", "gn"])
def test_least_squares_on_shards_matches_the_dense_solve(client, method):
    rng = np.random.default_rng(3)
    t = np.linspace(0, 3, 300)
    y = 2.5 * np.exp(-1.3 * t) + 0.3 + 0.01 * rng.normal(size=t.size)

    def residual(p, t, y):
        return p[0] * dnp.exp(-p[1] * t) + p[2] - y

    p0 = np.array([1.0, 1.0, 0.0])
    dense = least_squares(lambda p: residual(p, t, y), p0, method=method)
    res = least_squares(ShardedResiduals(residual, (t, y), engine=client, shards=3), p0, method=method)
    assert res.status == dense.status and res.nit == dense.nit and res.nfev == dense.nfev
    np.testing.assert_allclose(res.x, dense.x, rtol=1e-10)
    np.testing.assert_allclose(res.cost, dense.cost, rtol=1e-10)
    assert res.fun is None and res.jac is None


def _cached_keys(ids):
    from dualrev.parallel import _worker

    return [k for cache in (_worker._SHARDS, _worker._LINEARIZED) for k in cache if k[0] in ids]


def test_close_frees_the_workers(client):
    X, y = data(200, 3)
    obj = ShardedObjective(logistic, (X, y), engine=client, shards=2)
    res = minimize(obj, np.zeros(3), method="newton-cg")
    engine = obj._engine
    ids = {engine.data_id, engine.program.id}
    assert res.success and any(client.run(_cached_keys, ids).values())  # the recordings Newton-CG reused
    obj.close()
    assert not any(client.run(_cached_keys, ids).values())


# -- faults --


def test_a_worker_killed_during_newton_cg_changes_nothing(client):
    X, y = data(2000, 8)
    reference = minimize(ShardedObjective(penalised, (X, y)), np.zeros(8), method="newton-cg")
    obj = ShardedObjective(penalised, (X, y), engine=client)
    pids = client.run(os.getpid)
    victim = max(pids.values())

    def kill_at_iteration_two(info):
        if info.nit == 2:
            os.kill(victim, signal.SIGKILL)

    res = minimize(obj, np.zeros(8), method="newton-cg", callback=kill_at_iteration_two)
    assert victim not in client.run(os.getpid).values()  # the nanny started a new process
    assert res.nit == reference.nit
    assert_bitwise(res.x, reference.x)
    client.wait_for_workers(2, timeout=30)


def _sleepy_loss(w, X):
    time.sleep(0.25)
    return dnp.sum((X @ w) ** 2)


def test_loader_shards_lost_in_the_middle_of_a_call_are_loaded_again(client):
    import threading

    X = np.random.default_rng(0).normal(size=(80, 3))
    reference = ShardedObjective(_sleepy_loss, X).value_and_grad(np.ones(3))
    obj = ShardedObjective(_sleepy_loss, [lambda k=k: X[10 * k:10 * (k + 1)] for k in range(8)], engine=client)
    obj.value(np.ones(3))
    victim = max(client.run(os.getpid).values())
    threading.Timer(0.3, os.kill, (victim, signal.SIGKILL)).start()  # while the 8 tasks (1 s per worker) run
    assert_bitwise(obj.value_and_grad(np.ones(3)), reference)
    assert victim not in client.run(os.getpid).values()
    client.wait_for_workers(2, timeout=30)


def test_a_broken_process_pool_names_the_lost_shards():
    X, y = data(400, 3)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        obj = ShardedObjective(logistic, (X, y), engine=ex, shards=4)
        obj.value(np.zeros(3))
        for pid in list(ex._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(ShardsLostError, match=r"shards \[") as info:
            obj.grad(np.zeros(3))
        assert info.value.shards and set(info.value.shards) <= {0, 1, 2, 3}


def _slow_loss(w, X):
    if X[0, 0] > 0 and w[0] > 1.5:  # shard 1 hangs (for longer than the timeout) at w[0] = 2; shard 0 never does
        time.sleep(3.0)
    return dnp.sum(X @ w)


@pytest.mark.parametrize("engine", ["client", "pool"])
def test_timeout_bounds_a_hung_worker(engine, request):
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 2, axis=0)
    # first, without a timeout: a worker just restarted by another test may take seconds to import dualrev
    ShardedObjective(_slow_loss, X, engine=request.getfixturevalue(engine), shards=2).value(np.ones(2))
    obj = ShardedObjective(_slow_loss, X, engine=request.getfixturevalue(engine), shards=2, timeout=0.5)
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"shards \[1\] did not finish within the timeout of 0.5 s"):
        obj.value(np.array([2.0, 1.0]))
    assert time.perf_counter() - start < 2.5


def test_an_error_in_the_loss_names_the_shard(pool, client):
    def picky(w, X):
        if X[0, 0] > 5:
            raise ArithmeticError("bad row")
        return dnp.sum(X @ w)

    X = np.zeros((6, 2))
    X[4:, 0] = 9.0
    for engine in (None, pool, client):  # on Dask, shard 2 is one of several shards evaluated by one task
        obj = ShardedObjective(picky, X, engine=engine, shards=3)
        with pytest.raises(ArithmeticError, match="bad row") as info:
            obj.value(np.ones(2))
        assert "shard 2" in "".join(getattr(info.value, "__notes__", []))


# -- bad input, refused before any work is sent --


class CountingExecutor(ThreadPoolExecutor):
    """Records the shards it is given work on."""

    shards = set()

    def submit(self, fn, data_id, program_id, shards, *a, **k):
        CountingExecutor.shards.update(shards)
        return super().submit(fn, data_id, program_id, shards, *a, **k)


@pytest.mark.parametrize("data, match", [
    ([np.ones((3, 2)), np.ones((3, 4))], "trailing shape"),
    ([np.ones((3, 2)), np.ones((3, 2), np.float32)], "dtype"),
    ([], "empty"),
    ([(np.ones((3, 2)), np.ones(3)), np.ones((3, 2))], "holds 1 arrays"),
    ([(np.ones((3, 2)), np.ones(4))], "rows"),
    ((np.ones((3, 2)), np.ones(4)), "rows"),
    ((), "empty tuple"),
    (np.ones(()), "0-d"),
    (np.ones((0, 2)), "no rows"),
    ([np.ones((0, 2))], "no rows"),
    ([lambda: np.ones(2), np.ones(2)], "mixes"),
])
def test_bad_data_is_refused_before_any_work(data, match):
    with CountingExecutor(1) as ex:
        with pytest.raises(ValueError if match != "mixes" else TypeError, match=match):
            ShardedObjective(logistic, data, engine=ex)
    assert not CountingExecutor.shards


def test_loaded_shards_are_checked_before_any_evaluation():
    loaders = [lambda: (np.ones((3, 2)),), lambda: (np.ones((3, 5)),)]
    with pytest.raises(ValueError, match="shard 1, array 0 has trailing shape"):
        ShardedObjective(logistic, loaders)


def test_dask_array_layouts_are_checked(client):
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match=r"rechunk\(\{1: -1\}\)"):
        ShardedObjective(logistic, da.ones((10, 4), chunks=(5, 2)), engine=client)
    with pytest.raises(ValueError, match="row chunks"):
        ShardedObjective(logistic, (da.ones((10, 4), chunks=(5, 4)), da.ones(10, chunks=2)), engine=client)
    with pytest.raises(TypeError, match="mixes Dask arrays"):
        ShardedObjective(logistic, (da.ones((10, 4), chunks=(5, 4)), np.ones(10)), engine=client)


def test_bad_losses_and_params_are_reported_at_the_first_call():
    X, y = data(40, 3)
    with CountingExecutor(1) as ex:
        nonscalar = ShardedObjective(lambda w, X, y: X @ w, (X, y), engine=ex)
        with pytest.raises(TypeError, match=r"must return a scalar.*shape \(5,\)"):
            nonscalar.value(np.zeros(3))
        assert CountingExecutor.shards == {0}  # the probe on shard 0 only
        complex_loss = ShardedObjective(lambda w, X, y: dnp.sum(X @ w) * 1j, (X, y))
        with pytest.raises(TypeError, match="real"):
            complex_loss.value(np.zeros(3))
    obj = ShardedObjective(logistic, (X, y))
    with pytest.raises(ValueError, match=r"failed with ValueError.*structure and shapes"):
        obj.value(np.zeros(4))  # the loss cannot take it
    obj.value(np.zeros(3))
    with pytest.raises(ValueError, match="first called with"):
        obj.grad((np.zeros(3),))
    with pytest.raises(ValueError, match="first called with"):
        obj.grad(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="structure of params"):
        obj.hvp(np.zeros(3), np.zeros(2))
    assert np.isnan(obj.value(np.array([0.0, np.nan, 0.0])))  # like dr.value_and_grad: NaN in, NaN out
    with pytest.raises(ValueError, match="x0 contains NaN"):
        minimize(obj, np.array([0.0, np.nan, 0.0]))
    with pytest.raises(TypeError, match="float"):
        obj.value(np.zeros(3, int))
    with pytest.raises(TypeError, match="args must be empty"):
        minimize(obj, np.zeros(3), args=(1,))


def test_bad_least_squares_input():
    t = np.linspace(0, 1, 20)
    res = ShardedResiduals(lambda p, t: p[0] * t - 1.0, t, shards=2)
    with pytest.raises(ValueError, match="x0 contains NaN"):
        least_squares(res, np.array([np.nan]))
    with pytest.raises(TypeError, match="args must be empty"):
        least_squares(res, np.ones(1), args=(2,))
    with pytest.raises(TypeError, match="real"):
        least_squares(ShardedResiduals(lambda p, t: p[0] * t * 1j, t), np.ones(1))
    assert np.isclose(res.cost(np.ones(1)), 0.5 * np.sum((t - 1.0) ** 2))
    cost, JtJ, Jtr = res.normal_equations(np.ones(1))
    np.testing.assert_allclose(JtJ, [[np.sum(t * t)]]) and np.testing.assert_allclose(Jtr, [np.sum(t * (t - 1))])


def test_bad_arguments():
    X = np.ones((4, 2))
    with pytest.raises(TypeError, match="callable"):
        ShardedObjective(3, X)
    with pytest.raises(ValueError, match="reduce"):
        ShardedObjective(logistic, X, reduce="max")
    with pytest.raises(TypeError, match="engine must be"):
        ShardedObjective(logistic, X, engine="dask")
    with pytest.raises(ValueError, match="timeout"):
        ShardedObjective(logistic, X, timeout=0)
    with pytest.raises(ValueError, match="shards must be"):
        ShardedObjective(logistic, X, shards=0)
    with pytest.raises(ValueError, match="already sharded"):
        ShardedObjective(logistic, [X], shards=2)


def test_progress_without_tqdm_prints_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    X, y = data(300, 3)
    obj = ShardedObjective(penalised, (X, y), shards=3)
    out = io.StringIO()
    with progress(obj, desc="fit", file=out) as callback:
        res = minimize(obj, np.zeros(3), method="newton", callback=callback)
    lines = out.getvalue().splitlines()
    assert len(lines) == res.nit and lines[-1].startswith(f"fit iteration {res.nit}: f ")
    fit = least_squares(ShardedResiduals(lambda p, x, y: p[0] * x - y, (X[:, 0], y)), np.ones(1),
                        callback=progress(obj, file=out))
    assert fit.success
