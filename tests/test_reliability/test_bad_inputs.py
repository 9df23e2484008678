# Copyright (c) ifam_mm contributors. All rights reserved.
"""Bad inputs (issue 8, item 1) reach the user as clear errors.

Each case takes the path a user takes: mmengine's Runner, driven as
tools/train.py and tools/test.py drive it, a dataset built from a shipped
config, or a data tool. docs/bad_inputs.md lists every message. Tests next
to the code check several of these errors at a lower level:
tests/test_models (backbone, classifier, token thresholds) and
tests/test_datasets/test_paper (every annotation file of every dataset).
"""
import importlib.util
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, save_checkpoint

from ifam_mm.datasets.transforms import LoadImageWithChecks
from ifam_mm.datasets.transforms.load_image import CONVERSIONS
from ifam_mm.models.utils.token_thresholds import (prototype_fingerprint,
                                                   save_token_thresholds)
from ifam_mm.testing import make_toy_classification_set
from mmpretrain.registry import DATASETS, MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets')
K = 4  # parts of the toy iFAM config


def val_image(root, name):
    """The first validation image of class ``name`` of a toy set."""
    return osp.join(root, 'val', name, f'{name}_000.png')


# --- images -------------------------------------------------------------


@pytest.mark.parametrize('config, message', [
    ('ifam', r'IFAMClassifier got images \[3, 3, 64, 64\], but its stages '
     r'take 56 x 56 pixels\. Resize or crop'),
    ('hardmask', r'expects images \[B, 3, 56, 56\], got \[3, 3, 64, 64\]\. '
     'Resize or crop'),
])
def test_images_of_the_wrong_size(tmp_path, toy_config, config, message):
    # The test pipeline lacks its Resize: 64 px images meet 56 px models.
    root = make_toy_classification_set(
        str(tmp_path / 'toy'), num_per_class=1, img_size=64)
    cfg = toy_config(
        tmp_path / 'work', root, config, **{
            'test_dataloader.dataset.pipeline': [
                dict(type='LoadImageWithChecks'),
                dict(type='PackInputs')
            ]
        })
    with pytest.raises(ValueError, match=message):
        Runner.from_cfg(cfg).test()


# How a toy BGR image is stored in each mode the loader converts.
MODES = dict(
    grayscale=lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2GRAY),
    alpha=lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2BGRA),
    deep=lambda img: img.astype(np.uint16) * 257)


@pytest.mark.parametrize('kind', list(MODES))
def test_image_modes_are_converted_as_intended(tmp_path, kind,
                                               mm_warnings):
    img = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, MODES[kind](img))
    loaded = LoadImageWithChecks()(dict(img_path=path))['img']
    expected = cv2.cvtColor(MODES['grayscale'](img),
                            cv2.COLOR_GRAY2BGR) if kind == 'grayscale' else img
    assert loaded.dtype == np.uint8
    assert np.array_equal(loaded, expected)
    assert [r.getMessage() for r in mm_warnings.records] == [
        f'LoadImageWithChecks: {path!r} is {CONVERSIONS[kind]}. Further '
        'such images are converted likewise without notice.'
    ]


def test_image_modes_are_logged_once_per_kind(tmp_path, toy_config,
                                              read_log):
    # Two validation images per class; both of a class in the same mode.
    root = make_toy_classification_set(str(tmp_path / 'toy'), num_per_class=4)
    names = dict(zip(MODES, ('hstripes', 'vstripes', 'checker')))
    for kind, name in names.items():
        for i in range(2):
            path = osp.join(root, 'val', name, f'{name}_{i:03d}.png')
            cv2.imwrite(path, MODES[kind](cv2.imread(path)))
    work_dir = tmp_path / 'work'
    metrics = Runner.from_cfg(toy_config(work_dir, root)).test()
    assert 0 <= metrics['accuracy/top1'] <= 100
    log = read_log(work_dir)
    for kind, name in names.items():
        assert log.count(CONVERSIONS[kind]) == 1, kind
        assert f'{val_image(root, name)!r} is {CONVERSIONS[kind]}' in log


