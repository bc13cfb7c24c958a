import pathlib

from dualrev.numpy.coverage import table

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "coverage.md"


def test_coverage_table_is_up_to_date():
    assert PAGE.read_text() == table(), "docs/coverage.md is stale: python -m dualrev.numpy.coverage > docs/coverage.md"
