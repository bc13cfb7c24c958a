"""Contractions: the primitives matmul (and ``@``) and einsum, and the composites built on them: dot, vdot, inner,
outer, tensordot, kron, matvec, vecmat, vecdot. Imports core and shape.

Everything is BLAS-backed where NumPy is: matrix products go to ``np.matmul``; ``einsum`` to ``np.einsum`` with a
contraction order (``optimize``) when it pays off. Under vmap, einsum gives the batch axis a letter of its own.
"""

from __future__ import annotations

import math

import numpy as np

from dualrev.core import Tracer, defprim, implements
from dualrev.numpy._batch import align, batch_loop, example_ndim
from dualrev.numpy.shape import (
    astype,
    broadcast_to,
    expand_dims,
    getitem,
    moveaxis,
    ravel,
    reshape,
    swapaxes,
    transpose,
)

__all__ = [
    "dot", "einsum", "einsum_path", "inner", "kron", "matmul", "matvec", "outer", "tensordot", "vdot", "vecdot",
    "vecmat",
]


# -- matmul --


# Batch axes that were broadcast are summed away by the engine; these rules only handle 1-D operands.
def _matmul_vjp_x(ct, ans, x, y):
    if np.ndim(y) == 1:  # ans = x @ y has x's shape without its last axis
        return expand_dims(ct, -1) * y
    if np.ndim(x) == 1:  # ct (..., m), y (..., n, m) -> (..., n); the engine sums the batch
        return getitem(matmul(y, expand_dims(ct, -1)), (Ellipsis, 0))
    return matmul(ct, swapaxes(y, -1, -2))


def _matmul_vjp_y(ct, ans, x, y):
    if np.ndim(x) == 1 and np.ndim(y) == 1:
        return ct * x
    if np.ndim(x) == 1:  # y (..., n, m): outer product of x with each ct row
        return expand_dims(x, -1) * expand_dims(ct, -2)
    if np.ndim(y) == 1:  # x (..., k, n), ct (..., k) -> (..., n)
        return getitem(matmul(expand_dims(ct, -2), x), (Ellipsis, 0, slice(None)))
    return matmul(swapaxes(x, -1, -2), ct)


def _matmul_batch(args, batched):
    # Vectors become matrices (a row on the left, a column on the right) so that every example is a stack of
    # matrices; the batch axis then leads the stack axes, and the added axes are dropped at the end.
    (x, y), (bx, by) = args, batched
    # One matrix shared by the batch: fold the batch into the rows of a single 2-D product (one BLAS call, not
    # one per example), e.g. a batch of vectors times a matrix, the common case of jacfwd/jacrev and of layers.
    if bx and not by and np.ndim(y) == 2:
        rows = reshape(x, (-1, x.shape[-1]))
        return reshape(matmul(rows, y), tuple(x.shape[:-1]) + (y.shape[-1],))
    if by and not bx and type(x) is np.ndarray and x.ndim == 2 and example_ndim(y, by) == 1:
        return matmul(y, np.ascontiguousarray(x.T))  # NumPy's matmul is slower on a transposed operand
    x_vec, y_vec = example_ndim(x, bx) == 1, example_ndim(y, by) == 1
    x = expand_dims(x, -2) if x_vec else x
    y = expand_dims(y, -1) if y_vec else y
    out = matmul(*align([x, y], batched))
    if x_vec or y_vec:
        out = getitem(out, (Ellipsis, 0 if x_vec else slice(None), 0 if y_vec else slice(None)))
    return out


matmul = defprim(np.matmul, supports_complex=True,
                 jvp=(lambda dx, ans, x, y: matmul(dx, y), lambda dy, ans, x, y: matmul(x, dy)),
                 vjp=(_matmul_vjp_x, _matmul_vjp_y), vjp_reads=((1,), (0,)), batch=_matmul_batch)

# -- einsum --
#
# The primitive takes canonical subscripts: explicit ("ab,bc->ac"), no ellipsis (its axes get letters of their
# own), each letter with one size in all operands (an operand's size-1 axis that broadcasts against a longer one
# gets a letter of its own, which is summed away: that is what broadcasting it means), and letters named in
# order of first appearance. The public ``einsum`` turns every NumPy form into that.

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_AUTO_OPTIMIZE_COST = 1 << 15  # below this many multiply-adds, np.einsum's own loop beats planning a BLAS path


