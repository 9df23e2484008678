# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/visualize_parts.py writes overlays and part galleries."""
import glob
import importlib.util
import os.path as osp
import re

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


def toy_run(tmp_path, monkeypatch):
    """The toy split and a checkpoint of the tiny model: (root, ckpt)."""
    # One torch thread in the tool's process: tiny tensors gain nothing
    # from more on a busy 2-core machine.
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    root = make_toy_classification_set(str(tmp_path / 'toy'), num_per_class=4)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    checkpoint = str(tmp_path / 'toy.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return root, checkpoint


def test_writes_overlays_and_galleries_of_a_split(tmp_path, run_tool,
                                                  monkeypatch):
    root, checkpoint = toy_run(tmp_path, monkeypatch)
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
    assert not osp.exists(osp.join(out_dir, 'index.html'))


def test_html_links_every_gallery_image_to_its_overlay(
        tmp_path, run_tool, monkeypatch):
    root, checkpoint = toy_run(tmp_path, monkeypatch)
    out_dir = str(tmp_path / 'audit')

    out = run_tool('visualize_parts.py', [
        CONFIG, checkpoint, '--split', 'train', '--out-dir', out_dir,
        '--num-images', '1', '--gallery-size', '2', '--html',
        '--cfg-options', f'train_dataloader.dataset.data_root={root}'
    ], tmp_path)

    with open(osp.join(out_dir, 'index.html')) as f:
        page = f.read()
    # Per part, then the first image: (heading, [(href, caption), ...]).
    sections = [(heading, re.findall(
        r'<a href="([^"]+)"><img src="\1" alt="[^"]*"></a>'
        r'<figcaption>([^<]*)</figcaption>', body)) for heading, body in
        re.findall(r'<h2>([^<]*)</h2>\n(.*?)(?=<h2>|</body>)', page, re.S)]
    assert [heading for heading, _ in sections] == [
        f'part {k}: the images where it covers most tokens' for k in range(4)
    ] + ['the first images of the split (1)']
    assert sections[-1][1] == [('parts_0_checker_000_0.png',
                                '0_checker_000')]
    members = set()
    for _, items in sections[:-1]:
        assert 1 <= len(items) <= 2
        for href, caption in items:
            # '<share>% <name>' links to parts_<name>_0.png.
            share, name = caption.split(' ')
            assert share.endswith('%') and href == f'parts_{name}_0.png'
            members.add(href)
    # Every linked overlay, and no other, was written beside the page.
    overlays = {
        osp.basename(path)
        for path in glob.glob(osp.join(out_dir, 'parts_*.png'))
    }
    assert overlays == members | {'parts_0_checker_000_0.png'}
    assert len(overlays) > 1  # gallery images beyond --num-images 1
    assert f'Wrote {len(overlays)} overlays and 4 part galleries of the ' \
        'train split (12 images) and index.html' in out


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
