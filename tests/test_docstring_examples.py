# Copyright (c) ifam_mm contributors. All rights reserved.
"""Every docstring example of the package runs and prints what it shows."""
import doctest
import importlib
import io
import pkgutil

import pytest
from mmengine.logging import MMLogger

import ifam_mm

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples():
    names = []
    for info in pkgutil.walk_packages(ifam_mm.__path__, 'ifam_mm.'):
        module = importlib.import_module(info.name)
        if any(test.examples for test in doctest.DocTestFinder().find(module)):
            names.append(info.name)
    return names


@pytest.mark.parametrize('name', modules_with_examples())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write data write it here
    module = importlib.import_module(name)
    # Log lines (e.g. "generating ...") are no example output: the logger
    # is created out here, so it writes to pytest's capture, not doctest's.
    MMLogger.get_current_instance()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
    assert runner.tries > 0
