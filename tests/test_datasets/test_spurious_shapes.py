# Copyright (c) ifam_mm contributors. All rights reserved.
import glob
import gzip
import hashlib
import os
import os.path as osp
import pickle

import cv2
import mmengine
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import ifam_mm  # noqa: F401  (stack fixes first)
from ifam_mm.datasets.spurious_shapes import (SPLITS, FillBackground,
                                              LoadSpuriousShapesMasks,
                                              SpuriousShapes, token_leakage,
                                              token_mask)
from ifam_mm.datasets.spurious_shapes import generator as generator_module
from ifam_mm.datasets.spurious_shapes.animals import (load_animal_silhouettes,
                                                      read_pickled_array)
from ifam_mm.datasets.spurious_shapes.masks import BLANK_VALUE
from ifam_mm.datasets.spurious_shapes.objects import ObjectSource
from ifam_mm.datasets.spurious_shapes.render import render
from ifam_mm.datasets.spurious_shapes.textures import random_crop
from mmpretrain.registry import DATASETS, MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(train=40, val=16, test=16, test_heldout_bg=8, only_fg=8,
             only_bg=8, mixed_same=8, mixed_rand=8)


def build(root, split='train', **kwargs):
    kwargs.setdefault('num_samples', SMALL)
    # Serialising runs gc.collect (a third of a second with torch loaded).
    kwargs.setdefault('serialize_data', False)
    return SpuriousShapes(str(root), split=split, **kwargs)


def load(ds, i):
    info = ds.get_data_info(i)
    masks = LoadSpuriousShapesMasks()(
        dict(img=cv2.imread(info['img_path']), mask_path=info['mask_path']))
    return info, masks


def split_digests(root, **kwargs):
    """Hash of the decoded pixels and labels of each split."""
    cache_dir = build(root, **kwargs).cache_dir
    digests = []
    for split in SPLITS:
        digest = hashlib.sha256()
        for info in mmengine.load(osp.join(cache_dir,
                                           f'{split}.json'))['data_list']:
            for key in ('img_path', 'mask_path'):
                path = osp.join(cache_dir, info.pop(key))
                digest.update(
                    cv2.imread(path, cv2.IMREAD_UNCHANGED).tobytes())
            digest.update(repr(sorted(info.items())).encode())
        digests.append(digest.hexdigest())
    return digests


