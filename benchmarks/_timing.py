"""Timing, checking and machine description shared by the benchmark suite (benchmarks/suite.py).

Import this after the BLAS thread count is pinned (suite.py does it on its first lines): it imports NumPy.
Nothing here knows about any autodiff library; a case is a name and a callable of no arguments.
"""

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# Process CPU time by default: on a shared machine another process's load stretches wall time far more than the
# CPU time this process spends. With every library pinned to one thread the two agree on an idle machine.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def calibrate(fn, target: float, clock, warmup: int):
    """Calls per repeat so that one repeat takes about ``target`` seconds (like ``timeit``'s autorange), and the
    seconds per call of the calibrating batch when it can serve as the first repeat.

    Runs ``fn`` ``warmup`` times first (caches, lazy imports, JIT compilation), then doubles the call count
    until a batch takes a quarter of the target and scales up from there. A call longer than the target gets 1,
    and that call is the first repeat (slow cases are not run more often than they must be).
    """
    for _ in range(warmup):
        fn()
    number = 1
    while True:
        t0 = clock()
        for _ in range(number):
            fn()
        elapsed = clock() - t0
        if number == 1 and elapsed >= target:
            return 1, [elapsed]
        if elapsed >= target / 4:
            return max(1, round(number * target / max(elapsed, 1e-9))), []
        number *= 2


def measure(cases, repeats: int, target: float, clock=time.process_time, warmup: int = 2):
    """Median seconds per call of each ``(name, fn)`` in ``cases``, and the calls per repeat of each.

    Repeats are interleaved (one repeat of every case in turn), so a slow spell on a busy machine slows every
    case alike instead of one of them.

    >>> times, numbers = measure([("sum", lambda: sum(range(100)))], repeats=3, target=0.01)
    """
    numbers, samples = {}, {}
    for name, fn in cases:
        numbers[name], samples[name] = calibrate(fn, target, clock, warmup)
    for _ in range(repeats):
        for name, fn in cases:
            if len(samples[name]) >= repeats:
                continue
            number = numbers[name]
            t0 = clock()
            for _ in range(number):
                fn()
            samples[name].append((clock() - t0) / number)
    return {name: statistics.median(ts) for name, ts in samples.items()}, numbers


def assert_close(name: str, got, want, rtol: float = 1e-10, atol_scale: float = 1e-12):
    """Raise AssertionError naming ``name`` unless every leaf of ``got`` matches ``want`` (NumPy arrays, nested
    in lists, tuples or dicts of the same structure). ``atol`` is ``atol_scale`` times the largest reference
    magnitude, so entries that cancel to nearly zero do not fail on rounding."""
    if isinstance(want, dict):
        assert set(got) == set(want), f"{name}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_close(f"{name}[{k!r}]", got[k], want[k], rtol, atol_scale)
        return
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{name}: {len(got)} entries, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(f"{name}[{i}]", g, w, rtol, atol_scale)
        return
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
    atol = atol_scale * float(np.max(np.abs(want), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    """The BLAS NumPy calls, as threadpoolctl reports it (if installed), with its thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS unknown (threadpoolctl not installed)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
                     f"{p.get('num_threads')} thread)" for p in pools) or "BLAS not found"


def _git_commit() -> str:
    """The short commit of the checkout, marked when dualrev/ has uncommitted changes (then the numbers are of
    code no commit holds)."""
    here = os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        return subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        if git("status", "--porcelain", "--", os.path.join(here, os.pardir, "dualrev")):
            commit += " (dualrev/ has uncommitted changes)"
        return commit
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(versions: dict) -> list[str]:
    """Lines describing where and when the numbers were taken: CPU, cores, Python, BLAS, library versions."""
    return [
        f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"machine: {_cpu_model()}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}",
        f"python: {platform.python_version()} ({sys.implementation.name}); numpy {np.__version__}; {_blas()}",
        "libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"dualrev commit: {_git_commit()}",
    ]


def fmt_time(seconds: float, unit: str) -> str:
    """``seconds`` in ``unit`` ('us' or 'ms'), with three significant figures."""
    scale = {"us": 1e6, "ms": 1e3, "s": 1.0}[unit]
    v = seconds * scale
    return f"{v:.3g}" if v < 1000 else f"{v:.0f}"
