# Copyright (c) ifam_mm contributors. All rights reserved.
import json
import os.path as osp

import pytest
from fixtures import build, packed, rel_paths, write_image
from mmengine.evaluator import Evaluator

from ifam_mm.evaluation import IN9Accuracy

WNIDS = ['n01440764', 'n01443537', 'n01484850']
IN9_FOLDERS = [
    '00_dog', '01_bird', '02_wheeled vehicle', '03_reptile', '04_carnivore',
    '05_insect', '06_musical instrument', '07_primate', '08_fish'
]


def make_imagenet(root, folders=WNIDS):
    """Write train/ and val/ with one image per class folder."""
    for split in ('train', 'val'):
        for wnid in folders:
            write_image(osp.join(root, split, wnid, f'{wnid}_1.JPEG'))
    return str(root)


def test_imagenet1k_from_class_folders(tmp_path):
    root = make_imagenet(tmp_path)
    dataset = build(
        type='ImageNet1k', data_root=root, split='val', classes=WNIDS)
    samples = packed(dataset)
    assert rel_paths(samples,
                     tmp_path) == [f'val/{w}/{w}_1.JPEG' for w in WNIDS]
    assert [int(s.gt_label) for s in samples] == [0, 1, 2]


@pytest.mark.parametrize('case, error, match', [
    ('not_wnids', ValueError, r"not WordNet ids: \['tench'\]"),
    ('subset_without_classes', ValueError,
     r'holds 3 class folders, expected 1000'),
    ('missing_split', FileNotFoundError, r'ImageNet split folder not found'),
])
def test_imagenet1k_bad_inputs(tmp_path, case, error, match):
    cfg = dict(type='ImageNet1k', data_root=str(tmp_path), split='val')
    if case == 'not_wnids':
        make_imagenet(tmp_path, ['tench', *WNIDS[1:]])
        cfg['classes'] = WNIDS
    elif case == 'subset_without_classes':
        make_imagenet(tmp_path)
    with pytest.raises(error, match=match):
        build(**cfg)


def make_in9(root, variants=('original', 'mixed_same', 'mixed_rand')):
    """Write bg_challenge/<variant>/val/<class folder>/<n>.jpg."""
    for variant in variants:
        for folder in IN9_FOLDERS:
            write_image(osp.join(root, variant, 'val', folder, '1.jpg'))
    mapping = {str(i): -1 for i in range(1000)}
    mapping.update({'151': 0, '7': 1, '390': 8})
    with open(osp.join(root, 'in_to_in9.json'), 'w') as f:
        json.dump(mapping, f)
    return str(root)


def test_in9_variants_and_mapping(tmp_path):
    root = make_in9(tmp_path)
    dataset = build(('variant', ),
                    type='ImageNet9',
                    data_root=root,
                    class_mapping=osp.join(root, 'in_to_in9.json'))
    samples = packed(dataset)
    assert len(samples) == 27
    assert [s.variant
            for s in samples[::9]] == ['original', 'mixed_same', 'mixed_rand']
    assert [int(s.gt_label) for s in samples[:9]] == list(range(9))
    assert rel_paths(samples[:1], tmp_path) == ['original/val/00_dog/1.jpg']
    meta = dataset.metainfo
    assert meta['classes'][2] == 'wheeled vehicle'
    table = meta['in_to_in9']
    assert len(table) == 1000 and (table[151], table[7], table[390],
                                   table[0]) == (0, 1, 8, -1)

    # IN9Accuracy reads the packed variant: a model that always predicts
    # ImageNet class 151 ("dog") is right on the dog images only.
    for s in samples:
        s.set_pred_label(151)
    evaluator = Evaluator(IN9Accuracy(mapping=list(table)))
    evaluator.process(samples)
    metrics = evaluator.evaluate(len(samples))
    assert metrics['in9/acc_mixed_rand'] == pytest.approx(100 / 9)
    assert metrics['in9/bg_gap'] == 0


def test_in9_mapping_is_never_implicit(tmp_path, monkeypatch):
    root = make_in9(tmp_path)
    monkeypatch.chdir(root)  # in_to_in9.json is in the working directory
    dataset = build(type='ImageNet9', data_root=root, variants='original')
    assert 'in_to_in9' not in dataset.metainfo


@pytest.mark.parametrize('case, error, match', [
    ('unknown_variant', ValueError, r"unknown variant 'mixed'"),
    ('fg_mask', ValueError, r'fg_mask holds .npy foreground masks'),
    ('missing_variant', FileNotFoundError,
     r"IN-9 variant 'only_fg' not found"),
    ('bad_mapping', ValueError, r'values must be IN-9 classes 0-8 or -1'),
    ('missing_mapping', FileNotFoundError, r'IN-9 class mapping not found'),
])
def test_in9_bad_inputs(tmp_path, case, error, match):
    root = make_in9(tmp_path)
    cfg = dict(type='ImageNet9', data_root=root)
    if case == 'unknown_variant':
        cfg['variants'] = 'mixed'
    elif case == 'fg_mask':
        cfg['variants'] = ('original', 'fg_mask')
    elif case == 'missing_variant':
        cfg['variants'] = 'only_fg'
    elif case == 'bad_mapping':
        with open(osp.join(root, 'bad.json'), 'w') as f:
            json.dump({'0': 9}, f)
        cfg['class_mapping'] = osp.join(root, 'bad.json')
    elif case == 'missing_mapping':
        cfg['class_mapping'] = osp.join(root, 'nothing.json')
    with pytest.raises(error, match=match):
        build(**cfg)
