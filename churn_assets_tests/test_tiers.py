"""The tier rule of conftest.py: a test that uses a heavy part declares its tier, or collection fails."""

from __future__ import annotations

import pytest

from churn_assets_tests.conftest import run_training, undeclared_tier


class _Item:
    def __init__(self, fixtures=(), marks=(), function=None):
        self.fixturenames, self._marks, self.function = list(fixtures), [pytest.mark.__getattr__(m).mark for m in marks], \
            function

    def iter_markers(self):
        return iter(self._marks)


def _trains():
    run_training(None)


def _plain():
    return 1 + 1


def test_a_heavy_fixture_needs_its_tier():
    assert "fixture 'trained'" in undeclared_tier(_Item(["trained"]))
    assert undeclared_tier(_Item(["trained"], ["slow"])) is None
    assert "needs one of integration" in undeclared_tier(_Item(["edge"], ["slow"]))  # a server is integration
    assert undeclared_tier(_Item(["edge", "trained"], ["integration"])) is None


def test_a_heavy_call_in_the_test_body_needs_its_tier():
    assert "call run_training()" in undeclared_tier(_Item(function=_trains))
    assert undeclared_tier(_Item(function=_trains, marks=["slow"])) is None
    assert undeclared_tier(_Item(["tmp_path"], function=_plain)) is None
