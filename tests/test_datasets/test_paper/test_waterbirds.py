# Copyright (c) ifam_mm contributors. All rights reserved.
import logging
import os
import os.path as osp
from unittest import mock

import pytest
from fixtures import build, packed, rel_paths, write_image, write_text
from mmengine.evaluator import Evaluator

from ifam_mm.evaluation import GroupAccuracy

HEADER = 'img_id,img_filename,y,split,place,place_filename'
# (file, y, split, place): train groups 0, 0, 1, 2, 3, 3; val one per group;
# test two.
ROWS = [
    ('001.Albatross/a.jpg', 0, 0, 0),
    ('001.Albatross/b.jpg', 0, 0, 0),
    ('001.Albatross/c.jpg', 0, 0, 1),
    ('002.Gull/d.jpg', 1, 0, 0),
    ('002.Gull/e.jpg', 1, 0, 1),
    ('002.Gull/f.jpg', 1, 0, 1),
    ('001.Albatross/g.jpg', 0, 1, 0),
    ('001.Albatross/h.jpg', 0, 1, 1),
    ('002.Gull/i.jpg', 1, 1, 0),
    ('002.Gull/j.jpg', 1, 1, 1),
    ('001.Albatross/k.jpg', 0, 2, 1),
    ('002.Gull/l.jpg', 1, 2, 0),
]
KEYS = ('group_label', 'spurious_label', 'seg_map_path')


def make_waterbirds(root, rows=ROWS, header=HEADER, masks=False):
    """Write a Waterbirds folder: metadata.csv, images and maybe masks."""
    lines = [header]
    for i, (name, y, split, place) in enumerate(rows):
        lines.append(f'{i + 1},{name},{y},{split},{place},'
                     f'{"water" if place else "land"}/x.jpg')
        write_image(osp.join(root, 'wb', name), value=10 * i)
        if masks:
            write_image(
                osp.join(root, 'segmentations', name.replace('.jpg', '.png')))
    write_text(osp.join(root, 'wb', 'metadata.csv'), lines)
    return str(root)


def test_splits_labels_and_groups(tmp_path):
    root = make_waterbirds(tmp_path)
    data = dict(type='Waterbirds', data_root=osp.join(root, 'wb'))
    train = build(KEYS, split='train', **data)
    samples = packed(train)
    assert rel_paths(samples, tmp_path / 'wb') == [r[0] for r in ROWS[:6]]
    assert [int(s.gt_label) for s in samples] == [0, 0, 0, 1, 1, 1]
    assert [s.spurious_label for s in samples] == [0, 0, 1, 0, 1, 1]
    assert [s.group_label for s in samples] == [0, 0, 1, 2, 3, 3]
    assert 'seg_map_path' not in samples[0]
    assert tuple(train[0]['inputs'].shape) == (3, 6, 8)
    meta = train.metainfo
    assert meta['train_group_counts'] == (2, 1, 1, 2)
    assert meta['minority_groups'] == (1, 2)
    assert meta['classes'] == ('landbird', 'waterbird')

    val = build(KEYS, split='val', **data)
    assert [s.group_label for s in packed(val)] == [0, 1, 2, 3]
    # The training counts do not depend on the split loaded.
    assert val.metainfo['train_group_counts'] == (2, 1, 1, 2)
    test = build(KEYS, split='test', **data)
    assert rel_paths(packed(test), tmp_path /
                     'wb') == ['001.Albatross/k.jpg', '002.Gull/l.jpg']


def test_reference_layout_with_masks(tmp_path):
    # Extracted into CUB_200_2011/: masks are the CUB segmentations.
    root = make_waterbirds(tmp_path, masks=True)
    dataset = build(
        KEYS,
        type='Waterbirds',
        data_root=root,
        split='test',
        ann_file='wb/metadata.csv',
        data_prefix=dict(img_path='wb', seg_map_path='segmentations'))
    samples = packed(dataset)
    assert samples[0].seg_map_path == osp.join(root, 'segmentations',
                                               '001.Albatross', 'k.png')
    assert [s.group_label for s in samples] == [1, 2]


def test_group_accuracy_reads_the_dataset(tmp_path):
    dataset = build(
        KEYS,
        type='Waterbirds',
        data_root=osp.join(make_waterbirds(tmp_path), 'wb'),
        split='val')
    samples = [s.set_pred_label(0) for s in packed(dataset)]
    evaluator = Evaluator(GroupAccuracy())
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(samples)
    metrics = evaluator.evaluate(len(samples))
    assert metrics['group/worst_group_acc'] == 0.
    # Groups 0 and 1 (landbirds) are right; weights 2, 1, 1, 2 of 6.
    assert metrics['group/weighted_average_acc'] == pytest.approx(50.)
    assert metrics['group/reference_worst_acc'] == 0.


def test_test_as_val_warns(tmp_path):
    root = osp.join(make_waterbirds(tmp_path), 'wb')
    with mock.patch('ifam_mm.datasets.paper.utils.print_log') as log:
        dataset = build(
            KEYS, type='Waterbirds', data_root=root, split='test_as_val')
    assert len(dataset) == 2
    message, = log.call_args.args
    assert 'TEST split' in message
    assert log.call_args.kwargs['level'] == logging.WARNING


@pytest.mark.parametrize('case, error, match', [
    ('no_place_column', ValueError, r"no column \['place'\]"),
    ('y_out_of_range', ValueError, r'line 2, column y: 2 is out of range'),
    ('missing_image', FileNotFoundError, r'1 of 6 Waterbirds images'),
    ('unknown_split', ValueError, r"unknown split 'valid'"),
])
def test_bad_inputs(tmp_path, case, error, match):
    rows, header, split = list(ROWS), HEADER, 'train'
    if case == 'no_place_column':
        header = header.replace('place,', 'location,')
    elif case == 'y_out_of_range':
        rows[0] = ('001.Albatross/a.jpg', 2, 0, 0)
    elif case == 'unknown_split':
        split = 'valid'
    root = osp.join(make_waterbirds(tmp_path, rows, header), 'wb')
    if case == 'missing_image':
        os.remove(osp.join(root, '002.Gull', 'd.jpg'))
    with pytest.raises(error, match=match):
        build(type='Waterbirds', data_root=root, split=split)