BROKEN = dict(
    truncated=lambda data: data[:len(data) // 2],
    empty=lambda data: b'',
    not_an_image=lambda data: b'<html>404 Not Found</html>')


def corrupt(path, kind):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(BROKEN[kind](data))


@pytest.mark.parametrize('kind', [*BROKEN, 'missing'])
def test_unreadable_image_file_is_named(tmp_path, kind):
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, np.zeros((8, 8, 3), np.uint8))
    if kind == 'missing':
        os.remove(path)
    else:
        corrupt(path, kind)
    with pytest.raises(OSError, match=re.escape(f'Image {path!r}: ')):
        LoadImageWithChecks()(dict(img_path=path))
    assert LoadImageWithChecks(skip_invalid=True)(dict(img_path=path)) is None


def test_unreadable_image_stops_testing_with_its_name(tmp_path, toy_root,
                                                      toy_config):
    root = make_toy_classification_set(str(tmp_path / 'toy'), num_per_class=1)
    bad = val_image(root, 'vstripes')
    corrupt(bad, 'truncated')
    cfg = toy_config(tmp_path / 'work', root)
    with pytest.raises(
            OSError,
            match=re.escape(f'Image {bad!r}: cannot be decoded') +
            '.*skip_invalid=True'):
        Runner.from_cfg(cfg).test()


def test_skip_invalid_skips_a_training_image_with_a_warning(
        tmp_path, toy_config, read_log):
    root = make_toy_classification_set(str(tmp_path / 'toy'), num_per_class=2)
    bad = osp.join(root, 'train', 'checker', 'checker_001.png')
    corrupt(bad, 'truncated')
    work_dir = tmp_path / 'work'
    cfg = toy_config(
        work_dir, root,
        **{'train_dataloader.dataset.pipeline.0.skip_invalid': True})
    Runner.from_cfg(cfg).train()
    assert osp.isfile(work_dir / 'epoch_1.pth')
    assert f'Image {bad!r}: cannot be decoded' in read_log(work_dir)
    assert 'Skipped (skip_invalid=True).' in read_log(work_dir)


def test_ignore_empty_is_refused_for_the_warning_skip():
    # mmcv's ignore_empty skips broken files without a word.
    with pytest.raises(ValueError, match='use skip_invalid=True instead'):
        LoadImageWithChecks(ignore_empty=True)


# --- annotations ----------------------------------------------------------


def dataset_cfg(config, root, **overrides):
    """The test dataset of a shipped dataset config, on ``root``."""
    cfg = Config.fromfile(osp.join(DATASET_CONFIGS, config))
    return dict(cfg.test_dataloader.dataset, data_root=str(root), **overrides)


