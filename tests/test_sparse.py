"""dualrev.sparse: detected patterns against the nonzeros of dense derivatives (never a missing nonzero, exact on the
catalogue of structures), colorings (valid, with their counts against the known optima), values against dense
jacfwd/hessian, input kinds, errors, and the guard against a changed program."""

import numpy as np
import pytest
import scipy.sparse as sp

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.sparse import (
    color_columns,
    color_rows,
    hessian,
    hessian_sparsity,
    jacobian,
    jacobian_sparsity,
    star_coloring,
)

RNG = np.random.default_rng(0)
IDX_I = RNG.integers(0, 12, 15)
IDX_J = RNG.integers(0, 12, 15)
B = RNG.standard_normal((3, 3))
A = RNG.standard_normal((4, 12))


def _stencil(u):
    p = dnp.pad(u, 1)
    return 4 * u - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]


# -- the catalogue: Jacobians (vector -> vector) of size-12 inputs, and the exact pattern where it is known --

JACOBIANS = {
    "diagonal": (lambda x: dnp.sin(x) * x, np.eye(12)),
    "banded": (lambda x: x[1:] ** 2 - x[:-1] * 3.0, np.eye(11, 12, 1) + np.eye(11, 12)),
    "block_diagonal": (
        lambda x: dnp.reshape(dnp.tanh(dnp.reshape(x, (4, 3)) @ B), (-1,)),
        np.kron(np.eye(4), np.ones((3, 3))),
    ),
    "arrow": (lambda x: x * x[0] + x[-1], None),
    "stencil": (lambda x: dnp.reshape(_stencil(dnp.reshape(x, (3, 4))) + dnp.reshape(x, (3, 4)) ** 3, (-1,)), None),
    "random_indexing": (lambda x: x[IDX_I] * dnp.exp(x[IDX_J]), None),
    "concatenate_stack_transpose": (
        lambda x: dnp.concatenate([dnp.stack([x[:3], x[3:6]]).T.ravel(), x[6:] / x[:6]]),
        None,
    ),
    "cumsum_prod_max": (
        lambda x: dnp.concatenate(
            [dnp.cumsum(x[:4]), dnp.prod(dnp.reshape(x, (4, 3)), axis=1), dnp.max(dnp.reshape(x, (3, 4)), axis=0)]
        ),
        None,
    ),
    "where_scatter": (lambda x: dnp.where(x > 0.0, x, x**2).at[np.array([0, 0, 5])].add(x[:3] * x[3:6]), None),
    "matmul_einsum": (
        lambda x: dnp.concatenate(
            [A @ x, dnp.einsum("ij,jk->ik", dnp.reshape(x[:6], (2, 3)), dnp.reshape(x[6:], (3, 2))).ravel()]
        ),
        None,
    ),
    "sort_linalg_dense": (
        lambda x: dnp.concatenate(
            [dnp.sort(x[:4]), dnp.linalg.solve(dnp.reshape(x[4:8], (2, 2)) + 3 * np.eye(2), x[8:10]), x[10:] * 2.0]
        ),
        None,
    ),
}

# Conservative by design, for a pattern valid at every point: max (all of the group, not just the argmax), where
# (both branches), sort (any element of the line), linalg (dense)
CONSERVATIVE = {"sort_linalg_dense", "where_scatter", "cumsum_prod_max"}