def _strategy(optimize, subscripts, xs):
    """The ``optimize`` argument of np.einsum for these canonical subscripts and operands."""
    if len(xs) < 2:
        return False
    if optimize != "auto":
        return optimize
    sizes = {}
    for sub, x in zip(subscripts.split("->")[0].split(","), xs):
        sizes.update(zip(sub, np.shape(x)))
    return "greedy" if math.prod(sizes.values()) >= _AUTO_OPTIMIZE_COST else False


def _einsum_impl(*xs, subscripts, optimize):
    return np.einsum(subscripts, *xs, optimize=_strategy(optimize, subscripts, xs))


def _einsum_jvp(tangents, ans, *xs, subscripts, optimize):
    # Multilinear: the sum over operands of the einsum with that operand replaced by its tangent.
    out = None
    for i, t in enumerate(tangents):
        if t is not None:
            term = einsum_p(*xs[:i], t, *xs[i + 1:], subscripts=subscripts, optimize=optimize)
            out = term if out is None else out + term
    return out


def _einsum_vjp(ct, ans, *xs, argnum, subscripts, optimize):
    # The cotangent of operand i is an einsum of ct with the other operands that produces operand i's subscripts.
    # Its letters found neither in the output nor in another operand were summed within operand i alone: ct is
    # broadcast along them. A letter repeated in operand i (a diagonal) is given a fresh letter at each repeat,
    # tied to the first by an identity matrix, which puts the cotangent on the diagonal and zeros elsewhere.
    ins, out = subscripts.split("->")
    ins = ins.split(",")
    mine = ins[argnum]
    others = [j for j in range(len(xs)) if j != argnum]
    present = set(out).union(*(ins[j] for j in others))
    shape = np.shape(xs[argnum])
    fresh = iter([c for c in _LETTERS if c not in subscripts] + [None] * len(mine))
    target, eyes, eye_subs, seen = [], [], [], set()
    for c, n in zip(mine, shape):
        if c in seen:
            f = next(fresh)
            if f is None:
                raise ValueError(f"dualrev.numpy.einsum: too many axes for the derivative of {subscripts!r}")
            eyes.append(np.eye(n, dtype=ct.dtype))
            eye_subs.append(c + f)
            target.append(f)
        else:
            seen.add(c)
            target.append(c)
    repeated = {s[0] for s in eye_subs}
    # letters that come from nowhere but operand i (and are not on a diagonal): broadcast afterwards
    broadcast = [k for k, c in enumerate(target) if c not in present and c in seen and c not in repeated]
    computed = "".join(c for k, c in enumerate(target) if k not in broadcast)
    lhs = ",".join([out] + [ins[j] for j in others] + eye_subs)
    if lhs == computed:
        g = ct
    else:
        g = einsum_p(ct, *(xs[j] for j in others), *eyes, subscripts=f"{lhs}->{computed}", optimize=optimize)
    if broadcast:
        g = broadcast_to(expand_dims(g, broadcast), shape)
    return g


def _first_appearance(subscripts):
    """The subscripts with their letters renamed a, b, c, ... in order of first appearance (the canonical form)."""
    names = {}
    for c in subscripts:
        if c in _LETTERS:
            names.setdefault(c, _LETTERS[len(names)])
    return "".join(names.get(c, c) for c in subscripts)


def _einsum_batch(args, batched, *, subscripts, optimize):
    # The batch axis is one more letter, on the batched operands and the output: the whole batch in one einsum.
    free = next((c for c in _LETTERS if c not in subscripts), None)
    if free is None:  # every letter taken (52 axes): no room for the batch axis, so example by example
        return batch_loop(einsum_p)(args, batched, subscripts=subscripts, optimize=optimize)
    ins, out = subscripts.split("->")
    ins = ",".join(free + sub if b else sub for sub, b in zip(ins.split(","), batched))
    return einsum_p(*args, subscripts=_first_appearance(f"{ins}->{free}{out}"), optimize=optimize)


def _einsum_reads(argnums, n):
    # each operand's cotangent contracts the cotangent with all the other operands
    return False, {j for i in argnums for j in range(n) if j != i}


einsum_p = defprim(_einsum_impl, name="einsum", supports_complex=True,
                   jvp=_einsum_jvp, vjp=_einsum_vjp, batch=_einsum_batch,
                   vjp_reads=_einsum_reads,
                   note="subscripts are canonical (explicit, no '...', broadcast size-1 axes summed under a letter of "
                        "their own); contracts with a BLAS path (np.einsum optimize='greedy') once it pays off, or "
                        "with the optimize strategy given ('greedy', 'optimal'); an explicit path is not kept")


