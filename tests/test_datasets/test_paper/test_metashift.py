# Copyright (c) ifam_mm contributors. All rights reserved.
import os.path as osp

import pytest
from fixtures import build, packed, rel_paths, write_image

KEYS = ('group_label', 'spurious_label', 'context')
TRAIN = {
    'cat/cat(sofa)': 3,
    'cat/cat(bed)': 1,
    'dog/dog(bench)': 2,
    'dog/dog(sofa)': 2,
}
TEST = {'cat/cat(shelf)': 2, 'dog/dog(shelf)': 1}


def make_metashift(root, folders=None):
    """Write MetaDatasetCatDog/{train,test}/<class>/<context>/<n>.jpg."""
    folders = folders or {
        **{
            f'train/{k}': n
            for k, n in TRAIN.items()
        },
        **{
            f'test/{k}': n
            for k, n in TEST.items()
        }
    }
    for folder, count in folders.items():
        for n in range(count):
            write_image(osp.join(root, folder, f'{n}.jpg'))
    return str(root)


def test_test_split_groups_by_class(tmp_path):
    root = make_metashift(tmp_path)
    dataset = build(KEYS, type='MetaShift', data_root=root, split='test')
    samples = packed(dataset)
    assert rel_paths(samples, tmp_path) == [
        'test/cat/cat(shelf)/0.jpg', 'test/cat/cat(shelf)/1.jpg',
        'test/dog/dog(shelf)/0.jpg'
    ]
    assert [int(s.gt_label) for s in samples] == [0, 0, 1]
    assert [s.group_label for s in samples] == [0, 0, 1]
    assert [s.context for s in samples] == ['shelf'] * 3
    # Contexts of both folders, so indices agree between splits.
    names = dataset.metainfo['spurious_names']
    assert names == ('bed', 'bench', 'shelf', 'sofa')
    assert [s.spurious_label for s in samples] == [2] * 3


def test_groups_by_context_and_held_out_val(tmp_path):
    root = make_metashift(tmp_path)
    data = dict(
        type='MetaShift',
        data_root=root,
        group_by='context',
        val_fraction=0.25)
    trainval = build(KEYS, split='trainval', **data)
    names = trainval.metainfo['group_names']
    assert names == ('cat(bed)', 'cat(shelf)', 'cat(sofa)', 'dog(bench)',
                     'dog(shelf)', 'dog(sofa)')
    samples = packed(trainval)
    assert len(samples) == 8
    for s in samples:
        context_folder = osp.basename(osp.dirname(s.img_path))
        assert names[s.group_label] == context_folder
    # 25 % of each class: 1 of 4 cats, 1 of 4 dogs.
    val = build(KEYS, split='val', **data)
    train = build(KEYS, split='train', **data)
    assert len(val) == 2 and len(train) == 6
    assert sorted(int(s.gt_label) for s in packed(val)) == [0, 1]
    assert not set(rel_paths(packed(val), root)) & set(
        rel_paths(packed(train), root))


@pytest.mark.parametrize('case, match', [
    ('no_context_folder', r'is not in a context folder'),
    ('third_class', r"class folders \['bird', 'cat', 'dog'\]"),
    ('missing_test', r'MetaShift folder not found'),
    ('bad_group_by', r"group_by must be one of"),
])
def test_bad_inputs(tmp_path, case, match):
    folders = {
        'train/cat/cat(sofa)': 1,
        'train/dog/dog(bed)': 1,
        'test/cat/cat(shelf)': 1,
        'test/dog/dog(shelf)': 1
    }
    cfg = dict(type='MetaShift', data_root=str(tmp_path), split='test')
    if case == 'no_context_folder':
        folders['test/cat'] = 1
    elif case == 'third_class':
        folders['test/bird/bird(sky)'] = 1
    elif case == 'missing_test':
        folders = {k: n for k, n in folders.items() if k.startswith('train')}
    elif case == 'bad_group_by':
        cfg['group_by'] = 'place'
    make_metashift(tmp_path, folders)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        build(**cfg)