HESSIANS = {
    "diagonal": (lambda x: dnp.sum(dnp.exp(x) * x), np.eye(12)),
    "banded": (
        lambda x: dnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
        np.eye(12, k=1) + np.eye(12) + np.eye(12, k=-1),
    ),
    "block_diagonal": (
        lambda x: dnp.sum(dnp.sum(dnp.reshape(x, (4, 3)), axis=1) ** 2),
        np.kron(np.eye(4), np.ones((3, 3))),
    ),
    "arrow": (lambda x: dnp.sum(x[0] * x[1:] ** 2) + x[0] ** 3, None),
    "stencil": (lambda x: dnp.sum(_stencil(dnp.reshape(x, (3, 4))) ** 2 / 2) + dnp.sum(x**4), None),
    "random_indexing": (lambda x: dnp.sum(dnp.sin(x[IDX_I] * x[IDX_J])), None),
    "linear_parts_add_nothing": (lambda x: dnp.sum(A @ x) + x[0] * x[5] + dnp.sum(dnp.abs(x)), None),
    "division_power_einsum": (
        lambda x: dnp.sum(x[:6] / x[6:]) + dnp.einsum("i,i->", x[:3], x[3:6]) + (x[7] ** 2 + 1) ** 1.25,
        None,
    ),
    "minimal_surface": (
        lambda x: dnp.sum(dnp.sqrt(1 + (dnp.reshape(x, (3, 4))[1:] - dnp.reshape(x, (3, 4))[:-1]) ** 2)),
        None,
    ),
    "unused_values_add_nothing": (lambda x: dnp.sum((x**2)[:2]), np.diag([1.0, 1] + [0] * 10)),
}


def _points(k=3):
    return [RNG.uniform(0.5, 1.5, 12) * RNG.choice([-1, 1], 12) for _ in range(k)]


def _dense_support(mats):
    return np.any([np.abs(m) > 0 for m in mats], axis=0)


@pytest.mark.parametrize("name", JACOBIANS)
def test_jacobian_pattern_never_misses_a_nonzero_and_is_exact(name):
    f, exact = JACOBIANS[name]
    points = _points()
    P = jacobian_sparsity(f, points[0]).toarray()
    dense = [dr.jacfwd(f)(x) for x in points]
    support = _dense_support(dense)
    assert P.shape == support.shape
    assert not np.any(support & ~P), f"{name}: a nonzero is missing from the pattern"
    if exact is not None:
        np.testing.assert_array_equal(P, exact != 0)
    elif name not in CONSERVATIVE:
        np.testing.assert_array_equal(P, support)
    jac = jacobian(f)
    for x, D in zip(points, dense):
        J = jac(x)
        assert sp.isspmatrix_csr(J) or isinstance(J, sp.csr_matrix)
        np.testing.assert_allclose(J.toarray(), D, rtol=1e-12, atol=1e-12)
    assert jac.detections == 1
    assert jac.coloring.ncolors <= P.shape[1]


@pytest.mark.parametrize("name", HESSIANS)
def test_hessian_pattern_never_misses_a_nonzero_and_is_exact(name):
    f, exact = HESSIANS[name]
    points = _points()
    P = hessian_sparsity(f, points[0]).toarray()
    dense = [dr.hessian(f)(x) for x in points]
    support = _dense_support(dense)
    assert not np.any(support & ~P), f"{name}: a nonzero is missing from the pattern"
    assert np.array_equal(P, P.T)
    if exact is not None:
        np.testing.assert_array_equal(P, exact != 0)
    else:
        np.testing.assert_array_equal(P, support)
    hess = hessian(f)
    for x, D in zip(points, dense):
        np.testing.assert_allclose(hess(x).toarray(), D, rtol=1e-12, atol=1e-12)


def test_jacobian_modes_agree_and_the_cheaper_one_is_chosen():
    f = JACOBIANS["arrow"][0]  # dense columns (x[0], x[-1]): reverse needs n colors, forward 3
    x = _points(1)[0]
    auto = jacobian(f)
    Ja = auto(x)
    assert auto.mode == "forward" and auto.ncolors == 3
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(jacobian(f, mode=mode)(x).toarray(), Ja.toarray(), rtol=1e-13)
    # a dense row (the last output reads every input): reverse mode wins
    g = lambda x: dnp.concatenate([x[1:] ** 2, dnp.sum(x, keepdims=True)])
    jg = jacobian(g)
    np.testing.assert_allclose(jg(x).toarray(), dr.jacfwd(g)(x), rtol=1e-13)
    assert jg.mode == "reverse" and jg.ncolors == 2


# -- colorings --


def _tridiagonal(n):
    return sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")