def write_lines(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def write_image(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize('case, message', [
    ('missing_column', r"metadata.csv has no column \['place'\] \(columns "
     r"found: \['img_id', 'img_filename', 'y', 'split', 'location'\]\)\. "
     'Use the metadata.csv'),
    ('label_out_of_range', r'metadata.csv, line 3, column y: 2 is out of '
     r'range \(expected one of \[0, 1\]\)\.'),
])
def test_bad_waterbirds_annotation(tmp_path, case, message):
    # (see also tests/test_datasets/test_paper/test_waterbirds.py)
    rows = [('a/1.jpg', 0, 2, 0), ('b/2.jpg', 2 if 'label' in case else 1, 2,
                                   1)]
    header = 'img_id,img_filename,y,split,place'
    if case == 'missing_column':
        header = header.replace('place', 'location')
    write_lines(
        str(tmp_path / 'metadata.csv'),
        [header] + [f'{i},{name},{y},{s},{p}'
                    for i, (name, y, s, p) in enumerate(rows)])
    for name, *_ in rows:
        write_image(str(tmp_path / name))
    with pytest.raises(ValueError, match=message):
        DATASETS.build(dataset_cfg('waterbirds_bs16_518.py', tmp_path))


@pytest.mark.parametrize('case, message', [
    ('missing_column', r"image_class_labels.txt, line 2: expected 2 "
     r"whitespace-separated fields, got '2'\. Use the files of "
     'CUB_200_2011.tgz'),
    ('label_out_of_range', r'image_class_labels.txt, image id 2: 4 is out '
     r'of range \(expected one of \[1, 2, 3\]\)\.'),
])
def test_bad_cub_annotation(tmp_path, case, message):
    # (see also tests/test_datasets/test_paper/test_cub.py)
    classes = ['001.A', '002.B', '003.C']
    write_lines(
        str(tmp_path / 'classes.txt'),
        [f'{i + 1} {c}' for i, c in enumerate(classes)])
    write_lines(
        str(tmp_path / 'images.txt'),
        [f'{i} {classes[i - 1]}/{i}.jpg' for i in (1, 2, 3)])
    labels = {'missing_column': '2', 'label_out_of_range': '2 4'}[case]
    write_lines(
        str(tmp_path / 'image_class_labels.txt'), ['1 1', labels, '3 3'])
    write_lines(str(tmp_path / 'train_test_split.txt'), ['1 0', '2 0', '3 0'])
    for i in (1, 2, 3):
        write_image(str(tmp_path / 'images' / classes[i - 1] / f'{i}.jpg'))
    with pytest.raises(ValueError, match=message):
        DATASETS.build(dataset_cfg('cub_bs16_518.py', tmp_path))


def load_siim_tool():
    path = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                    'prepare_siim_acr.py')
    spec = importlib.util.spec_from_file_location('prepare_siim_acr', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('case, message', [
    ('missing_column', r"train-rle.csv has no column \['EncodedPixels'\] .*"
     'Use train-rle.csv of the Kaggle SIIM-ACR data'),
    ('tube_out_of_range', r"tubes.json: tube labels must be 0 or 1, got "
     r"\{'b': 2\}"),
])
def test_bad_siim_acr_annotation(tmp_path, case, message):
    # SIIM-ACR's annotations are converted once by the data tool.
    kaggle = tmp_path / 'kaggle'
    header = 'ImageId, Pixels' if case == 'missing_column' else (
        'ImageId, EncodedPixels')
    write_lines(str(kaggle / 'train-rle.csv'), [header, 'a, -1', 'b, 2 3'])
    os.makedirs(kaggle / 'dicom-images-train')
    (tmp_path / 'tubes.json').write_text(json.dumps(dict(a=0, b=2)))
    with pytest.raises(ValueError, match=message):
        load_siim_tool().main(
            [str(kaggle), str(tmp_path / 'tubes.json'),
             str(tmp_path / 'out')])


def test_siim_acr_label_folder_out_of_range(tmp_path):
    for label in ('0', '1', '2'):
        write_image(str(tmp_path / 'full_test_set' / label / f'{label}.png'))
    with pytest.raises(
            ValueError,
            match=r"must hold label folders 0 and 1, found \['0', '1', '2'\]"):
        DATASETS.build(dataset_cfg('siim_acr_bs16_518.py', tmp_path))


# --- checkpoints and intervention files -----------------------------------


def save_model_checkpoint(cfg, path):
    """A checkpoint of ``cfg.model`` as the Runner writes it."""
    model = MODELS.build(cfg.model)
    save_checkpoint(
        dict(meta=dict(epoch=1, iter=2), state_dict=model.state_dict()),
        str(path))
    return str(path)


K8 = ({
    'model.part_head.num_parts': 8
}, r'differs in the number of parts K \(part_head\.num_parts\):\n'
      r'  part_head\.prototypes: \[9, 64\] in the checkpoint, \[5, 64\] in '
      r'the model')


@pytest.mark.parametrize('options, message, entry', [
    (*K8, 'tools/test.py'),
    (*K8, '--resume'),
    ({
        'model.part_head.num_classes': 5,
        'model.head.num_classes': 5
    }, r'differs in the class count \(num_classes\):\n'
     r'  part_head\.classifier\.weight: \[5, 64\] in the checkpoint, '
     r'\[3, 64\] in the model', 'tools/test.py'),
    ({
        'model.head': None,
        'model.test_cfg.predict_stage': 'stage1'
    }, r'differs in the architecture .*\n  missing from the checkpoint: '
     r'stage2_backbone\.vit\.cls_token', 'tools/test.py'),
])
def test_checkpoint_of_another_config_is_refused(tmp_path, toy_root,
                                                 toy_config, options,
                                                 message, entry):
    other = toy_config(tmp_path / 'other', toy_root, **options)
    ckpt = save_model_checkpoint(other, tmp_path / 'other.pth')
    cfg = toy_config(tmp_path / 'work', toy_root, load_from=ckpt)
    with pytest.raises(ValueError, match=message + '(.|\n)*\nBuild the '
                       'model with the config the checkpoint was trained'):
        if entry == '--resume':  # what tools/train.py --resume sets
            cfg.resume = True
            Runner.from_cfg(cfg).train()
        else:  # tools/test.py CONFIG CHECKPOINT
            Runner.from_cfg(cfg).test()


def test_hardmask_backbone_of_another_size_is_refused(tmp_path, toy_root,
                                                      toy_config):
    # A stock ImageClassifier: the HardMaskViT backbone checks its part.
    other = toy_config(tmp_path / 'other', toy_root, 'hardmask',
                       **{'model.backbone.img_size': 64})
    ckpt = save_model_checkpoint(other, tmp_path / 'other.pth')
    cfg = toy_config(tmp_path / 'work', toy_root, 'hardmask', load_from=ckpt)
    with pytest.raises(
            ValueError,
            match=r'does not fit this HardMaskViT; it differs in the image '
            r'or patch size .*\n  backbone\.vit\.pos_embed: \[1, 64, '):
        Runner.from_cfg(cfg).test()


@pytest.mark.parametrize('case, message', [
    ('another_k', r'was calibrated for K=5 parts; the model has K=4\. '
     'Calibrate thresholds for this model'),
    ('another_checkpoint', r"was calibrated on checkpoint 'other\.pth', "
     "whose part prototypes differ from this model's"),
])
def test_threshold_file_of_another_model(tmp_path, toy_root, toy_config,
                                         case, message):
    num_parts = K + 1 if case == 'another_k' else K
    path = str(tmp_path / 'thresholds.json')
    save_token_thresholds(
        path, [1.0] * num_parts,
        statistic='distance',
        quantile=0.97,
        checkpoint='other.pth',
        fingerprint=prototype_fingerprint(torch.zeros(K + 1, 64)))
    cfg = toy_config(tmp_path / 'work', toy_root,
                     **{'model.test_cfg.token_thresholds': path})
    with pytest.raises(ValueError, match=message):
        Runner.from_cfg(cfg).test()


def test_remove_parts_out_of_range(tmp_path, toy_root, toy_config):
    cfg = toy_config(tmp_path, toy_root,
                     **{'model.test_cfg.remove_parts': [K]})
    with pytest.raises(
            ValueError,
            match=r'remove_parts \[4\] out of range: foreground parts are '
            r'0\.\.3'):
        Runner.from_cfg(cfg).test()


# --- options that cannot work together ------------------------------------

SOFT = {
    'model.stage2_backbone.mask_mode': 'soft',
    'model.stage2_backbone.prune_masked_tokens': False
}


@pytest.mark.parametrize('options, message', [
    ({
        'model.stage2_backbone.mask_mode': 'soft'
    }, r"mask_mode='soft' cannot prune: no token is fully masked\. Set "
     r'prune_masked_tokens=False\.'),
    ({
        **SOFT, 'model.test_cfg.remove_parts': [0]
    }, 'Part and token removal act on hard masks'),
    ({
        'model.test_cfg.predict_stage': 'stage1',
        'model.test_cfg.remove_parts': [0]
    }, r"predict_stage='stage1' predicts from stage 1\. Set "
     r"predict_stage='stage2' or unset them\."),
    ({
        'model.head': None
    }, r"predict_stage='stage2' needs a stage-2 head; set head=\.\.\. or "
     r"predict_stage='stage1'\."),
    ({
        'model.part_head.in_channels': 32
    }, r'part_head\.in_channels=32, but backbone '
     r'\(vit_small_patch14_reg4_dinov2\) gives 64-d tokens\. Set '
     r'part_head\.in_channels=64\.'),
    ({
        'model.head.num_classes': 5
    }, r'part_head\.num_classes=3 and head\.num_classes=5 differ'),
    ({
        'model.part_head.temperature': 0.0
    }, r'temperature must be > 0, got 0\.0\.'),
])
def test_options_that_cannot_work_together(tmp_path, toy_root, toy_config,
                                           options, message):
    cfg = toy_config(tmp_path, toy_root, **options)
    with pytest.raises(ValueError, match=message):
        Runner.from_cfg(cfg).test()


def test_clean_data_tests_without_a_conversion_or_error(
        tmp_path, toy_root, toy_config, read_log):
    # The control for the cases above: the unchanged config on 8-bit
    # colour PNGs tests without a conversion notice or an error.
    work_dir = tmp_path / 'work'
    Runner.from_cfg(toy_config(work_dir, toy_root)).test()
    log = read_log(work_dir)
    assert 'LoadImageWithChecks: ' not in log
    assert ' - ERROR - ' not in log and ' - WARNING - ' not in log
