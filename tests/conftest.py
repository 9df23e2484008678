# Copyright (c) ifam_mm contributors. All rights reserved.
"""Fixtures shared across the test suite."""
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.logging import MMLogger

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def mm_warnings(caplog):
    """Capture warnings sent to mmengine's logger (it does not propagate)."""
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.fixture(scope='session')
def run_tool():
    """Run ``tools/<script>`` in a fresh interpreter, as a user would.

    Returns a function ``(script, args, cwd) -> output`` that fails the test
    with the tail of the output when the tool exits non-zero.
    """

    def run(script, args, cwd):
        result = subprocess.run(
            [sys.executable, osp.join(REPO_ROOT, 'tools', script)] + args,
            cwd=cwd,
            capture_output=True,
            text=True)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-4000:]
        return out

    return run