def _five_point(m):
    return sp.kronsum(_tridiagonal(m), _tridiagonal(m), format="csr")


def test_color_counts_against_known_optima():
    # Optimum 3 for tridiagonal (Jacobian columns, rows; Hessian star): reached. Optimum 5 for the five-point stencil
    # Jacobian (colors (i + 2j) mod 5) and for a star coloring of the grid: the greedy orderings give 6-7, within a
    # factor 1.4 (the figure docs/sparse.md reports).
    T = _tridiagonal(50)
    assert color_columns(T).ncolors == 3 and color_rows(T).ncolors == 3 and star_coloring(T).ncolors == 3
    L = _five_point(12)
    for ordering in ("largest_first", "smallest_last", "natural"):
        assert 5 <= color_columns(L, ordering).ncolors <= 7
        assert 5 <= star_coloring(L, ordering).ncolors <= 7
    arrow = sp.lil_matrix((30, 30))
    arrow[0, :] = arrow[:, 0] = 1
    arrow.setdiag(1)
    assert star_coloring(arrow).ncolors == 2  # where a column coloring needs all 30
    assert color_columns(arrow).ncolors == 30 and color_rows(arrow).ncolors == 30


@pytest.mark.parametrize("seed", range(8))
def test_colorings_recover_every_nonzero_of_random_patterns(seed):
    rng = np.random.default_rng(seed)
    J = sp.random(25, 40, density=0.08, random_state=seed, format="csr")
    J.data = rng.standard_normal(J.nnz)
    for color in (color_columns, color_rows):
        for ordering in ("largest_first", "smallest_last", "natural"):
            c = color(J, ordering)
            assert c.valid()
            np.testing.assert_allclose(c.decompress(c.compressed(J.toarray())).toarray(), J.toarray())
    R = sp.random(40, 40, density=0.06, random_state=seed)
    H = (R + R.T + sp.diags(rng.uniform(1, 2, 40))).toarray()
    for ordering in ("largest_first", "smallest_last", "natural"):
        c = star_coloring(H != 0, ordering)
        assert c.valid()
        np.testing.assert_allclose(c.decompress(c.compressed(H)).toarray(), H)


# -- API: input kinds, user patterns, the guard, errors --


def test_input_kinds():
    f = lambda x: dnp.sum(x**3)
    np.testing.assert_allclose(hessian(f)(2.0).toarray(), [[12.0]])
    np.testing.assert_allclose(hessian(f)(np.float64(2.0)).toarray(), [[12.0]])
    np.testing.assert_allclose(hessian(f)(np.array(2.0)).toarray(), [[12.0]])
    # a list is a pytree, as for dr.hessian and JAX: its leaves are the variables
    np.testing.assert_allclose(hessian(lambda v: v[0] ** 3 * v[1])([1.0, 2.0]).toarray(), [[12.0, 3.0], [3.0, 0.0]])
    H32 = hessian(f)(np.array([1.0, 2.0], np.float32))
    assert H32.dtype == np.float32
    np.testing.assert_allclose(H32.toarray(), np.diag([6.0, 12.0]))
    tree = {"a": np.array([1.0, 2.0]), "b": 3.0}
    g = lambda t: t["a"][0] * t["b"] ** 2 + dnp.sum(t["a"] ** 2)
    H = hessian(g)(tree).toarray()
    np.testing.assert_allclose(H, [[2.0, 0.0, 6.0], [0.0, 2.0, 0.0], [6.0, 0.0, 2.0]])
    J = jacobian(lambda t: (t["a"] * t["b"], t["b"]))(tree).toarray()
    np.testing.assert_allclose(J, [[3.0, 0, 1.0], [0, 3.0, 2.0], [0, 0, 1.0]])
    # extra arguments are passed through
    np.testing.assert_allclose(jacobian(lambda x, c: x * c)(np.ones(3), 2.0).toarray(), 2 * np.eye(3))


