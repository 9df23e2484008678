# Copyright (c) ifam_mm contributors. All rights reserved.
"""A regular (non-editable) install ships the configs and tools mim reads.

The wheel is built from a copy of the checkout (building writes
``ifam_mm/.mim``) and installed with ``--target`` into a temporary folder, so
the shared environment is untouched. The config is then loaded in a fresh
interpreter whose working directory holds no repository at all.
About 10 s on 2 cores.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SOURCES = ('ifam_mm', 'configs', 'tools', 'requirements', 'setup.py',
           'MANIFEST.in', 'README.md', 'model-index.yml')
USER_CONFIG = """
_base_ = 'ifam_mm::ifam/ifam_vit-tiny-p8_1xb16_toy.py'
train_cfg = dict(max_epochs=1)
"""
LOAD = """
import json
import ifam_mm
from mmengine.config import Config
from ifam_mm.utils.config_parsing import prepare_config_parsing
prepare_config_parsing()
cfg = Config.fromfile('my_config.py')
with open('out.json', 'w') as f:
    json.dump(dict(package=ifam_mm.__file__, model=cfg.model.type,
                   max_epochs=cfg.train_cfg.max_epochs,
                   num_parts=cfg.model.part_head.num_parts), f)
"""


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """Folder holding ifam_mm installed from its wheel."""
    tmp = tmp_path_factory.mktemp('packaging')
    src = tmp / 'src'
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim',
                                    '*.egg-info')
    for name in SOURCES:
        path = osp.join(REPO_ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy(path, src / name)
    pip = [sys.executable, '-m', 'pip']
    run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
               str(tmp / 'dist'), str(src)])
    wheel, = glob.glob(str(tmp / 'dist' / '*.whl'))
    site = tmp / 'site'
    run(pip + ['install', '--no-deps', '--no-index', '-q', '--target',
               str(site), wheel])
    return site


def test_wheel_ships_what_mim_reads(installed):
    mim = installed / 'ifam_mm' / '.mim'
    assert (mim / 'model-index.yml').is_file()
    for tool in ('train.py', 'test.py', 'dist_train.sh', 'benchmark.py',
                 osp.join('analysis_tools', 'benchmarking.py')):
        assert (mim / 'tools' / tool).is_file(), tool
    shipped = {
        osp.relpath(path, REPO_ROOT)
        for path in glob.glob(
            osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    }
    installed_configs = {
        osp.relpath(path, mim)
        for path in glob.glob(str(mim / 'configs' / '**' / '*.py'),
                              recursive=True)
    }
    assert installed_configs == shipped
    # Copies, not links into the checkout: the wheel stands alone.
    assert not (mim / 'configs').is_symlink()


def test_ifam_mm_base_resolves_from_any_directory(installed, tmp_path):
    (tmp_path / 'my_config.py').write_text(USER_CONFIG)
    env = dict(os.environ, PYTHONPATH=str(installed))
    run([sys.executable, '-c', LOAD], cwd=tmp_path, env=env)
    out = json.loads((tmp_path / 'out.json').read_text())
    # The installed copy answered, not the checkout or an editable install.
    assert out['package'] == str(installed / 'ifam_mm' / '__init__.py')
    assert out['model'] == 'IFAMClassifier'
    assert out['max_epochs'] == 1  # the user's override on top of the base
    assert out['num_parts'] == 4