@pytest.fixture(scope='module', params=['background', 'cooccurring_object'])
def datasets(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    return {
        split: build(root, split, cue=request.param, fg_source='creatures')
        for split in SPLITS
    }


def test_regenerates_bit_identically_from_seed(tmp_path):
    first = split_digests(tmp_path / 'a')
    again = split_digests(tmp_path / 'b')
    other = split_digests(tmp_path / 'c', seed=1)
    assert first == again
    assert all(x != y for x, y in zip(first, other))


def test_train_correlation_and_balanced_eval_splits(datasets):
    train = datasets['train']
    groups = np.bincount([i['group_label'] for i in train], minlength=4)
    # 20 per class, round(0.95 * 20) = 19 with the majority attribute.
    assert groups.tolist() == [19, 1, 1, 19]
    assert train.metainfo['train_group_counts'] == (19, 1, 1, 19)
    assert train.metainfo['minority_groups'] == (1, 2)
    for info in train:
        assert info['group_label'] == 2 * info['gt_label'] + (
            info['spurious_label'] if train.metainfo['cue'] ==
            'cooccurring_object' else info['bg_label'])
    for split in ('val', 'test'):
        groups = [i['group_label'] for i in datasets[split]]
        assert np.bincount(groups).tolist() == [4, 4, 4, 4]


def test_train_correlation_is_exact(tmp_path):
    train = build(tmp_path, num_samples=dict(SMALL, train=200), p_major=0.8)
    labels = np.array([i['gt_label'] for i in train])
    attrs = np.array([i['spurious_label'] for i in train])
    assert (labels == attrs).mean() == 0.8


def test_variant_background_identities(datasets):
    cue = datasets['train'].metainfo['cue']
    assert datasets['train'].metainfo['backgrounds'] == ('grass', 'brick',
                                                         'gravel')
    for split in ('only_fg', 'only_bg', 'mixed_same', 'mixed_rand'):
        assert {i['variant'] for i in datasets[split]} == {split}
    assert {i['variant'] for i in datasets['test']} == {'original'}
    for info in datasets['mixed_same']:
        assert info['spurious_label'] == info['gt_label']
    heldout = datasets['test_heldout_bg']
    assert {i['bg_label'] for i in heldout} == {2}
    if cue == 'background':
        assert heldout.metainfo['group_names'] == ('bird/gravel',
                                                   'quadruped/gravel')
        assert [i['group_label'] for i in heldout] == [
            i['gt_label'] for i in heldout
        ]
    for i in range(len(datasets['only_fg'])):
        info, masks = load(datasets['only_fg'], i)
        img = cv2.imread(info['img_path'])
        assert info['bg_label'] == info['spurious_label'] == -1
        assert (img[~masks['gt_fg_mask']] == BLANK_VALUE).all()
        assert not masks['gt_cue_mask'].any()
    for i in range(len(datasets['only_bg'])):
        info, masks = load(datasets['only_bg'], i)
        assert info['bg_label'] in (0, 1)
        assert not masks['gt_fg_mask'].any()
        assert (cv2.imread(info['img_path']) == BLANK_VALUE).all(2).sum() > 50


def test_masks_are_exact_and_cue_has_own_tokens(datasets):
    for split in ('train', 'test', 'mixed_rand'):
        ds = datasets[split]
        for i in range(len(ds)):
            _, masks = load(ds, i)
            fg, cue = masks['gt_fg_mask'], masks['gt_cue_mask']
            assert fg.any() and cue.any() and not (fg & cue).any()
            assert set(np.unique(masks['gt_part_mask'][fg])) <= {1, 2, 3, 4}
            if ds.metainfo['cue'] == 'cooccurring_object':
                # No token holds pixels of both objects.
                assert not (token_mask(fg, 8, 0) & token_mask(cue, 8, 0)).any()
            else:
                assert (fg | cue).all()


def test_load_masks_follows_a_flip_and_refuses_a_resize(datasets):
    info = datasets['test'].get_data_info(0)
    img = cv2.imread(info['img_path'])
    plain = LoadSpuriousShapesMasks()(
        dict(img=img, mask_path=info['mask_path']))
    flipped = LoadSpuriousShapesMasks(keys=('gt_fg_mask', ))(
        dict(
            img=img[:, ::-1],
            mask_path=info['mask_path'],
            flip=True,
            flip_direction='horizontal'))
    assert set(flipped) & set(plain) == {'img', 'mask_path', 'gt_fg_mask'}
    assert (flipped['gt_fg_mask'] == plain['gt_fg_mask'][:, ::-1]).all()
    with pytest.raises(ValueError, match='before any resize'):
        LoadSpuriousShapesMasks()(
            dict(img=img[:32], mask_path=info['mask_path']))


def test_pasted_pixels_match_mask():
    obj = np.zeros((30, 30), np.uint8)
    cv2.circle(obj, (15, 15), 12, 1, -1)
    obj[:10, :] = 0
    img, label_map = render(obj, 'grass', 'background', None, 64, 8, 10,
                            np.random.default_rng(3))
    # The same stream draws the same background crop first.
    crop = random_crop('grass', 64, np.random.default_rng(3))
    fg = (label_map >= 1) & (label_map <= 99)
    assert fg.sum() == obj.sum()
    assert (img[~fg] == crop[~fg][:, None]).all()
    # Binary alpha: every object pixel is the object's colour, which is
    # saturated, so no pixel is a grey mix with the background.
    assert (img[fg].astype(int).max(1) - img[fg].min(1) > 40).mean() > 0.95


def test_cache_invalidation_and_atomic_generation(tmp_path, monkeypatch):
    ds = build(tmp_path)
    record_path = osp.join(ds.cache_dir, 'meta.json')
    assert len(glob.glob(str(tmp_path / '*'))) == 1
    # Same parameters: reused, not rewritten.
    mtime = os.stat(record_path).st_mtime_ns
    assert build(tmp_path).cache_dir == ds.cache_dir
    assert os.stat(record_path).st_mtime_ns == mtime
    # Recorded parameters differ: regenerated in place.
    record = mmengine.load(record_path)
    record['params']['p_major'] = 0.5
    mmengine.dump(record, record_path)
    os.remove(osp.join(ds.cache_dir, 'train', 'img', '00000.png'))
    again = build(tmp_path)
    assert again.cache_dir == ds.cache_dir
    assert mmengine.load(record_path)['params']['p_major'] == 0.95
    assert osp.isfile(osp.join(ds.cache_dir, 'train', 'img', '00000.png'))
    # Other parameters: another cache beside it.
    assert build(tmp_path, p_major=0.9).cache_dir != ds.cache_dir

    # A generation that dies half way leaves nothing that passes for a cache.
    def fail(split, *args):
        if split == 'test':
            raise KeyboardInterrupt
        return original(split, *args)

    original = generator_module.generate_split
    monkeypatch.setattr(generator_module, 'generate_split', fail)
    root = tmp_path / 'interrupted'
    with pytest.raises(KeyboardInterrupt):
        build(root)
    assert os.listdir(root) == []
    monkeypatch.undo()
    assert len(build(root)) == SMALL['train']


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='split must be one of'):
        build(tmp_path, 'testing')
    with pytest.raises(ValueError, match='cue must be one of'):
        build(tmp_path, cue='texture')
    with pytest.raises(ValueError, match='multiple of patch_size'):
        build(tmp_path, img_size=60)
    with pytest.raises(ValueError, match='distinct animals'):
        build(
            tmp_path,
            fg_source='animals',
            animal_classes=(('bird', ), ('unicorn', )))
    with pytest.raises(ValueError, match='textures'):
        build(tmp_path, textures=('grass', 'grass'))
    with pytest.raises(TypeError, match='ann_file'):
        build(tmp_path, ann_file='x.json')
    assert not os.listdir(tmp_path)