def test_user_pattern_skips_detection():
    f = HESSIANS["banded"][0]
    x = _points(1)[0]
    pattern = _tridiagonal(12)
    hess = hessian(f, sparsity=pattern)
    np.testing.assert_allclose(hess(x).toarray(), dr.hessian(f)(x), rtol=1e-12)
    assert hess.detections == 0 and hess.ncolors == 3
    jac = jacobian(lambda x: x[1:] - x[:-1], sparsity=np.eye(11, 12) + np.eye(11, 12, 1))
    assert jac(np.ones(12)).nnz == 22 and jac.detections == 0
    with pytest.raises(ValueError, match="sparsity has shape"):
        jacobian(lambda x: x[1:] - x[:-1], sparsity=np.eye(12))(np.ones(12))
    with pytest.raises(ValueError, match="square"):
        hessian(f, sparsity=np.ones((3, 4)))


def test_guard_detects_again_when_the_branch_changes():
    def f(x):
        if x[0] > 0:
            return dnp.sum(x[:2] ** 2)
        return dnp.sum(x**2) + x[0] * x[-1]

    hess = hessian(f, jit=False)  # eagerly: the program is recorded at each call; a known one is not detected again
    a, b = np.array([1.0, 2, 3]), np.array([-1.0, 2, 3])
    np.testing.assert_allclose(hess(a).toarray(), dr.hessian(f)(a))
    np.testing.assert_allclose(hess(b).toarray(), dr.hessian(f)(b))
    assert hess.detections == 2
    np.testing.assert_allclose(hess(a).toarray(), dr.hessian(f)(a))
    assert hess.detections == 2 and hess.pattern.nnz == 2


def test_errors_are_clear():
    with pytest.raises(TypeError, match="floating point"):
        hessian(lambda x: dnp.sum(x))(np.arange(3))
    with pytest.raises(TypeError, match="scalar"):
        hessian(lambda x: x**2)(np.ones(3))
    with pytest.raises(TypeError, match="scalar"):
        hessian_sparsity(lambda x: x**2, np.ones(3))
    with pytest.raises(TypeError, match="callable"):
        jacobian(3)
    with pytest.raises(ValueError, match="mode"):
        jacobian(dnp.sin, mode="sideways")
    with pytest.raises(ValueError, match="ordering"):
        hessian(dnp.sum, ordering="random")
    with pytest.raises(TypeError, match="traced"):
        dr.grad(lambda x: hessian(lambda y: dnp.sum(y**3))(x).sum())(np.ones(2))


def test_dr_sparse_attribute():
    assert dr.sparse.hessian is hessian


# -- the optimizers --


def _chain(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("method", ["newton", "trust-exact"])
def test_minimize_sparse_hessian_path_matches_the_dense_one(method):
    from dualrev import optimize

    x0 = np.tile([-1.2, 1.0], 10)
    dense = optimize.minimize(_chain, x0, method=method, tol=1e-10)
    sparse = optimize.minimize(_chain, x0, method=method, tol=1e-10, options={"sparse": True})
    assert sparse.success and sparse.nit == dense.nit
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-10)
    assert sp.issparse(sparse.hess)
    np.testing.assert_allclose(sparse.hess.toarray(), dense.hess, rtol=1e-10, atol=1e-8)
    given = optimize.minimize(_chain, x0, method=method, tol=1e-10, options={"sparse": _tridiagonal(20)})
    np.testing.assert_allclose(given.x, dense.x, atol=1e-10)


