"""The Examples sections of the analysis modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["analysis.intervals", "analysis.rules", "analysis.bootstrap", "analysis.psychometric", "analysis.mvt",
           "analysis.crowdmos", "analysis.synthetic", "analysis.durations", "analysis.accuracy", "analysis.options",
           "analysis.ratings", "analysis.figures", "analysis.screening",
           "analysis.background"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
