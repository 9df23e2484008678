# Copyright (c) ifam_mm contributors. All rights reserved.
import os
import os.path as osp

import numpy as np
import pytest
from fixtures import build, packed, rel_paths, write_image, write_text

CLASSES = [
    '001.Black_footed_Albatross', '002.Laysan_Albatross', '003.Sooty_Albatross'
]
PARTS = ['back', 'left eye', 'tail']
# (image id, class id 1-3, is_train); 4 train images per class, 1 test.
IMAGES = [(i, 1 + (i - 1) % 3, int(i <= 12)) for i in range(1, 16)]


def image_name(image_id, label):
    return f'{CLASSES[label - 1]}/img_{image_id:04d}.jpg'


def make_cub(root, labels=None, masks=False, waterbirds=False):
    """Write a CUB_200_2011 folder with every annotation file."""
    labels = labels or {i: c for i, c, _ in IMAGES}
    write_text(
        osp.join(root, 'classes.txt'),
        [f'{i + 1} {name}' for i, name in enumerate(CLASSES)])
    write_text(
        osp.join(root, 'images.txt'),
        [f'{i} {image_name(i, c)}' for i, c, _ in IMAGES])
    write_text(
        osp.join(root, 'image_class_labels.txt'),
        [f'{i} {labels[i]}' for i, _, _ in IMAGES])
    write_text(
        osp.join(root, 'train_test_split.txt'),
        [f'{i} {t}' for i, _, t in IMAGES])
    write_text(
        osp.join(root, 'parts', 'parts.txt'),
        [f'{p + 1} {name}' for p, name in enumerate(PARTS)])
    # Parts at (1, 1) and (2, 2); the third is invisible.
    write_text(
        osp.join(root, 'parts', 'part_locs.txt'), [
            f'{i} {p + 1} {loc}' for i, _, _ in IMAGES
            for p, loc in enumerate(['1.0 1.0 1', '2.0 2.0 1', '0.0 0.0 0'])
        ])
    write_text(
        osp.join(root, 'bounding_boxes.txt'),
        [f'{i} 1.0 2.0 3.0 2.5' for i, _, _ in IMAGES])
    for i, c, _ in IMAGES:
        write_image(osp.join(root, 'images', image_name(i, c)))
        if masks:
            write_image(
                osp.join(root, 'segmentations',
                         image_name(i, c).replace('.jpg', '.png')),
                value=255 * (i % 2),
                gray=True)
        if waterbirds:
            write_image(
                osp.join(root, 'waterbird_complete95_forest2water2',
                         image_name(i, c)),
                value=128,
                size=(5, 5))
    return str(root)


def info(dataset, key):
    return [dataset.get_data_info(i)[key] for i in range(len(dataset))]


def test_official_and_held_out_splits(tmp_path):
    root = make_cub(tmp_path)
    data = dict(type='CUB200', data_root=root, val_fraction=0.5)
    splits = {
        split: build(split=split, **data)
        for split in ('train', 'val', 'trainval', 'test')
    }
    test = packed(splits['test'])
    assert rel_paths(test, tmp_path / 'images') == [
        image_name(i, c) for i, c, t in IMAGES if not t
    ]
    assert [int(s.gt_label) for s in test] == [0, 1, 2]
    assert splits['test'].metainfo['classes'][0] == 'Black_footed_Albatross'

    train, val, trainval = (
        info(splits[s], 'img_id') for s in ('train', 'val', 'trainval'))
    # Half of each class's 4 images, disjoint, together the official split.
    assert len(train) == len(val) == 6 and not set(train) & set(val)
    assert sorted(train + val) == trainval == list(range(1, 13))
    assert sorted(info(splits['val'], 'gt_label')) == [0, 0, 1, 1, 2, 2]
    # Deterministic: the same choice on a rebuild.
    assert info(build(split='val', **data), 'img_id') == val