def test_sparse_newton_shifts_an_indefinite_hessian():
    from dualrev import optimize
    from dualrev.optimize._sparse import positive_definite_lu, sparse_newton_direction

    H = sp.csr_matrix(np.diag([2.0, -1.0, 3.0]))
    assert positive_definite_lu(H) is None and positive_definite_lu(sp.identity(3)) is not None
    p, tau = sparse_newton_direction(H, np.ones(3))
    assert tau > 1 and np.dot(p, np.ones(3)) < 0
    # a saddle at x0 = 0: the shifted steps still find the minimum
    res = optimize.minimize(
        lambda x: dnp.sum(x**4 - x**2) + x[0] * x[1], np.full(6, 0.1), method="newton", options={"sparse": True}
    )
    assert res.success
    with pytest.raises(ValueError, match="eigen"):
        optimize.minimize(
            _chain, np.zeros(4), method="newton", options={"sparse": True, "hessian_modification": "eigen"}
        )
    with pytest.raises(TypeError, match="sparse"):
        optimize.minimize(_chain, np.zeros(4), method="newton", options={"sparse": "yes"})
    with pytest.raises(ValueError, match="unknown option"):
        optimize.minimize(_chain, np.zeros(4), method="bfgs", options={"sparse": True})


@pytest.mark.parametrize("method", ["lm", "gn"])
def test_least_squares_sparse_jacobian(method):
    from dualrev import optimize

    def residuals(x):
        return dnp.concatenate([10.0 * (x[1:] - x[:-1] ** 2), 1.0 - x[:-1]])

    x0 = np.tile([-1.2, 1.0], 5)
    dense = optimize.least_squares(residuals, x0, method=method)
    sparse = optimize.least_squares(residuals, x0, method=method, jac="sparse")
    assert sparse.success and sp.issparse(sparse.jac) and sparse.nit == dense.nit
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-9)
    np.testing.assert_allclose(sparse.jac.toarray(), dense.jac, atol=1e-9)
    pattern = jacobian_sparsity(residuals, x0)
    given = optimize.least_squares(residuals, x0, method=method, jac_sparsity=pattern)
    np.testing.assert_allclose(given.x, dense.x, atol=1e-9)
    with pytest.raises(ValueError, match="jac_sparsity"):
        optimize.least_squares(residuals, x0, jac="fwd", jac_sparsity=pattern)


def test_trust_constr_gets_sparse_jacobians_and_hessians():
    import warnings

    import scipy.optimize as so

    from dualrev import optimize

    x0 = np.zeros(12)
    runs = []
    for sparse in (True, False):
        fun, jac, hess, _ = optimize.scipy_callables(_chain, sparse=sparse)
        con = optimize.scipy_constraint(lambda x: x[1:] ** 2 + x[:-1], -1.0, 1.5, sparse=sparse)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(
                so.minimize(
                    fun, x0, jac=jac, hess=hess, constraints=[con], method="trust-constr", options={"gtol": 1e-10}
                )
            )
        if sparse:
            assert sp.issparse(hess(x0)) and sp.issparse(con.jac(x0)) and sp.issparse(con.hess(x0, np.ones(11)))
    assert runs[0].status in (1, 2)
    np.testing.assert_allclose(runs[0].x, runs[1].x, atol=1e-8)


# -- every family: never a missing nonzero (Jacobian and Hessian), on functions beyond the catalogue --

