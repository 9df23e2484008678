# Copyright (c) ifam_mm contributors. All rights reserved.
"""Fixtures shared across the test suite."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.logging import MMLogger

from ifam_mm.utils.config_parsing import prepare_config_parsing

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# The tests parse configs as our tools do: without `pkg_resources` (setuptools
# >= 81, what a fresh install of torch brings) mmengine cannot resolve the
# `mmpretrain::` bases on its own. tests/test_stack_fixes.py shows the
# failure and the fix; subprocesses run our tools, which do the same.
prepare_config_parsing()


def checkout_env(**extra) -> dict:
    """The environment with this checkout first on ``PYTHONPATH``, so that a
    subprocess imports its ifam_mm rather than another installed copy."""
    path = os.pathsep.join(
        p for p in (REPO_ROOT, os.environ.get('PYTHONPATH')) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


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
    with the tail of the output when the tool exits non-zero. The checkout's
    package comes first on the path, as tools/dist_train.sh puts it.
    """

    def run(script, args, cwd):
        result = subprocess.run(
            [sys.executable, osp.join(REPO_ROOT, 'tools', script)] + args,
            cwd=cwd,
            env=checkout_env(),
            capture_output=True,
            text=True)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-4000:]
        return out

    return run
