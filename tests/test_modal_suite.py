"""modAL-python's own test suite, run with skfisher imported.

The suite is vendored unchanged in tests/modal_suite (see its README). A user
gets the fixes in skfisher/_compat.py by importing skfisher, and so does the
suite: nothing here patches modAL.
"""

import runpy
import sys
import unittest
from pathlib import Path

import pytest

import skfisher  # noqa: F401  (before anything imports modAL.expected_error)

SUITE = Path(__file__).parent / "modal_suite"
EXAMPLES = sorted((SUITE / "example_tests").glob("[!_]*.py"))

# As upstream's tests/test.sh runs it: core_tests.py imports its sibling mock.py
# and the example_tests package from its own folder.
sys.path.insert(0, str(SUITE))
import core_tests  # noqa: E402

globals().update(
    (name, obj)
    for name, obj in vars(core_tests).items()
    if isinstance(obj, type) and issubclass(obj, unittest.TestCase)
)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_modal_example_script(script, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(script), run_name="__main__")
