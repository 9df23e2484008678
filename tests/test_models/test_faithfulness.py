# Copyright (c) ifam_mm contributors. All rights reserved.
"""Pixels outside the kept tokens move the output by exactly 0.

For every model that promises a mask (``HardMaskViT``, ``IFAMClassifier``,
``EarlyMaskClassifier``), on timm's fused (SDPA) and unfused attention
paths, in train and eval mode, with and without pruning. The check is
``== 0.0``: a tolerance would hide a mask that leaks a little (a boolean
mask on the unfused path of older timm moves the output by ~1e-4).
Run with ``PYTHONPATH=<timm 1.0.16 dir>`` to check the oldest allowed timm.
"""
import numpy as np
import pytest
import timm.layers.config as timm_config
import torch
import torch.nn.functional as F
from timm.layers import set_fused_attn
from timm.models.vision_transformer import Attention

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

D = 32
VIT = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=56,
    patch_size=8,
    embed_dim=D,
    depth=2,
    num_heads=2,
    # No LayerScale (DINOv2's is 1e-5): token mixing must be strong for the
    # check to mean anything.
    init_values=None)
PATHS = ('fused', 'unfused', 'unfused_global')


@pytest.fixture
def sdpa_calls(monkeypatch):
    """Counts SDPA calls: proves which attention path really ran."""
    calls = []
    sdpa = F.scaled_dot_product_attention

    def counted(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', counted)
    return calls


def build_on_path(cfg, path, monkeypatch):
    """Build ``cfg`` on an attention path: ``fused``; ``unfused`` by
    ``attn.fused_attn = False`` (as to read attention maps); or
    ``unfused_global`` by ``timm.layers.set_fused_attn(False)`` before
    building (as ``TIMM_FUSED_ATTN=0`` does)."""
    if path == 'unfused_global':
        # Restored after the test.
        monkeypatch.setattr(timm_config, '_USE_FUSED_ATTN',
                            timm_config._USE_FUSED_ATTN)
        set_fused_attn(False)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    attentions = [m for m in model.modules() if isinstance(m, Attention)]
    assert attentions
    for attn in attentions:
        if path != 'unfused_global':
            attn.fused_attn = path == 'fused'
        assert attn.fused_attn == (path == 'fused')
    return model


def replace_pixels(images, keep, grid, where_kept=False):
    """Noise on the pixels of masked tokens (of kept ones if
    ``where_kept``); ``keep`` is [B, N] on the patch grid ``grid``."""
    tokens = keep.reshape(-1, 1, *grid).float()
    kept = F.interpolate(tokens, size=images.shape[-2:], mode='nearest') > 0
    noise = torch.randn(
        images.shape, generator=torch.Generator().manual_seed(7)) * 5
    return torch.where(kept != where_kept, images, noise)


def check_faithful(run, images, grid, sdpa_calls, fused):
    """``run(images) -> (outputs, keep)`` under one seed; replacing the
    masked pixels changes no output at all, the kept ones do."""

    def seeded(x):
        sdpa_calls.clear()
        torch.manual_seed(5)
        outputs, keep = run(x)
        # The path under test is the one that ran (stage 1 of
        # IFAMClassifier is built on the same path).
        assert bool(sdpa_calls) == fused
        return outputs, keep.bool()

    outputs, keep = seeded(images)
    assert not keep.all() and keep.any()
    changed = replace_pixels(images, keep, grid)
    assert not torch.equal(changed, images)
    outputs_changed, keep_changed = seeded(changed)
    assert torch.equal(keep_changed, keep)
    for a, b in zip(outputs, outputs_changed):
        assert torch.isfinite(a).all()
        assert (a.float() - b.float()).abs().max().item() == 0.0
    # Guard: the same check with the kept pixels replaced must fail.
    outputs_kept_changed, _ = seeded(replace_pixels(images, keep, grid,
                                                    where_kept=True))
    assert (outputs[0].float() - outputs_kept_changed[0].float()).abs(
    ).max() > 0


def random_keep(batch=4, tokens=49, seed=1):
    keep = torch.rand(batch, tokens,
                      generator=torch.Generator().manual_seed(seed)) < 0.5
    keep[0] = False  # an all-background image: prefix keys only
    keep[1, 0] = True
    return keep


def images(batch=4, size=56):
    return torch.rand(batch, 3, size, size,
                      generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize('autocast', [None, torch.bfloat16, torch.float16])
@pytest.mark.parametrize('training,prune', [(True, False), (True, True),
                                            (False, False), (False, True)])
@pytest.mark.parametrize('path', PATHS)
def test_hard_mask_vit(path, training, prune, autocast, sdpa_calls,
                       monkeypatch):
    model = build_on_path(dict(VIT, prune_masked_tokens=prune), path,
                          monkeypatch).train(training)
    keep = random_keep()

    def run(x):
        with torch.no_grad(), torch.autocast(
                'cpu', dtype=autocast or torch.bfloat16,
                enabled=autocast is not None):
            return model(x, keep), keep

    check_faithful(run, images(), model.grid_size, sdpa_calls,
                   path == 'fused')


@pytest.mark.parametrize('mode', ['straight_through', 'soft'])
@pytest.mark.parametrize('path', PATHS)
def test_hard_mask_vit_key_weighted_modes(path, mode, sdpa_calls,
                                          monkeypatch):
    """The fp32 key-weighted attention (straight-through, soft) never calls
    SDPA, so it is exact whatever timm's path is."""
    cfg = dict(VIT, mask_grad='straight_through')
    if mode == 'soft':
        cfg.update(mask_mode='soft', prune_masked_tokens=False)
    model = build_on_path(cfg, path, monkeypatch).train()
    keep = random_keep()
    weights = keep.float()
    if mode == 'soft':
        weights[keep] = 0.7  # soft weights; 0 still means masked

    def run(x):
        mask = weights.clone().requires_grad_()
        return (model(x, mask)[0].detach(), ), keep

    sdpa_calls.clear()
    check_faithful(run, images(), model.grid_size, sdpa_calls, fused=False)


IFAM = dict(
    type='IFAMClassifier',
    backbone=VIT,
    part_head=dict(
        type='PDiscoFormerHead', num_classes=3, in_channels=D, num_parts=4),
    head=dict(type='MaskedClsHead', num_classes=3, in_channels=D),
    equivariance=None)
IFAM_CASES = {
    'tensor-train': ('tensor', True, {}),
    'tensor-eval': ('tensor', False, {}),
    'tensor-eval-unpruned': ('tensor', False, dict(prune=False)),
    'loss-shared': ('loss', True, {}),
    'loss-independent': ('loss', True, dict(mask_sample='independent')),
    'predict': ('predict', False, {}),
    'predict-unpruned': ('predict', False, dict(prune=False)),
    'predict-part-removed': ('predict', False, dict(remove_parts=[0])),
    'predict-stage1-smaller': ('predict', False, dict(stage1_size=32)),
    'loss-stage1-smaller': ('loss', True, dict(stage1_size=32)),
}


def samples(batch=4):
    return [DataSample().set_gt_label(i % 3) for i in range(batch)]


def record_stage2(model):
    """Keeps the stage-2 mask and output of each forward."""
    seen = {}

    def hook(module, args, kwargs, output):
        seen['keep'] = kwargs['token_mask'] > 0.5
        seen['output'] = output[0]

    model.stage2_backbone.register_forward_hook(hook, with_kwargs=True)
    return seen


def split_foreground(model, x):
    """Prototypes that split the tokens of ``x`` into parts and background
    (an untrained stage 1 may keep every token): parts at four tokens,
    the background at their mean."""
    with torch.no_grad():
        tokens = model._stage1_feats(x)[-1].permute(0, 2, 3, 1).reshape(-1, D)
        model.part_head.prototypes.data = torch.cat(
            [tokens[[3, 20, 37, 60]], tokens.mean(0, keepdim=True)])


def freeze_stage1(model):
    """Stage 1's outputs of the first forward, for every later one: the
    claim is about stage 2 given its mask (stage 1 sees every pixel)."""
    first = []

    def hook(module, args, output):
        first.append(output)
        return first[0]

    model.part_head.register_forward_hook(hook)


@pytest.mark.parametrize('case', IFAM_CASES)
@pytest.mark.parametrize('path', PATHS[:2])
def test_ifam_classifier(path, case, sdpa_calls, monkeypatch):
    mode, training, opts = IFAM_CASES[case]
    stage2 = dict(VIT, prune_masked_tokens=opts.get('prune', True))
    backbone = dict(VIT, img_size=opts.get('stage1_size', 56))
    model = build_on_path(
        dict(IFAM,
             backbone=backbone,
             stage2_backbone=stage2,
             train_cfg=dict(mask_sample=opts.get('mask_sample', 'shared')),
             test_cfg=dict(remove_parts=opts.get('remove_parts', []))), path,
        monkeypatch).train(training)
    split_foreground(model, images())
    seen = record_stage2(model)
    freeze_stage1(model)

    def run(x):
        with torch.no_grad():
            out = model(x, samples(), mode=mode)
        if mode == 'tensor':
            result = out[0]
        elif mode == 'loss':
            result = out['loss_cls']
        else:
            result = torch.stack([s.pred_score for s in out])
        return (seen['output'], result), seen['keep']

    check_faithful(run, images(), model.stage2_backbone.grid_size,
                   sdpa_calls, path == 'fused')


EARLY = dict(
    type='EarlyMaskClassifier',
    backbone=VIT,
    head=dict(type='LinearClsHead', num_classes=3, in_channels=D))


def samples_with_pixel_masks(batch=4):
    gen = np.random.default_rng(0)
    out = []
    for i in range(batch):
        mask = np.zeros((56, 56), bool)
        top, left = gen.integers(0, 30, size=2)
        mask[top:top + 26, left:left + 22] = True  # not patch-aligned
        sample = DataSample().set_gt_label(i % 3)
        sample.set_field(mask, 'gt_fg_mask')
        out.append(sample)
    return out


@pytest.mark.parametrize('mode,training,prune', [
    ('tensor', True, False), ('tensor', False, True),
    ('tensor', False, False), ('loss', True, False),
    ('predict', False, True), ('predict', False, False)
])
@pytest.mark.parametrize('path', PATHS[:2])
def test_early_mask_classifier(path, mode, training, prune, sdpa_calls,
                               monkeypatch):
    model = build_on_path(
        dict(EARLY, backbone=dict(VIT, prune_masked_tokens=prune)), path,
        monkeypatch).train(training)
    data = samples_with_pixel_masks()
    keep = model.token_mask(data, (56, 56))
    seen = {}
    model.backbone.register_forward_hook(
        lambda module, args, output: seen.update(output=output[0]))

    def run(x):
        with torch.no_grad():
            out = model(x, data, mode=mode)
        if mode == 'loss':
            out = out['loss']
        elif mode == 'predict':
            out = torch.stack([s.pred_score for s in out])
        return (seen['output'], out), keep

    check_faithful(run, images(), model.backbone.grid_size, sdpa_calls,
                   path == 'fused')
