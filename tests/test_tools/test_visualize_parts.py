# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/visualize_parts.py writes overlays and part galleries."""
import glob
import importlib.util
import os.path as osp

import mmcv
import pytest
import torch
from mmengine.config import Config

from ifam_mm.testing import make_toy_classification_set
from ifam_mm.visualization import PartMapVisualizer
from mmpretrain.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'ifam',
                  'ifam_vit-tiny-p8_1xb16_toy.py')


def test_writes_overlays_and_galleries_of_a_split(tmp_path, run_tool,
                                                  monkeypatch):
    # One torch thread in the tool's process: tiny tensors gain nothing
    # from more on a busy 2-core machine.
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    root = make_toy_classification_set(str(tmp_path / 'toy'), num_per_class=4)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    checkpoint = str(tmp_path / 'toy.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out_dir = str(tmp_path / 'audit')

    out = run_tool('visualize_parts.py', [
        CONFIG, checkpoint, '--split', 'train', '--out-dir', out_dir,
        '--num-images', '2', '--gallery-size', '3', '--cfg-options',
        f'train_dataloader.dataset.data_root={root}'
    ], tmp_path)

    assert 'Wrote 2 overlays and 4 part galleries of the train split (12 ' \
        'images)' in out
    files = sorted(
        osp.basename(path) for path in glob.glob(osp.join(out_dir, '*.png')))
    assert files == [f'gallery_part_{k}_0.png' for k in range(4)] + [
        'parts_0_checker_000_0.png', 'parts_1_checker_001_0.png'
    ]
    # The train split is drawn unaugmented and in order: the first panel is
    # the first training image (56 px, enlarged x4), in RGB.
    image = mmcv.imread(
        osp.join(root, 'train', 'checker', 'checker_000.png'),
        channel_order='rgb')
    drawn = mmcv.imread(
        osp.join(out_dir, 'parts_0_checker_000_0.png'), channel_order='rgb')
    top = PartMapVisualizer.SAMPLE_CAPTION
    assert (drawn[top::4, :224:4][:56, :56] == image).all()


def test_negative_counts_are_refused(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(
        'visualize_parts', osp.join(REPO_ROOT, 'tools', 'visualize_parts.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr('sys.argv', [
        'visualize_parts.py', 'cfg.py', 'ckpt.pth', '--out-dir', 'out',
        '--gallery-size', '-1'
    ])
    with pytest.raises(SystemExit):
        tool.parse_args()
    assert '--gallery-size must be >= 0.' in capsys.readouterr().err