M = RNG.standard_normal((4, 6))
SWEEP = {
    "var_std": lambda x: dnp.stack([dnp.var(x[:6]), dnp.std(x[6:])]),
    "norm": lambda x: dnp.linalg.norm(dnp.reshape(x, (3, 4)), axis=1),
    "kron": lambda x: dnp.kron(x[:3], x[3:6]),
    "tensordot": lambda x: dnp.tensordot(dnp.reshape(x, (3, 4)), dnp.reshape(x, (4, 3)), axes=1).ravel(),
    "trace_diag": lambda x: dnp.concatenate(
        [dnp.diagonal(dnp.reshape(x, (3, 4))), dnp.trace(dnp.reshape(x, (3, 4)))[None]]
    ),
    "repeat_flip_roll": lambda x: dnp.concatenate([dnp.repeat(x[:3], 2), dnp.flip(x[3:6]), dnp.roll(x[6:], 2)]),
    "take_along": lambda x: dnp.take_along_axis(
        dnp.reshape(x, (3, 4)), np.array([[0, 2], [1, 1], [3, 0]]), axis=1
    ).ravel(),
    "median_sort": lambda x: dnp.concatenate(
        [dnp.median(dnp.reshape(x, (3, 4)), axis=1), dnp.sort(dnp.reshape(x, (3, 4)), axis=0).ravel()]
    ),
    "matmul_batched": lambda x: (dnp.reshape(x, (2, 2, 3)) @ dnp.reshape(x[:6], (1, 3, 2))).ravel(),
    "matvec": lambda x: (M @ dnp.reshape(x[:6], (6,))) * x[6:10],
    "vecmat": lambda x: x[:4] @ dnp.reshape(x[:12], (4, 3)),
    "einsum3": lambda x: dnp.einsum("i,j,k->ij", x[:3], x[3:6], x[6:9]).ravel(),
    "einsum_diag": lambda x: dnp.einsum("ii->i", dnp.reshape(x[:9], (3, 3))) * x[9:12],
    "inv_det": lambda x: dnp.concatenate(
        [
            dnp.linalg.inv(dnp.reshape(x[:4], (2, 2)) + 3 * np.eye(2)).ravel(),
            dnp.linalg.det(dnp.reshape(x[4:8], (2, 2)))[None],
        ]
    ),
    "cumprod_min": lambda x: dnp.concatenate(
        [dnp.cumprod(dnp.reshape(x, (3, 4)), axis=1).ravel(), dnp.min(dnp.reshape(x, (3, 4)), axis=1)]
    ),
    "clip_power": lambda x: dnp.clip(x, -0.5, 0.5) ** 3 + dnp.maximum(x, 0.2) * x,
    "at_set_mul": lambda x: x.at[np.array([1, 3])].set(x[:2] ** 2).at[0].multiply(x[5]),
    "broadcast_outer": lambda x: (x[:3, None] * x[None, 3:7]).ravel(),
    "split_hstack": lambda x: dnp.hstack(dnp.split(x, 3)[::-1]) * dnp.sin(x),
    "mean_keepdims": lambda x: (
        (dnp.reshape(x, (3, 4)) - dnp.mean(dnp.reshape(x, (3, 4)), axis=0, keepdims=True)).ravel() ** 2
    ),
    "logsumexp_like": lambda x: dnp.log(dnp.sum(dnp.exp(dnp.reshape(x, (3, 4))), axis=1)),
    "where_nested": lambda x: dnp.where(x[:6] > x[6:], x[:6] * x[6:], dnp.exp(x[6:])),
    "arctan2_hypot": lambda x: dnp.arctan2(x[:6], x[6:]) + dnp.hypot(x[6:], 2.0),
}


