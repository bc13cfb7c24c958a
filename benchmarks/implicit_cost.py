"""What a derivative through a solve costs: the validation loss of examples/ridge_hyperparameter.py (an inner
``minimize(method="newton")``) evaluated, differentiated (value_and_grad, jvp) and twice differentiated (hessian)
with respect to log lam by implicit differentiation, against the closed-form ridge solution differentiated
directly. Milliseconds per call, best of 5, one BLAS thread.

    python benchmarks/implicit_cost.py
"""

import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

from ridge_hyperparameter import make_data, validation_loss, weights, weights_closed_form

import dualrev as dr


def ms(f, *args, repeat=5):
    f(*args)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        f(*args)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def main():
    print("| features | solve | value_and_grad | jvp | hessian | closed form: value | closed form: value_and_grad |")
    print("|---|---|---|---|---|---|---|")
    for d in (20, 100, 300):
        data = make_data(n_train=d + 10, n_val=100, features=d)
        loss, closed = validation_loss(weights, data), validation_loss(weights_closed_form, data)
        row = [ms(loss, 1.0), ms(dr.value_and_grad(loss), 1.0), ms(lambda s, f=loss: dr.jvp(f, (s,), (1.0,)), 1.0),
               ms(dr.hessian(loss), 1.0), ms(closed, 1.0), ms(dr.value_and_grad(closed), 1.0)]
        print(f"| {d} | " + " | ".join(f"{t:.1f} ms" for t in row) + " |")


if __name__ == "__main__":
    main()
