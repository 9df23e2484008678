# Copyright (c) ifam_mm contributors. All rights reserved.
"""demo/image_demo.py prints top-k classes and writes explanation pictures."""
import importlib.util
import math
import os
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

from ifam_mm.testing import make_toy_classification_set
from ifam_mm.visualization import PartMapVisualizer
from mmpretrain.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IFAM = osp.join(REPO_ROOT, 'configs', 'ifam', 'ifam_vit-tiny-p8_1xb16_toy.py')
HARDMASK = osp.join(REPO_ROOT, 'configs', 'hardmask_vit',
                    'hardmask-vit-tiny-p8_1xb16_toy.py')
CLASSES = ['circle', 'square', 'stripes']
IMG_SIZE, GRID = 56, 7  # the toy configs' test resize and token grid
SCALE = math.ceil(224 / IMG_SIZE)  # PartMapVisualizer's min_size = 224
ROW = PartMapVisualizer.SAMPLE_CAPTION + SCALE * IMG_SIZE
PANEL = SCALE * IMG_SIZE

spec = importlib.util.spec_from_file_location(
    'image_demo', osp.join(REPO_ROOT, 'demo', 'image_demo.py'))
image_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(image_demo)


def _checkpoint(config, path, classes=CLASSES):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), path)
    return str(path)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('image_demo')
    root = make_toy_classification_set(str(tmp / 'toy'), num_per_class=1)
    images = sorted(
        osp.join(dirpath, name)
        for dirpath, _, names in os.walk(osp.join(root, 'val'))
        for name in names if name.endswith('.png'))
    return dict(tmp=tmp, images=images,
                ifam=_checkpoint(IFAM, tmp / 'ifam.pth'),
                hardmask=_checkpoint(HARDMASK, tmp / 'hardmask.pth'))


def _run(monkeypatch, *args):
    monkeypatch.setattr(sys, 'argv', ['image_demo.py', *map(str, args)])
    image_demo.main()