def test_parts_boxes_and_masks(tmp_path):
    root = make_cub(tmp_path, masks=True)
    keys = ('img_id', 'gt_keypoints', 'gt_bboxes', 'seg_map_path',
            'gt_seg_map')
    cfg = dict(
        type='CUB200',
        data_root=root,
        split='test',
        data_prefix=dict(img_path='images', seg_map_path='segmentations'),
        with_parts=True,
        with_bbox=True)
    # mmcv's LoadAnnotations reads seg_map_path into gt_seg_map.
    load_mask = dict(
        type='LoadAnnotations',
        with_bbox=False,
        with_label=False,
        with_seg=True)
    dataset = build(keys, [load_mask], **cfg)
    assert dataset.metainfo['part_names'] == tuple(PARTS)
    sample = packed(dataset)[0]
    assert sample.img_id == 13
    np.testing.assert_array_equal(sample.gt_keypoints,
                                  [[[1, 1, 1], [2, 2, 1], [0, 0, 0]]])
    np.testing.assert_array_equal(sample.gt_bboxes, [[1, 2, 4, 4.5]])
    assert sample.seg_map_path.endswith(
        osp.join('segmentations', CLASSES[0], 'img_0013.png'))
    assert sample.gt_seg_map.shape == (6, 8) and sample.gt_seg_map.max() > 0

    # mmcv's CenterCrop keeps the annotations aligned: the 8 x 6 image
    # loses x < 2 and y < 1, so the part at (1, 1) becomes invisible.
    crop = dict(type='CenterCrop', crop_size=4)
    sample = packed(build(keys, [load_mask, crop], **cfg))[0]
    np.testing.assert_array_equal(sample.gt_keypoints[0, :2],
                                  [[0, 0, 0], [0, 1, 1]])
    np.testing.assert_array_equal(sample.gt_bboxes, [[0, 1, 2, 3.5]])
    assert sample.gt_seg_map.shape == (4, 4)


def test_waterbird200_reads_waterbirds_images(tmp_path):
    root = make_cub(tmp_path, waterbirds=True)
    dataset = build(type='Waterbird200', data_root=root)
    samples = packed(dataset)
    assert rel_paths(samples, tmp_path) == [
        f'waterbird_complete95_forest2water2/{image_name(i, c)}'
        for i, c, t in IMAGES if not t
    ]
    assert [int(s.gt_label) for s in samples] == [0, 1, 2]
    assert tuple(dataset[0]['inputs'].shape) == (3, 5, 5)


@pytest.mark.parametrize('case, error, match', [
    ('label_out_of_range', ValueError,
     r'image_class_labels.txt, image id 2: 4 is out of range'),
    ('no_part_locs', FileNotFoundError, r'part_locs.txt'),
    ('empty_val', ValueError, r'split="val" is empty with val_fraction=0'),
])
def test_bad_inputs(tmp_path, case, error, match):
    labels = {i: c for i, c, _ in IMAGES}
    cfg = dict(type='CUB200', data_root=str(tmp_path), with_parts=True)
    if case == 'label_out_of_range':
        labels[2] = 4
    elif case == 'empty_val':
        cfg.update(split='val', val_fraction=0.)
    make_cub(tmp_path, labels)
    if case == 'no_part_locs':
        os.remove(tmp_path / 'parts' / 'part_locs.txt')
    with pytest.raises(error, match=match):
        build(**cfg)


def test_val_fraction_too_small_for_the_classes_says_what_works(tmp_path):
    # 4 training images per class: round(0.1 * 4) = 0 held out.
    make_cub(tmp_path, {i: c for i, c, _ in IMAGES})
    cfg = dict(type='CUB200', data_root=str(tmp_path), split='val')
    with pytest.raises(ValueError) as error:
        build(val_fraction=0.1, **cfg)
    message = str(error.value)
    assert 'no image of 3 of 3 classes with val_fraction=0.1' in message
    assert 'needs at least 5 training images per class' in message
    assert 'class 0: 4, class 1: 4, class 2: 4' in message
    assert 'val_fraction >= 0.125 holds out one image of each' in message
    # The fraction the message names works.
    samples = packed(build(val_fraction=0.125, **cfg))
    assert sorted(int(s.gt_label) for s in samples) == [0, 1, 2]
