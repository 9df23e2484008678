# Copyright (c) ifam_mm contributors. All rights reserved.
"""The iFAM paper configs, their ablations and the mixing examples.

Every config parses, builds with tiny overrides and trains one step in
which every trainable parameter gets a gradient (a parameter without one
makes DDP fail); the optimizer gets the paper's effective learning rate and
weight decay for every parameter; the recipe numbers (sqrt-batch learning
rate, normalized weight decay, schedule) are the paper's.
"""
import copy
import glob
import inspect
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.optim import build_optim_wrapper

import ifam_mm  # noqa: F401  (registers the plugin's modules)
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
IFAM_CONFIGS = sorted(
    glob.glob(osp.join(CONFIG_DIR, 'ifam', '**', '*.py'), recursive=True))
MIXING_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, 'mixing', '*.py')))
USER_CONFIG = osp.join(CONFIG_DIR, 'ifam_cub_k8.py')
ALL_CONFIGS = IFAM_CONFIGS + MIXING_CONFIGS + [USER_CONFIG]
TOY_CONFIG = osp.join(CONFIG_DIR, 'ifam', 'ifam_vit-tiny-p8_1xb16_toy.py')
PAPER_CONFIGS = [p for p in IFAM_CONFIGS if p != TOY_CONFIG] + [USER_CONFIG]

SUFFIX = 'vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
CUB_K4 = osp.join(CONFIG_DIR, 'ifam', f'ifam-k4_{SUFFIX}')
CUB_K8 = osp.join(CONFIG_DIR, 'ifam', f'ifam-k8_{SUFFIX}')


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    # Tiny tensors gain nothing from threads, and on a busy 2-core machine
    # two torch threads contend and run several times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ids(paths):
    return [osp.relpath(p, CONFIG_DIR) for p in paths]


_CACHE = {}


def load(path):
    """Parse once per session (mmpretrain:: bases make parsing slow)."""
    if path not in _CACHE:
        _CACHE[path] = Config.fromfile(path)
    return copy.deepcopy(_CACHE[path])


# Tiny stand-ins for the ViT-B backbones: 32-d, 2 blocks, 56 px, 8 px
# patches (a 7 x 7 grid). Everything else in the config is kept.
TINY_TIMM = dict(
    embed_dim=32,
    depth=2,
    num_heads=2,
    img_size=56,
    patch_size=8,
    pretrained=None)
TINY_MMPRETRAIN_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def tiny_backbone(cfg):
    if cfg is None:
        return None
    cfg = ConfigDict(cfg)
    if cfg.type == 'HardMaskViT':
        cfg.update(TINY_TIMM)
    elif cfg.type == 'VisionTransformer':
        cfg.update(
            arch=TINY_MMPRETRAIN_ARCH, img_size=56, patch_size=8,
            init_cfg=None)
        if cfg.get('frozen_stages', -1) > 0:
            cfg.frozen_stages = TINY_MMPRETRAIN_ARCH['num_layers']
    else:
        raise AssertionError(f'no tiny override for {cfg.type}')
    return cfg


def tiny_model_cfg(cfg):
    """The config's model with ViT-B replaced by a 32-d toy ViT."""
    model = copy.deepcopy(cfg.model)
    if 'depth' in model.backbone:
        return model  # already sized by hand (the toy config)
    model.backbone = tiny_backbone(model.backbone)
    if model.get('stage2_backbone') is not None:
        model.stage2_backbone = tiny_backbone(model.stage2_backbone)
    for head in ('part_head', 'head'):
        if model.get(head) is not None:
            model[head].in_channels = TINY_TIMM['embed_dim']
    return model


def build_tiny(cfg):
    model_cfg = tiny_model_cfg(cfg)
    # What the Runner does with the top-level data_preprocessor.
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def num_classes(cfg):
    head = cfg.model.get('head') or cfg.model.part_head
    return head.num_classes