def _keep_pixels(image, checkpoint):
    """The test's own prediction: stage 2's kept tokens as a pixel mask."""
    inferencer = image_demo.build_inferencer(IFAM, checkpoint, 'cpu')
    _, sample = image_demo.predict(inferencer, mmcv.imread(image))
    keep = sample.pred_token_mask.numpy().astype(np.uint8)
    return np.kron(keep, np.ones((PANEL // GRID, PANEL // GRID),
                                 np.uint8)).astype(bool)


def test_prints_top_k_and_draws_exactly_what_stage_2_saw(
        toy, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'out.png'
    image = toy['images'][0]
    _run(monkeypatch, image, IFAM, toy['ifam'], '--out-file', out,
         '--topk', 2, '--show-parts')
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f'{image}:'
    scores = [line.strip().split(': ') for line in lines[1:3]]
    assert all(name in CLASSES for name, _ in scores)
    assert float(scores[0][1]) >= float(scores[1][1])
    assert 'background' in lines[3] and 'stage 2 kept' in lines[3]

    picture = mmcv.imread(str(out), channel_order='rgb')
    assert picture.shape[0] == ROW and picture.shape[1] >= 3 * PANEL
    panels = picture[PartMapVisualizer.SAMPLE_CAPTION:]
    shown, stage2 = panels[:, :PANEL], panels[:, 2 * PANEL:3 * PANEL]
    keep = _keep_pixels(image, toy['ifam'])
    assert 0 < keep.mean() <= 1
    assert not stage2[~keep].any()
    np.testing.assert_array_equal(stage2[keep], shown[keep])


def test_remove_parts_shows_and_prints_the_prediction_after_it(
        toy, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'out.png'
    _run(monkeypatch, toy['images'][0], IFAM, toy['ifam'], '--out-file', out,
         '--remove-parts', 0, 1, '--show-parts')
    printed = capsys.readouterr().out
    assert ' after --remove-parts 0 1:' in printed
    before, after = [float(line.rsplit('kept ', 1)[1].rstrip('%'))
                     for line in printed.splitlines() if 'kept' in line]
    assert after < before

    picture = mmcv.imread(str(out), channel_order='rgb')
    assert picture.shape[0] == 2 * ROW
    top = PartMapVisualizer.SAMPLE_CAPTION
    stage2_before = picture[top:ROW, 2 * PANEL:3 * PANEL].any(-1)
    stage2_after = picture[ROW + top:, 2 * PANEL:3 * PANEL].any(-1)
    # Removing parts only hides tokens.
    assert stage2_after.sum() < stage2_before.sum()
    assert not (stage2_after & ~stage2_before).any()


def test_a_folder_gives_one_picture_per_image(toy, tmp_path, monkeypatch,
                                              capsys):
    folder = tmp_path / 'images'
    folder.mkdir()
    for image in toy['images'][:2]:
        (folder / osp.basename(image)).write_bytes(open(image, 'rb').read())
    (folder / 'notes.txt').write_text('not an image')
    _run(monkeypatch, folder, IFAM, toy['ifam'], '--out-file',
         tmp_path / 'out')
    written = sorted(os.listdir(tmp_path / 'out'))
    assert written == sorted(osp.basename(i) for i in toy['images'][:2])
    printed = capsys.readouterr().out
    assert all(str(folder / name) in printed for name in written)


def test_a_model_without_parts_gets_its_prediction_drawn(
        toy, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'out.png'
    _run(monkeypatch, toy['images'][0], HARDMASK, toy['hardmask'],
         '--out-file', out)
    assert any(name in capsys.readouterr().out for name in CLASSES)
    assert mmcv.imread(str(out)).shape[:2] == (ROW, PANEL)


def test_errors_name_the_problem_and_the_fix(toy, tmp_path, monkeypatch):
    image = toy['images'][0]
    with pytest.raises(FileNotFoundError, match='does not exist.*Pass an'):
        _run(monkeypatch, tmp_path / 'missing.png', IFAM, toy['ifam'])
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    with pytest.raises(ValueError, match='Cannot decode image.*Pass a PNG'):
        _run(monkeypatch, broken, IFAM, toy['ifam'])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='holds no image'):
        _run(monkeypatch, empty, IFAM, toy['ifam'])
    # IFAMClassifier names the mismatch itself; a stock classifier's is
    # named by the tool.
    with pytest.raises(ValueError, match='(?s)does not fit.*trained with'):
        _run(monkeypatch, image, IFAM, toy['hardmask'])
    wrong_classes = tmp_path / 'five_classes.pth'
    checkpoint = torch.load(toy['hardmask'])
    weight = checkpoint['state_dict']['head.fc.weight']
    checkpoint['state_dict']['head.fc.weight'] = weight.new_zeros(
        5, weight.shape[1])
    torch.save(checkpoint, wrong_classes)
    with pytest.raises(ValueError, match='(?s)does not fit config.*size '
                       'mismatch.*trained with'):
        _run(monkeypatch, image, HARDMASK, wrong_classes)
    with pytest.raises(ValueError, match='needs an IFAMClassifier.*Drop'):
        _run(monkeypatch, image, HARDMASK, toy['hardmask'],
             '--remove-parts', 0)


def test_token_thresholds_show_the_prediction_after_them(
        toy, tmp_path, monkeypatch, capsys):
    from ifam_mm.models.utils.token_thresholds import (
        prototype_fingerprint, save_token_thresholds)
    model = image_demo.build_inferencer(IFAM, toy['ifam'], 'cpu').model
    num_parts = model.part_head.num_parts
    # Every foreground token lies past a zero distance: all are removed
    # from part 0, none (null) from the others.
    thresholds = tmp_path / 'thresholds.json'
    save_token_thresholds(
        str(thresholds), [0.0] + [math.nan] * (num_parts - 1), 'distance',
        0.97, toy['ifam'], prototype_fingerprint(model.part_head.prototypes))
    out = tmp_path / 'out.png'
    _run(monkeypatch, toy['images'][0], IFAM, toy['ifam'], '--out-file', out,
         '--token-thresholds', thresholds, '--show-parts')
    printed = capsys.readouterr().out
    assert ' after --token-thresholds thresholds.json:' in printed
    shares = [line for line in printed.splitlines() if 'kept' in line]
    before, after = [float(line.rsplit('kept ', 1)[1].rstrip('%'))
                     for line in shares]
    part0 = float(shares[0].split('0: ', 1)[1].split('%')[0])
    # The part map stays; stage 2 loses exactly part 0's tokens (shares
    # are printed rounded to 1 %).
    assert part0 > 0 and after < before
    assert abs((before - after) - part0) <= 1
    assert mmcv.imread(str(out)).shape[0] == 2 * ROW

    calibrated_elsewhere = tmp_path / 'other.json'
    save_token_thresholds(str(calibrated_elsewhere), [1.0] * num_parts,
                          'distance', 0.97, 'other.pth', '0' * 64)
    with pytest.raises(ValueError, match='part prototypes differ'):
        _run(monkeypatch, toy['images'][0], IFAM, toy['ifam'],
             '--token-thresholds', calibrated_elsewhere)