@dr.custom_jvp
def softplus(x):
    return dnp.log1p(dnp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t / (1 + dnp.exp(-x))


SWEEP["custom_softplus"] = lambda x: softplus(x[:6]) * x[6:]  # a custom rule: the dense rule


@pytest.mark.parametrize("name", sorted(SWEEP))
def test_every_family_never_misses_a_nonzero(name):
    f = SWEEP[name]
    x = RNG.uniform(0.3, 1.5, 12) * RNG.choice([-1, 1], 12)
    P = jacobian_sparsity(f, x).toarray()
    assert not np.any((np.abs(dr.jacfwd(f)(x)) > 0) & ~P)

    def g(x):
        y = f(x)
        return dnp.sum(y**2) + dnp.sum(y)

    Ph = hessian_sparsity(g, x).toarray()
    assert not np.any((np.abs(dr.hessian(g)(x)) > 0) & ~Ph)


def test_results_have_exactly_the_pattern_structure():
    # solvers such as IPOPT take the structure once and the values as flat arrays in that order
    f = HESSIANS["stencil"][0]
    hess = hessian(f)
    H = hess(_points(1)[0])
    assert np.array_equal(H.indptr, hess.pattern.indptr) and np.array_equal(H.indices, hess.pattern.indices)
    g = JACOBIANS["random_indexing"][0]
    jac = jacobian(g)
    J = jac(_points(1)[0])
    assert np.array_equal(J.indptr, jac.pattern.indptr) and np.array_equal(J.indices, jac.pattern.indices)


def test_sparse_trust_exact_takes_the_hard_case():
    # g has no component along the negative-curvature directions (x[0] = x[1] = 0): the hard case, where an
    # interior step would stall at the saddle; the boundary step along the eigenvector escapes as the dense one does
    from dualrev import optimize

    def f(x):
        return dnp.sum(x**4 - x**2) + x[0] * x[1]

    x0 = np.array([0.0, 0.0, 1.0, -1.0, 0.5, 0.0])
    sparse = optimize.minimize(f, x0, method="trust-exact", options={"sparse": True})
    dense = optimize.minimize(f, x0, method="trust-exact")
    assert sparse.success and dense.success
    np.testing.assert_allclose(sparse.fun, dense.fun, rtol=1e-10)
    np.testing.assert_allclose(sparse.fun, -2.125, rtol=1e-10)


# -- compiled with dr.jit (jit=True, the default) --


@pytest.mark.parametrize("name", list(HESSIANS))
def test_jit_and_eager_hessians_agree(name):
    f = HESSIANS[name][0]
    compiled, eager = hessian(f), hessian(f, jit=False)
    for x in _points(2):
        H, E = compiled(x), eager(x)
        np.testing.assert_allclose(H.toarray(), E.toarray(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(H.toarray(), dr.hessian(f)(x), rtol=1e-12, atol=1e-12)
        H.check_format(full_check=True)
    info = compiled.cache_info()
    assert info["traces"] == 1 and info["hits"] == 1 and info["detections"] == 1


@pytest.mark.parametrize("mode", [None, "forward", "reverse"])
@pytest.mark.parametrize("name", ["banded", "stencil", "random_indexing", "where_scatter", "matmul_einsum"])
def test_jit_and_eager_jacobians_agree(name, mode):
    f = JACOBIANS[name][0]
    compiled, eager = jacobian(f, mode=mode), jacobian(f, mode=mode, jit=False)
    for x in _points(2):
        np.testing.assert_allclose(compiled(x).toarray(), eager(x).toarray(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(compiled(x).toarray(), dr.jacfwd(f)(x), rtol=1e-12, atol=1e-12)
    assert compiled.mode == eager.mode and compiled.cache_info()["traces"] == 1


def test_jit_branch_change_detects_again_and_stays_exact():
    # the first branch's pattern misses entries of the second: a compiled variant must never reuse it
    def f(x):
        if x[0] > 0:
            return dnp.sum(x[:2] ** 2)
        return dnp.sum(x**2) + x[0] * x[-1]

    hess = hessian(f)
    a, b = np.array([1.0, 2, 3]), np.array([-1.0, 2, 3])
    for x in (a, b, a, b, a + 1, b - 1):
        np.testing.assert_allclose(hess(x).toarray(), dr.hessian(f)(x), rtol=1e-12)
    info = hess.cache_info()
    assert info["detections"] == 2 and info["variants"] == 2 and info["retraces"] == 1 and info["hits"] == 4
    np.testing.assert_allclose(hess(b).toarray(), dr.hessian(f)(b))
    assert hess.pattern.nnz == 5  # the pattern the last call used: the second branch's


def test_jit_arguments_are_inputs_of_the_compiled_pass():
    # numbers and arrays in args are traced: new values run the same compiled code (constraint multipliers)
    def weighted(x, w, c):
        return dnp.sum(w * dnp.sin(x[1:] * x[:-1])) + c * x[0] ** 3

    hess = hessian(weighted)
    x = np.linspace(0.1, 1.0, 7)
    for k in range(3):
        w, c = np.arange(6.0) - k, float(k)
        np.testing.assert_allclose(hess(x, w, c).toarray(), dr.hessian(weighted)(x, w, c), rtol=1e-12, atol=1e-14)
    assert hess.cache_info()["traces"] == 1 and hess.detections == 1
    # an argument fun needs as a value (an index) is a guarded constant: a new index detects again, exactly
    def picked(x, idx):
        return dnp.sum(x[idx] ** 2 * x[0])

    hess = hessian(picked)
    for idx in (np.array([1, 2]), np.array([3, 4]), np.array([1, 2])):
        np.testing.assert_allclose(hess(x, idx).toarray(), dr.hessian(picked)(x, idx), rtol=1e-12)
    assert hess.detections == 2 and hess.cache_info()["hits"] == 1
    # past dr.jit's max_variants the pass runs eagerly (one warning naming picked), still exact
    indices = [np.array(pair) for pair in [(0, 3), (0, 4), (0, 5), (0, 6), (1, 3), (1, 4), (1, 5)]]
    with pytest.warns(RuntimeWarning, match="def picked"):
        results = [hess(x, idx) for idx in indices]
    for H, idx in zip(results, indices):
        np.testing.assert_allclose(H.toarray(), dr.hessian(picked)(x, idx), rtol=1e-12)
    assert hess.cache_info()["eager"] == 1
    # eagerly, patterns are kept for the recent programs only
    eager = hessian(picked, jit=False)
    for k in range(6):
        for j in range(k + 1, 7):
            eager(x, np.array([k, j]))
    assert eager.detections == 21 and eager.cache_info()["plans"] == 16


def test_jit_input_kinds_and_cache():
    f = lambda x: dnp.sum(x[1:] ** 3 * x[:-1])
    hess = hessian(f)
    x = np.linspace(0.5, 1.5, 5)
    for value in (x, x.reshape(5, 1), x.astype(np.float32)):
        H, E = hess(value), hessian(f, jit=False)(value)
        assert H.dtype == E.dtype == np.asarray(value).dtype
        np.testing.assert_allclose(H.toarray(), E.toarray(), rtol=1e-6 if H.dtype == np.float32 else 1e-12)
    assert hess.cache_info()["signatures"] == 3  # one compiled pass per input shape and dtype
    g = lambda t: t["a"][0] * t["b"] ** 2 + dnp.sum(t["a"] ** 2)
    tree = {"a": np.array([1.0, 2.0]), "b": 3.0}
    np.testing.assert_allclose(hessian(g)(tree).toarray(), [[2.0, 0.0, 6.0], [0.0, 2.0, 0.0], [6.0, 0.0, 2.0]])
    np.testing.assert_allclose(hessian(lambda s: s**4)(2.0).toarray(), [[48.0]])
    # the returned matrix is the caller's: changing it in place does not change the next one
    H = hess(x)
    H.data[:] = 0.0
    H.eliminate_zeros()
    np.testing.assert_allclose(hess(x).toarray(), dr.hessian(f)(x), rtol=1e-12)
    # a user pattern and guard=False compile as well
    user = hessian(f, sparsity=np.ones((5, 5)))
    np.testing.assert_allclose(user(x).toarray(), dr.hessian(f)(x), rtol=1e-12)
    trusting = hessian(f, guard=False)
    trusting(x), trusting(x + 1)
    assert trusting.detections == 1 and trusting.cache_info()["hits"] == 1


def test_jit_of_a_sparse_callable_is_a_clear_error():
    hess = hessian(lambda x: dnp.sum(x**3))
    with pytest.raises(TypeError, match="dr.jit"):
        dr.jit(hess)(np.ones(3))
    with pytest.raises(TypeError, match="dr.jit"):
        dr.jit(lambda x, y: hess(y, x))(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="dr.jit"):
        dr.jit(lambda x: jacobian(dnp.sin)(x).toarray())(np.ones(3))


def test_sparse_newton_compiles_its_hessian():
    from dualrev import optimize

    x0 = np.full(50, 0.5)
    res = optimize.minimize(_chain, x0, method="newton", tol=1e-10, options={"sparse": True})
    eager = optimize.minimize(_chain, x0, method="newton", tol=1e-10, options={"sparse": True}, jit=False)
    assert res.success and eager.success and sp.issparse(res.hess)
    np.testing.assert_allclose(res.x, eager.x, rtol=1e-12)
    assert res.nit == eager.nit