def _dtype(x):
    return x.dtype if isinstance(x, Tracer) else np.asarray(x).dtype  # a tracer's dtype: the same in every example


def _letters_of(sublist):
    """A sublist of NumPy's interleaved form (ints in [0, 52) and Ellipsis) as subscripts (0 -> 'A', 26 -> 'a')."""
    out = []
    for s in sublist:
        if s is Ellipsis:
            out.append("...")
        else:
            s = int(s)
            if not 0 <= s < 52:
                raise ValueError(f"dualrev.numpy.einsum: subscript {s} is not in [0, 52)")
            out.append(chr(ord("A") + s) if s < 26 else chr(ord("a") + s - 26))
    return "".join(out)


def _split_args(args):
    """(subscripts string, operands) from either calling form of np.einsum."""
    if not args:
        raise TypeError("dualrev.numpy.einsum: no subscripts given")
    if isinstance(args[0], str):
        return args[0], list(args[1:])
    operands, subs = list(args[0::2]), [_letters_of(s) for s in args[1::2]]
    out = None
    if len(subs) < len(operands):  # an odd number of arguments: the last one is the output sublist
        out = _letters_of(operands.pop())
    return ",".join(subs) + ("" if out is None else "->" + out), operands


def canonical_subscripts(subscripts: str, shapes) -> str:
    """np.einsum's subscripts for operands of these shapes, in the primitive's canonical form.

    >>> canonical_subscripts("...j,jk", [(2, 1, 3), (3, 4)])
    'abc,cd->abd'
    """
    err = "dualrev.numpy.einsum: "
    subscripts = subscripts.replace(" ", "")
    if subscripts.count("->") > 1 or "-" in subscripts.replace("->", "") or ">" in subscripts.replace("->", ""):
        raise ValueError(err + f"malformed subscripts {subscripts!r}")
    explicit = "->" in subscripts
    lhs, out = subscripts.split("->") if explicit else (subscripts, None)
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(err + f"{len(ins)} operand subscripts for {len(shapes)} operands")
    for s in ins + ([out] if explicit else []):
        if any(c not in _LETTERS for c in s.replace("...", "")) or s.replace("...", "", 1).count("."):
            raise ValueError(err + f"invalid subscripts {s!r}: letters and one '...' only")
    # Labels: a letter, or ("...", k) for the k-th axis of the broadcast ellipsis (counted from the right).
    labels, n_ellipsis = [], 0
    for s, shape in zip(ins, shapes):
        ndim = len(shape)
        if "..." in s:
            before, after = s.split("...")
            k = ndim - len(before) - len(after)
            if k < 0:
                raise ValueError(err + f"subscripts {s!r} name more axes than the operand's {ndim}")
            n_ellipsis = max(n_ellipsis, k)
            labels.append(list(before) + [("...", k - i) for i in range(k)] + list(after))
        else:
            if len(s) != ndim:
                raise ValueError(err + f"subscripts {s!r} do not match an operand of {ndim} axes")
            labels.append(list(s))
    ell = [("...", k) for k in range(n_ellipsis, 0, -1)]
    if explicit:
        if "..." in out:
            before, after = out.split("...")
            out_labels = list(before) + ell + list(after)
        elif n_ellipsis:
            raise ValueError(err + f"output subscripts {out!r} need '...' for the operands' broadcast axes")
        else:
            out_labels = list(out)
        if len(set(out_labels)) != len(out_labels):
            raise ValueError(err + f"output subscripts {out!r} repeat a letter")
        missing = [c for c in out_labels if not any(c in lab for lab in labels)]
        if missing:
            raise ValueError(err + f"output letters {missing} are in no operand")
    else:  # NumPy's implicit output: the broadcast axes, then the letters used once, in alphabetical (ASCII) order
        counts = {}
        for lab in labels:
            for c in lab:
                counts[c] = counts.get(c, 0) + 1
        out_labels = ell + sorted(c for c, n in counts.items() if n == 1 and isinstance(c, str))
    # One size per label; an operand's size-1 axes that broadcast against a longer one get labels of their own.
    size = {}
    for lab, shape in zip(labels, shapes):
        mine = {}
        for c, n in zip(lab, shape):
            if mine.setdefault(c, n) != n:
                raise ValueError(err + f"repeated subscript {c!r} of an operand has different sizes {mine[c]}, {n}")
            if n != 1 and size.setdefault(c, n) != n:
                raise ValueError(err + f"subscript {c!r} has sizes {size[c]} and {n} (they do not broadcast)")
    for i, (lab, shape) in enumerate(zip(labels, shapes)):
        labels[i] = [("broadcast", i, c) if n == 1 and size.get(c, 1) != 1 else c for c, n in zip(lab, shape)]
    names = {}
    for c in [c for lab in labels for c in lab] + out_labels:
        names.setdefault(c, None)
    if len(names) > len(_LETTERS):
        raise ValueError(err + f"more than {len(_LETTERS)} distinct axes")
    names = dict(zip(names, _LETTERS))
    return ",".join("".join(names[c] for c in lab) for lab in labels) + "->" + "".join(names[c] for c in out_labels)