def test_configs_found():
    assert len(IFAM_CONFIGS) >= 15 and len(MIXING_CONFIGS) >= 2


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=ids(ALL_CONFIGS))
def test_config_builds_and_trains_one_step(path):
    cfg = load(path)
    assert cfg.default_scope == 'mmpretrain'  # default_runtime inherited
    assert 'ifam_mm' in cfg.custom_imports.imports
    assert not cfg.custom_imports.allow_failed_imports
    if 'num_classes' in cfg.get('data_preprocessor', {}):
        assert num_classes(cfg) == cfg.data_preprocessor.num_classes
    if path != TOY_CONFIG and 'mixing' not in path:
        # Paper configs name a local weights file, loaded by both stages.
        assert cfg.pretrained.startswith('checkpoints/')
        assert cfg.model.backbone.pretrained == cfg.pretrained
        assert cfg.model.backbone.frozen  # stage 1: the paper's freezing
        if cfg.model.head is not None:
            assert cfg.model.stage2_backbone.pretrained == cfg.pretrained
    for split in ('val', 'test'):
        assert cfg[f'{split}_evaluator']
    if 'mixing' not in path:
        # The mixing examples keep MMPretrain's CUB config, which validates
        # on the test split: they select no "best" checkpoint.
        assert cfg.default_hooks.checkpoint.get('save_best')

    model = build_tiny(cfg)
    model.train()
    batch = 4
    size = 56
    samples = [
        DataSample().set_gt_label(i % num_classes(cfg)) for i in range(batch)
    ]
    data = model.data_preprocessor(
        dict(
            inputs=list(torch.randint(0, 256, (batch, 3, size, size))),
            data_samples=samples),
        training=True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    # DDP fails on a trainable parameter that gets no gradient.
    unused = [
        name for name, param in model.named_parameters()
        if param.requires_grad and param.grad is None
    ]
    assert not unused

    model.eval()
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert results[0].pred_score.shape == (num_classes(cfg), )


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=ids(ALL_CONFIGS))
def test_datasets_and_pipelines_fit_the_model(path, tmp_path):
    """Dataset arguments exist, and every pipeline turns an odd-sized
    image into exactly the size the backbone takes (HardMaskViT accepts
    nothing else), packing the fields the metrics read."""
    cfg = load(path)
    image = str(tmp_path / 'image.png')
    rng = np.random.default_rng(0)
    assert cv2.imwrite(image, rng.integers(0, 256, (300, 410, 3), np.uint8))
    backbone = cfg.model.backbone
    size = backbone.get('img_size')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = copy.deepcopy(cfg[loader].dataset)
        pipeline = Compose(
            [TRANSFORMS.build(t) for t in dataset.pop('pipeline')])
        dataset_cls = DATASETS.get(dataset.pop('type'))
        assert dataset_cls is not None
        inspect.signature(dataset_cls).bind(**dataset)  # known arguments
        for _ in range(3):  # random augmentations
            packed = pipeline(
                dict(
                    img_path=image,
                    gt_label=1,
                    group_label=2,
                    spurious_label=0))
            assert packed['inputs'].shape[0] == 3
            if size is not None:
                assert tuple(packed['inputs'].shape[1:]) == (size, size)
        keys = cfg[loader].dataset.pipeline[-1].get('algorithm_keys', ())
        evaluators = cfg.get(loader.replace('dataloader', 'evaluator'))
        if loader != 'train_dataloader' and 'GroupAccuracy' in str(evaluators):
            assert 'group_label' in keys
            assert packed['data_samples'].group_label == 2


def expected_group(name, recipe):
    """The paper's (lr multiplier, decayed?) for a trainable parameter.

    docs/method.md "Training recipe": tokens x1 without decay; prototypes x1e3
    without decay; modulation x1e4 without decay; both classifiers x1e4 with
    decay; the stage-2 fc_norm x1e4 without decay; other stage-2 weights x1,
    decayed if they are matrices.
    """
    prototypes, heads = recipe
    leaf = name.rsplit('.', 1)[-1]
    if leaf in ('cls_token', 'reg_token', 'pos_embed'):
        return 1.0, False
    if name == 'part_head.prototypes':
        return prototypes, False
    if name.startswith('part_head.modulation.'):
        return heads, False
    if name == 'part_head.classifier.weight':
        return heads, True
    if name.startswith('head.fc_norm.'):
        return heads, False
    if name == 'head.fc.weight':
        return heads, True
    # The other ViT weights: stage 2 (and stage 1 where it is not frozen).
    assert name.startswith(('stage2_backbone.', 'backbone.')), name
    return 1.0, None  # decided by the tensor's shape


