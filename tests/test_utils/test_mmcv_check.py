# Copyright (c) ifam_mm contributors. All rights reserved.
"""Without any mmcv, `import ifam_mm` says how to get one."""
import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# sys.modules[name] = None makes `import name` raise ImportError.
WITHOUT_MMCV = "import sys; sys.modules['mmcv'] = None; import ifam_mm"


def test_missing_mmcv_names_both_ways_to_install_it():
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, '-c', WITHOUT_MMCV],
                            env=env,
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith('ImportError: ifam_mm needs mmcv')
    assert 'pip install "ifam_mm[lite]"' in last_line
    assert 'mim install "mmcv>=2.0.0,<2.4.0"' in last_line