def test_fill_background_and_token_leakage(datasets):
    _, results = load(datasets['test'], 0)
    fg = results['gt_fg_mask']
    before = results['img'].copy()
    results = FillBackground()(results)
    assert (results['img'][~fg] == BLANK_VALUE).all()
    assert (results['img'][fg] == before[fg]).all()
    fg = np.stack([load(datasets['test'], i)[1]['gt_fg_mask']
                   for i in range(len(datasets['test']))])
    any_fg = token_leakage(fg, 8, min_fraction=0)
    half = token_leakage(fg, 8)
    assert any_fg['fg_dropped'] == 0 and 0 < any_fg['bg_in_kept'] < 1
    assert half['bg_in_kept'] < any_fg['bg_in_kept']
    assert token_leakage(fg, 1) == dict(
        bg_in_kept=0., fg_dropped=0., kept_tokens=fg.mean(), empty_masks=0.)


def test_stock_config_builds_dataloader_with_group_labels(tmp_path):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/datasets/spurious_shapes.py'))
    loader_cfg = cfg.test_dataloader
    loader_cfg.batch_size = 8
    loader_cfg.dataset.update(data_root=str(tmp_path), num_samples=SMALL)
    # What the Runner does with mmpretrain's default_runtime.py.
    init_default_scope('mmpretrain')
    loader = Runner.build_dataloader(loader_cfg)
    batch = next(iter(loader))
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=32,
                    num_layers=1,
                    num_heads=2,
                    feedforward_channels=64),
                img_size=64,
                patch_size=8),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=32),
            data_preprocessor=cfg.data_preprocessor))
    with torch.no_grad():
        outputs = model.val_step(batch)
    assert [o.group_label for o in outputs] == [
        loader.dataset.get_data_info(i)['group_label'] for i in range(8)
    ]
    assert outputs[0].gt_fg_mask.shape == (64, 64)
    assert outputs[0].variant == 'original'
    evaluator = Runner.build_evaluator(None, cfg.test_evaluator)
    evaluator.dataset_meta = loader.dataset.metainfo
    evaluator.process(outputs, batch)
    metrics = evaluator.evaluate(8)
    assert 0 <= metrics['group/worst_group_acc'] <= 100


def test_animal_silhouettes_are_read_without_unpickling(tmp_path):
    images, labels = load_animal_silhouettes()
    assert images.shape == (10000, 28, 28)
    assert np.bincount(labels).tolist() == [1000] * 10
    evil = tmp_path / 'evil.gz'
    with gzip.open(evil, 'wb') as f:
        pickle.dump(os.system, f)  # unpickling it would hand out os.system
    with pytest.raises(ValueError, match='refusing'):
        read_pickled_array(str(evil))


def test_animals_source(tmp_path):
    ds = build(tmp_path, 'test', fg_source='animals')
    assert ds.metainfo['classes'] == ('bird', 'cat+dog')
    assert ds.metainfo['part_names'] == ('animal', )
    for i in range(len(ds)):
        part_mask = load(ds, i)[1]['gt_part_mask']
        assert set(np.unique(part_mask)) == {0, 1}
    pools = ObjectSource('animals', (('bird', ), ('cat', 'dog')), 0).pools
    for label in (0, 1):
        ids = [set(pools[label, p]) for p in ('train', 'val', 'test')]
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_registered():
    assert DATASETS.get('SpuriousShapes') is SpuriousShapes


def test_animals_without_the_extra_name_it(monkeypatch):
    from ifam_mm.datasets.spurious_shapes import animals
    find_spec = animals.importlib.util.find_spec
    monkeypatch.setattr(
        animals.importlib.util, 'find_spec', lambda name, *args: None
        if name == 'animal_shape_mnist' else find_spec(name, *args))
    # _data_dir is what the (cached) loader calls first.
    with pytest.raises(ImportError) as error:
        animals._data_dir()
    message = str(error.value)
    assert 'optional package "animal-shape-mnist"' in message
    assert 'pip install "ifam_mm[animals]"' in message
    assert "fg_source='creatures'" in message