def effective_groups(cfg, model):
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    # AmpOptimWrapper needs a GPU; the parameter groups do not depend on it.
    if optim_cfg.get('type') == 'AmpOptimWrapper':
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('dtype', None)
    wrapper = build_optim_wrapper(model, optim_cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            groups[names[id(param)]] = (group['lr'], group['weight_decay'])
    return groups


RECIPE_CONFIGS = [p for p in PAPER_CONFIGS if 'no-stage2' not in p]


@pytest.mark.parametrize(
    'path', RECIPE_CONFIGS + [TOY_CONFIG],
    ids=ids(RECIPE_CONFIGS + [TOY_CONFIG]))
def test_effective_lr_and_weight_decay_per_parameter(path):
    cfg = load(path)
    model = build_tiny(cfg)
    groups = effective_groups(cfg, model)
    lr = cfg.optim_wrapper.optimizer.lr
    decay = cfg.optim_wrapper.optimizer.weight_decay
    # The paper's multipliers; the toy schedule keeps the paper's absolute
    # head rates for a 1000x larger base rate.
    recipe = (1.0, 10.0) if path == TOY_CONFIG else (1e3, 1e4)

    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(groups) == trainable
    stage1 = {n for n in trainable if n.startswith('backbone.')}
    if path == TOY_CONFIG:
        # Random weights: nothing to preserve, so stage 1 is not frozen.
        assert 'backbone.vit.blocks.0.attn.qkv.weight' in stage1
    else:
        # Stage 1 trains only its CLS token, registers and position
        # embedding (RAD-DINO has no registers).
        assert stage1 <= {
            'backbone.vit.cls_token', 'backbone.vit.reg_token',
            'backbone.vit.pos_embed'
        }
        assert 'backbone.vit.pos_embed' in stage1
    stage2_blocks = {
        n
        for n in trainable if n.startswith('stage2_backbone.vit.blocks.')
    }
    if 'frozen-stage2' in path:
        assert not stage2_blocks  # only its tokens train
    else:
        assert stage2_blocks

    for name, param in model.named_parameters():
        if name not in groups:
            continue
        mult, decayed = expected_group(name, recipe)
        if decayed is None:
            decayed = param.ndim > 1
        got_lr, got_decay = groups[name]
        assert got_lr == pytest.approx(lr * mult), name
        assert got_decay == pytest.approx(decay if decayed else 0.0), name

    # Every key catches at least one parameter of a full model (a typo or a
    # renamed module would silently drop a multiplier); '.reg_token' has
    # nothing to catch on RAD-DINO.
    names = list(groups)
    for key in cfg.optim_wrapper.paramwise_cfg.custom_keys:
        if key == '.reg_token' and 'rad-dino' in path:
            continue
        assert any(key in f'.{n}' for n in names), key


def test_custom_keys_catch_only_what_they_name():
    """mmengine matches keys as substrings: check the risky pairs."""
    cfg = load(CUB_K8)
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    model = build_tiny(cfg)
    for name, _ in model.named_parameters():
        full = f'.{name}'
        caught = [k for k in keys if k in full]
        # One key at most, so mmengine's longest-first order never matters.
        assert len(caught) <= 1, (name, caught)
        if name.startswith('head.fc_norm.'):
            assert caught == ['head.fc_norm']
        if name.startswith('part_head.'):
            assert caught and caught[0].startswith('part_head.')


def sqrt_lr(total_batch):
    return 1e-6 * math.sqrt(total_batch / 16)


def normalized_decay(images, total_batch, epochs):
    return 0.05 * math.sqrt(1 / ((images // total_batch) * epochs))


# name -> (K, image size, GPUs x batch, epochs, train images)
PAPER_SETTINGS = {
    f'ifam-k4_{SUFFIX}': (4, 518, (8, 16), 90, 5394),
    f'ifam-k8_{SUFFIX}': (8, 518, (8, 16), 90, 5394),
    f'ifam-k16_{SUFFIX}': (16, 518, (8, 16), 90, 5394),
    'ifam-k8_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_'
    'waterbirds-518px.py': (8, 518, (8, 16), 90, 4795),
    'ifam-k4_vit-base-p14-reg4_dinov2-pre_4xb32-coslr-90e_'
    'metashift-224px.py': (4, 224, (4, 32), 90, None),
    'ifam-k8_vit-base-p14_rad-dino-pre_8xb16-coslr-90e_'
    'siim-acr-518px.py': (8, 518, (8, 16), 90, None),
    'ifam-k1_vit-base-p14-reg4_dinov2-pre_8xb128-amp-ema-coslr-120e_'
    'in1k-224px.py': (1, 224, (8, 128), 120, 1281167),
}


@pytest.mark.parametrize('name', sorted(PAPER_SETTINGS))
def test_paper_recipe_numbers(name):
    cfg = load(osp.join(CONFIG_DIR, 'ifam', name))
    parts, size, (gpus, batch), epochs, images = PAPER_SETTINGS[name]
    assert cfg.model.part_head.num_parts == parts
    assert cfg.model.backbone.img_size == size
    assert cfg.model.stage2_backbone.img_size == size
    assert not cfg.model.stage2_backbone.frozen  # stage 2 fully trained
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.num_gpus * cfg.train_dataloader.batch_size == gpus * batch
    assert cfg.auto_scale_lr.base_batch_size == gpus * batch
    assert cfg.train_dataloader.dataset.split == 'train'
    # Selection on a validation split (ImageNet's `val` is its test set).
    assert cfg.val_dataloader.dataset.split == 'val'

    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    assert optimizer.lr == pytest.approx(sqrt_lr(gpus * batch))
    if images is not None:
        assert cfg.num_train_images == images
    assert optimizer.weight_decay == pytest.approx(
        normalized_decay(cfg.num_train_images, gpus * batch, epochs))
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=2.0)

    # One per-epoch cosine to 0 over all epochs, no warm-up.
    assert len(cfg.param_scheduler) == 1
    scheduler = cfg.param_scheduler[0]
    assert scheduler.type == 'CosineAnnealingLR'
    assert scheduler.by_epoch and not scheduler.convert_to_iter_based
    assert scheduler.T_max == scheduler.end == epochs
    assert scheduler.begin == 0 and scheduler.eta_min == 0
    assert cfg.train_cfg.max_epochs == epochs

    losses = cfg.model.part_head.shaping_losses
    border = 0.0 if 'siim' in name else 2.0
    assert losses.background.loss_weight == border
    assert cfg.model.equivariance.loss_weight == 1.0
    for term in ('presence', 'total_variation', 'entropy', 'orthogonality'):
        assert losses[term].loss_weight == 1.0
    if 'siim' in name:
        assert cfg.model.backbone.arch == 'vit_base_patch14_dinov2'
        assert cfg.model.stage2_backbone.arch == 'vit_base_patch14_dinov2'
    hooks = [h.type for h in cfg.get('custom_hooks', [])]
    if 'in1k' in name:
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert 'EMAHook' in hooks
    else:
        assert cfg.optim_wrapper.type == 'OptimWrapper'
        assert 'EMAHook' not in hooks


def test_paper_numbers_quoted_in_method_doc():
    # docs/method.md "Training recipe": 2.828e-6 at batch 128, 8e-6 at 1024;
    # lambda 7.8e-4 for CUB's 5994 images (we train on 5394, see the config)
    # and 1.3e-4 for ImageNet.
    assert sqrt_lr(128) == pytest.approx(2.828e-6, rel=1e-3)
    assert sqrt_lr(1024) == pytest.approx(8e-6)
    assert normalized_decay(5994, 128, 90) == pytest.approx(7.8e-4, rel=1e-2)
    assert normalized_decay(1281167, 1024, 120) == pytest.approx(
        1.3e-4, rel=1e-2)


def model_diff(a, b, prefix='model'):
    """Dotted keys where two config trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        diff = []
        for key in sorted(set(a) | set(b)):
            diff += model_diff(a.get(key), b.get(key), f'{prefix}.{key}')
        return diff
    return [] if a == b else [prefix]


ABLATIONS = {
    'no-stage2': [
        'model.head', 'model.stage2_backbone', 'model.test_cfg.predict_stage'
    ],
    'jam': [
        'model.equivariance',
        'model.part_head.shaping_losses.background.loss_weight',
        'model.part_head.shaping_losses.entropy.loss_weight',
        'model.part_head.shaping_losses.orthogonality.loss_weight',
        'model.part_head.shaping_losses.presence.loss_weight',
        'model.part_head.shaping_losses.total_variation.loss_weight'
    ],
    'no-part-cls': ['model.part_head.loss_cls.loss_weight'],
    'frozen-stage2': ['model.stage2_backbone.frozen'],
    'pdrop0': ['model.train_cfg.mask_part_dropout'],
    'st': ['model.stage2_backbone.mask_grad'],
}


@pytest.mark.parametrize('variant', sorted(ABLATIONS))
def test_ablation_changes_only_its_setting(variant):
    base = load(CUB_K4)
    cfg = load(
        osp.join(CONFIG_DIR, 'ifam', 'ablations',
                 f'ifam-k4-{variant}_{SUFFIX}'))
    assert model_diff(base.model, cfg.model) == ABLATIONS[variant]
    for key in ('optim_wrapper', 'param_scheduler', 'train_dataloader',
                'train_cfg'):
        assert cfg[key] == base[key], key
    if variant == 'jam':
        weights = cfg.model.part_head.shaping_losses
        assert all(w.loss_weight == 0 for w in weights.values())
    if variant == 'no-stage2':
        assert cfg.model.head is None
        assert cfg.model.test_cfg.predict_stage == 'stage1'


def test_user_command_config_is_the_cub_k8_config():
    assert load(USER_CONFIG).to_dict() == load(CUB_K8).to_dict()


def test_waterbird200_config_tests_the_cub_model_on_waterbird200():
    cfg = load(
        osp.join(
            CONFIG_DIR, 'ifam', 'ifam-k8_vit-base-p14-reg4_dinov2-pre_'
            '8xb16-coslr-90e_cub2waterbird200-518px.py'))
    cub = load(CUB_K8)
    assert cfg.model == cub.model
    assert cfg.test_dataloader.dataset.type == 'Waterbird200'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert (cfg.test_dataloader.dataset.pipeline ==
            cub.test_dataloader.dataset.pipeline)


def test_pdiscoformer_head_in_a_stock_classifier_logs_its_terms():
    path = [p for p in MIXING_CONFIGS if 'pdiscoformer' in p][0]
    cfg = load(path)
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.type == 'VisionTransformer'
    model = build_tiny(cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        'head.prototypes', 'head.modulation.weight', 'head.modulation.bias',
        'head.classifier.weight'
    }
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    data = model.data_preprocessor(
        dict(
            inputs=list(torch.randint(0, 256, (2, 3, 56, 56))),
            data_samples=samples),
        training=True)
    losses = model(**data, mode='loss')
    assert {'loss_part_cls', 'loss_presence', 'loss_background'} <= set(losses)
    groups = effective_groups(cfg, model)
    lr = cfg.optim_wrapper.optimizer.lr
    assert groups['head.prototypes'][0] == pytest.approx(lr * 1e3)
    assert groups['head.modulation.weight'][0] == pytest.approx(lr * 1e4)
    assert groups['head.classifier.weight'][0] == pytest.approx(lr * 1e4)
