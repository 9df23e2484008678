# Copyright (c) ifam_mm contributors. All rights reserved.
"""Every config under configs/ parses and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import ifam_mm  # noqa: F401  (registers the plugin's modules)
from mmpretrain.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Built at full size here; the ViT-B iFAM configs are built with tiny
# overrides in tests/test_configs_ifam.py (two ViT-Bs each take seconds).
TESTED_ELSEWHERE = ('_base_', 'ifam', 'mixing', 'ifam_cub_k8.py')
CONFIGS = sorted(
    path for path in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if not set(osp.relpath(path, REPO_ROOT).split(osp.sep))
    & set(TESTED_ELSEWHERE))


def test_configs_found():
    assert CONFIGS, 'no configs found under configs/'


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO_ROOT) for p in CONFIGS])
def test_config_parses_and_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    head = cfg.model.get('head') or {}
    preprocessor = cfg.get('data_preprocessor') or {}
    if 'num_classes' in head and 'num_classes' in preprocessor:
        assert head.num_classes == preprocessor.num_classes
    assert sum(p.numel() for p in model.parameters()) > 0