def _optimize_param(optimize):
    if optimize is False or optimize is None:
        return "auto"
    if optimize is True:
        return "greedy"
    if isinstance(optimize, str):
        if optimize not in ("greedy", "optimal"):
            raise ValueError(f"dualrev.numpy.einsum: optimize={optimize!r}; use False, True, 'greedy' or 'optimal'")
        return optimize
    return "auto"  # an explicit contraction path (from np.einsum_path): the rules contract other operands


@implements(np.einsum)
def einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """``np.einsum``: explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``) subscripts, any number of operands,
    repeated letters (diagonals, traces), ``...`` and size-1 broadcasting, and the interleaved form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    ``optimize``: False (NumPy's default) lets dualrev contract along a BLAS path once it pays off; True,
    'greedy' or 'optimal' choose the path strategy; an explicit path is accepted and not used (the derivative
    rules contract other operands).

    >>> einsum("bij,bjk->bik", x, y)
    """
    if out is not None:
        raise TypeError("dualrev.numpy.einsum: out= is not supported")
    subscripts, xs = _split_args(operands)
    if dtype is not None:
        dtype = np.dtype(dtype)
        for x in xs:
            if not np.can_cast(_dtype(x), dtype, casting=casting):
                raise TypeError(f"dualrev.numpy.einsum: cannot cast {_dtype(x)} to {dtype} with casting={casting!r}")
        xs = [astype(x, dtype) for x in xs]
    canonical = canonical_subscripts(subscripts, [np.shape(x) for x in xs])
    lhs, rhs = canonical.split("->")
    if lhs == rhs and isinstance(xs[0], (Tracer, np.ndarray)):  # one operand, unchanged
        return xs[0]
    return einsum_p(*xs, subscripts=canonical, optimize=_optimize_param(optimize))


@implements(np.einsum_path, nondiff=True)
def einsum_path(*operands, optimize="greedy", einsum_call=False):
    """``np.einsum_path``: the contraction order NumPy would use (a query: it does not depend on the values)."""
    # the path depends on the operands' shapes only: a traced operand (batched under vmap too) stands as zeros
    operands = [np.broadcast_to(np.zeros((), x.dtype), x.shape) if isinstance(x, Tracer) else x for x in operands]
    return np.einsum_path(*operands, optimize=optimize, einsum_call=einsum_call)


# -- composites --


