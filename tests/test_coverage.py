import pathlib

import numpy as np

from dualrev.numpy.coverage import table

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "coverage.md"


def test_coverage_table_is_up_to_date():
    assert PAGE.read_text() == table(), "docs/coverage.md is stale: python -m dualrev.numpy.coverage > docs/coverage.md"


def test_every_public_numpy_name_is_in_dualrev_numpy():
    # `import dualrev.numpy as np` must run NumPy code as written: dtypes, constants and index helpers included.
    import inspect

    import dualrev.numpy as dnp

    missing = [n for n in dir(np) if not n.startswith("_") and not hasattr(dnp, n)
               and not inspect.ismodule(getattr(np, n))]
    assert missing == []
    assert dnp.random is np.random and dnp.dtype is np.dtype and dnp.s_ is np.s_
    assert dnp.unique is not np.unique  # the registry's entry, which takes traced values


def test_numpy_2_aliases_differentiate():
    import dualrev as dr
    import dualrev.numpy as dnp

    g = dr.grad(lambda x: dnp.acos(x) + dnp.pow(x, 3.0) + dnp.atan2(x, 2.0))(0.3)
    assert np.isclose(g, -1 / np.sqrt(1 - 0.09) + 3 * 0.09 + 2.0 / (0.09 + 4.0))