def _axes_list(axes, ndim, name):
    axes = [axes] if np.ndim(axes) == 0 else list(axes)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"dualrev.numpy.{name}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"dualrev.numpy.{name}: repeated axis in {axes}")
    return out


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    """``np.tensordot``: contract ``axes`` of ``a`` with ``axes`` of ``b`` (as one matrix product). ``axes`` is an
    int N (the last N axes of ``a`` with the first N of ``b``), a pair of ints, or a pair of sequences of ints."""
    na, nb = np.ndim(a), np.ndim(b)
    if not isinstance(axes, (list, tuple)) and np.ndim(axes) == 0:
        axes = int(axes)
        if not 0 <= axes <= min(na, nb):
            raise ValueError(f"dualrev.numpy.tensordot: axes={axes} for operands of {na} and {nb} axes")
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        if len(axes) != 2:
            raise ValueError("dualrev.numpy.tensordot: axes must be an int or a pair (axes of a, axes of b)")
        axes_a, axes_b = _axes_list(axes[0], na, "tensordot"), _axes_list(axes[1], nb, "tensordot")
    sa, sb = np.shape(a), np.shape(b)
    if len(axes_a) != len(axes_b) or any(sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(f"dualrev.numpy.tensordot: shape-mismatch for sum: axes {axes_a} of {sa} with axes "
                         f"{axes_b} of {sb}")
    free_a = [i for i in range(na) if i not in axes_a]
    free_b = [i for i in range(nb) if i not in axes_b]
    k = math.prod(sa[i] for i in axes_a)
    a2 = reshape(transpose(a, free_a + axes_a), (-1, k))
    b2 = reshape(transpose(b, axes_b + free_b), (k, -1))
    return reshape(matmul(a2, b2), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


@implements(np.dot)
def dot(a, b, out=None):
    """``np.dot``: products of scalars, vector inner products, matrix products, and N-D sum-products (the last axis
    of ``a`` with the second-to-last of ``b``)."""
    if out is not None:
        raise TypeError("dualrev.numpy.dot: out= is not supported")
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    if np.ndim(b) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([-1], [-2]))


def _conj(x):
    return np.conjugate(x) if _dtype(x).kind == "c" else x


@implements(np.vdot)
def vdot(a, b):
    """``np.vdot``: the dot product of the flattened operands (the first conjugated)."""
    return matmul(ravel(_conj(a)), ravel(b))


@implements(np.inner)
def inner(a, b):
    """``np.inner``: sums over the last axes of ``a`` and ``b``; the result has shape
    ``a.shape[:-1] + b.shape[:-1]``."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


@implements(np.outer)
def outer(a, b, out=None):
    """``np.outer``: ``out[i, j] = a.ravel()[i] * b.ravel()[j]``."""
    if out is not None:
        raise TypeError("dualrev.numpy.outer: out= is not supported")
    return expand_dims(ravel(a), 1) * expand_dims(ravel(b), 0)


@implements(np.kron)
def kron(a, b):
    """``np.kron``: the Kronecker product, ``out[i*m + k, ...] = a[i, ...] * b[k, ...]`` along every axis (the
    operand with fewer axes gets leading size-1 axes)."""
    nd = max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + np.shape(a)
    sb = (1,) * (nd - np.ndim(b)) + np.shape(b)
    # a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...): (a0, b0, a1, b1, ...), then merge each pair
    prod = reshape(a, [n for s in sa for n in (s, 1)]) * reshape(b, [n for s in sb for n in (1, s)])
    return reshape(prod, tuple(m * n for m, n in zip(sa, sb)))


def _vector_axis(x, axis, name):
    if np.ndim(x) == 0:
        raise ValueError(f"dualrev.numpy.{name}: operands must have at least one axis")
    return moveaxis(x, axis, -1)


def vecdot(x1, x2, axis=-1):
    """``np.vecdot``: the dot product of vectors along ``axis`` (the first conjugated), broadcasting the others."""
    x1, x2 = _vector_axis(_conj(x1), axis, "vecdot"), _vector_axis(x2, axis, "vecdot")
    if np.shape(x1)[-1] != np.shape(x2)[-1]:
        raise ValueError(f"dualrev.numpy.vecdot: vectors of lengths {np.shape(x1)[-1]} and {np.shape(x2)[-1]}")
    return einsum("...i,...i->...", x1, x2)


def matvec(x1, x2):
    """``np.matvec``: matrix-vector products over broadcast stacks, ``(..., m, n) x (..., n) -> (..., m)``."""
    if np.ndim(x1) < 2 or np.ndim(x2) < 1:
        raise ValueError("dualrev.numpy.matvec: needs a matrix (..., m, n) and a vector (..., n)")
    return getitem(matmul(x1, expand_dims(x2, -1)), (Ellipsis, 0))


def vecmat(x1, x2):
    """``np.vecmat``: vector-matrix products over broadcast stacks (the vector conjugated),
    ``(..., m) x (..., m, n) -> (..., n)``."""
    if np.ndim(x1) < 1 or np.ndim(x2) < 2:
        raise ValueError("dualrev.numpy.vecmat: needs a vector (..., m) and a matrix (..., m, n)")
    return getitem(matmul(expand_dims(_conj(x1), -2), x2), (Ellipsis, 0, slice(None)))


# NumPy 2's gufuncs (keyword arguments such as axis= do not reach dualrev through np.vecdot(...): use dnp.vecdot)
for _name, _f in (("vecdot", vecdot), ("matvec", matvec), ("vecmat", vecmat)):
    if hasattr(np, _name):
        implements(getattr(np, _name))(_f)
