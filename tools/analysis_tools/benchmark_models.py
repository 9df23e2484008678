# Copyright (c) ifam_mm contributors. All rights reserved.
"""The models `tools/benchmark.py` compares, built from config dicts.

Every model is built with ``MODELS.build`` from the configs a user would
write: iFAM from ``configs/_base_/models/ifam_vit-base-p14-reg4_dinov2.py``
(the paper's setting: stage 1 frozen) with its ViTs resized, and the plain
ViT as a stock ``ImageClassifier`` on the same ``HardMaskViT`` and
``MaskedClsHead`` as iFAM's stage 2. Weights stay random: timings and
memory do not depend on them.
"""
import copy
import dataclasses
import os.path as osp
from collections import defaultdict
from typing import Callable, Dict

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from timm.layers import Attention
from timm.models.vision_transformer import Block
from torch import nn

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import ifam_mm  # noqa: F401  (registers the components built below)
from ifam_mm.utils.config_parsing import prepare_config_parsing

# tools/analysis_tools/ of a checkout or of the installed ifam_mm/.mim/:
# either way configs/ is a sibling of tools/.
TOOLS_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO_ROOT = osp.dirname(TOOLS_DIR)
IFAM_BASE_CFG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                         'ifam_vit-base-p14-reg4_dinov2.py')
NUM_CLASSES = 200  # CUB, as the base config
DATA_PREPROCESSOR = dict(
    type='mmpretrain.ClsDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
# DINOv2 layout with 4 registers and LayerScale, as the paper's ViT-B/14;
# the smaller ones are that layout shrunk (timm overrides).
ARCHS = {
    'vit-micro-p8':
    dict(
        arch='vit_small_patch14_reg4_dinov2',
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2),
    'vit-tiny-p16':
    dict(
        arch='vit_small_patch14_reg4_dinov2',
        patch_size=16,
        embed_dim=192,
        depth=12,
        num_heads=3),
    'vit-small-p16':
    dict(
        arch='vit_small_patch14_reg4_dinov2',
        patch_size=16,
        embed_dim=384,
        depth=12,
        num_heads=6),
    'vit-base-p14':
    dict(
        arch='vit_base_patch14_reg4_dinov2',
        patch_size=14,
        embed_dim=768,
        depth=12,
        num_heads=12),
}


def vit_cfg(arch: str, img_size: int, light: bool = False) -> dict:
    """``HardMaskViT`` config of a preset; ``light`` halves its width (the
    light selector: stage 1 of half the predictor's width)."""
    cfg = dict(ARCHS[arch], type='HardMaskViT', img_size=img_size)
    if light:
        heads = cfg['num_heads']
        cfg.update(
            embed_dim=cfg['embed_dim'] // 2,
            num_heads=heads // 2 if heads % 2 == 0 else heads)
    return cfg


def plain_cfg(arch: str, img_size: int) -> dict:
    """One ViT fine-tuned as a whole: iFAM's stage 2 without a mask."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(DATA_PREPROCESSOR),
        backbone=vit_cfg(arch, img_size),
        head=dict(
            type='MaskedClsHead',
            num_classes=NUM_CLASSES,
            in_channels=ARCHS[arch]['embed_dim'],
            loss=dict(type='CrossEntropyLoss')))


def ifam_cfg(arch: str,
             img_size: int,
             frozen: bool = True,
             light_selector: bool = False) -> Config:
    """The paper's iFAM config with both ViTs set to ``arch``.

    Args:
        arch (str): Preset of :data:`ARCHS` (the predictor's).
        img_size (int): Input size of both stages.
        frozen (bool): Freeze stage 1 but its tokens (the paper,
            ``--freeze_backbone``). Defaults to True.
        light_selector (bool): Stage 1 of half the width. Defaults to
            False.
    """
    prepare_config_parsing()  # as our tools: ifam_mm::, no pkg_resources
    cfg = copy.deepcopy(Config.fromfile(IFAM_BASE_CFG).model)
    selector = vit_cfg(arch, img_size, light=light_selector)
    cfg.backbone.update(selector, frozen=frozen)
    cfg.stage2_backbone.update(vit_cfg(arch, img_size))
    cfg.part_head.update(
        num_classes=NUM_CLASSES, in_channels=selector['embed_dim'])
    cfg.head.update(
        num_classes=NUM_CLASSES, in_channels=ARCHS[arch]['embed_dim'])
    cfg.data_preprocessor = dict(DATA_PREPROCESSOR)
    return cfg


def parse_variant(variant: str):
    """``'ifam@25'`` -> ``('ifam', 0.25)``; no ``@`` -> fraction None."""
    name, _, percent = variant.partition('@')
    return name, (int(percent) / 100 if percent else None)


def build_model(variant: str, arch: str, img_size: int,
                device: str = 'cpu') -> nn.Module:
    """Build a benchmarked model.

    Args:
        variant (str): ``'plain'`` (one ViT), ``'ifam'`` (stage 1 frozen
            but its tokens: the paper), ``'ifam-trainable'`` (stage 1
            trained as a whole), ``'ifam-frozen-all'`` (its tokens frozen
            too, so that no gradient goes through stage 1's blocks), or
            ``'ifam@P'`` / ``'light@P'`` (inference with P % of the tokens
            kept; ``light``: stage 1 of half the width).
        arch (str): Preset of :data:`ARCHS`.
        img_size (int): Input size.
        device (str): Defaults to 'cpu'.

    Returns:
        nn.Module: The model, on ``device``.
    """
    name, fraction = parse_variant(variant)
    if name == 'plain':
        cfg = plain_cfg(arch, img_size)
    elif name in ('ifam', 'ifam-trainable', 'ifam-frozen-all', 'light'):
        cfg = ifam_cfg(
            arch,
            img_size,
            frozen=name != 'ifam-trainable',
            light_selector=name == 'light')
    else:
        raise ValueError(f'Unknown benchmark variant {variant!r}.')
    model = MODELS.build(cfg).to(device)
    if name == 'ifam-frozen-all':
        # No config option does this (HardMaskViT(frozen=True) keeps the
        # tokens trainable, as the paper): it shows what they cost.
        model.backbone.requires_grad_(False)
    if fraction is not None:
        fix_kept_fraction(model, fraction)
    return model


def make_batch(batch_size: int,
               img_size: int,
               device: str = 'cpu',
               seed: int = 0) -> dict:
    """A batch as a data loader gives it (already on ``device``, so that
    timings leave the host-to-device copy out)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(
        batch_size, 3, img_size, img_size, generator=generator) * 255
    samples = [
        DataSample().set_gt_label(i % NUM_CLASSES) for i in range(batch_size)
    ]
    return dict(inputs=images.to(device), data_samples=samples)


def amp_dtype(device: str) -> torch.dtype:
    """bf16 where it runs (no loss scaling needed), else fp16."""
    if device == 'cuda' and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def optim_wrapper_cfg(device: str, amp: bool) -> dict:
    """AdamW, under autocast with ``amp`` (mmengine's wrapper on a GPU,
    ours on a CPU, as ``tools/train.py --amp`` picks them)."""
    optimizer = dict(type='AdamW', lr=1e-4, weight_decay=0.05)
    if not amp:
        return dict(type='OptimWrapper', optimizer=optimizer)
    if device == 'cuda':
        dtype = str(amp_dtype(device)).replace('torch.', '')
        return dict(type='AmpOptimWrapper', dtype=dtype, optimizer=optimizer)
    return dict(
        type='mmpretrain.CPUAutocastOptimWrapper', optimizer=optimizer)


class Step:
    """One training step (``train_step``: forward, backward, AdamW) or one
    inference step (``test_step`` under ``no_grad``), as the runner's loops
    call them.

    Args:
        model (nn.Module): The model, on ``device``.
        mode (str): ``'train'`` or ``'infer'``.
        data (dict): A batch from :func:`make_batch`.
        device (str): ``'cpu'`` or ``'cuda'``.
        amp (bool): Autocast (bf16, or fp16 on GPUs without bf16).
    """

    def __init__(self,
                 model: nn.Module,
                 mode: str,
                 data: dict,
                 device: str,
                 amp: bool = False) -> None:
        self.model = model
        self.data = data
        self.device = device
        self.amp = amp
        self.training = mode == 'train'
        model.train(self.training)
        if self.training:
            self.wrapper = build_optim_wrapper(
                model, optim_wrapper_cfg(device, amp))

    def __call__(self):
        if self.training:
            return self.model.train_step(self.data, self.wrapper)
        with torch.no_grad(), torch.autocast(
                self.device, dtype=amp_dtype(self.device),
                enabled=self.amp):
            return self.model.test_step(self.data)


def compile_blocks(model: nn.Module) -> None:
    """``torch.compile`` every transformer block, where the FLOPs are.

    Not the whole step, as mmengine's ``compile`` does: the equivariance
    loss's random affine (new float parameters every step) fails to
    compile with dynamic shapes, and pruning's kept count breaks the graph
    anyway. ``dynamic=True``: the pruned token count changes.
    """
    for module in model.modules():
        if isinstance(module, Block):
            module.compile(dynamic=True)


def fix_kept_fraction(model: nn.Module,
                      fraction: float,
                      seed: int = 0) -> torch.utils.hooks.RemovableHandle:
    """Make stage 1 keep exactly ``fraction`` of each image's tokens.

    A forward hook on the part head rewrites the background logit (and in
    training the soft part maps) so that a fixed random ``fraction`` of
    the tokens is foreground: stage 1 still runs its real forward and
    stage 2 its real pruned forward (the mask is still made by
    ``IFAMClassifier._mask``); only which tokens win changes.
    Untrained weights would otherwise keep an arbitrary fraction.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction must lie in (0, 1], got {fraction}.')
    cache = {}

    def keep_mask(logits: torch.Tensor) -> torch.Tensor:
        batch, _, h, w = logits.shape
        key = (batch, h, w, logits.device)
        if key not in cache:
            num_kept = max(1, round(fraction * h * w))
            generator = torch.Generator().manual_seed(seed)
            order = torch.rand(batch, h * w, generator=generator).argsort(1)
            keep = torch.zeros(batch, h * w, dtype=torch.bool)
            keep.scatter_(1, order[:, :num_kept], True)
            cache[key] = keep.view(batch, h, w).to(logits.device)
        return cache[key]

    def hook(module, args, outputs):
        logits = outputs.logits
        keep = keep_mask(logits)
        best = logits[:, :-1].amax(dim=1)
        margin = 1 + best.abs() * 1e-3
        background = torch.where(keep, best - margin, best + margin)
        logits = torch.cat([logits[:, :-1], background[:, None]], dim=1)
        if not module.training:
            return dataclasses.replace(outputs, logits=logits)
        # Training masks the soft maps: kept tokens spread over every
        # part (kept whichever parts stage-2 part dropout drops), the
        # others all background; the gradient stays that of the real maps.
        maps = outputs.part_maps
        crafted = torch.zeros_like(maps)
        crafted[:, :-1] = keep[:, None].to(maps.dtype) / (maps.shape[1] - 1)
        crafted[:, -1] = (~keep).to(maps.dtype)
        return dataclasses.replace(
            outputs, logits=logits, part_maps=crafted + maps - maps.detach())

    return model.part_head.register_forward_hook(hook)


def trace_step(model: nn.Module, step: Callable[[], object]) -> Dict:
    """Run ``step`` once, counting backbone forwards and attention masks.

    Returns:
        dict: ``forwards`` (calls of ``backbone`` / ``stage2_backbone``,
        and ``attention_without_mask``: attention calls given no mask),
        ``attn_mask_shapes`` (every distinct mask shape an attention layer
        got), ``tt_mask`` (whether any was a T x T mask rather than a
        broadcast [B, 1, 1, T] key mask) and ``result`` (what ``step``
        returned).
    """
    forwards = defaultdict(int)
    shapes = set()
    handles = []

    def count(name):
        return lambda *args: forwards.__setitem__(name, forwards[name] + 1)

    def record(module, args, kwargs):
        mask = kwargs.get('attn_mask')
        if mask is None:
            forwards['attention_without_mask'] += 1
        else:
            shapes.add(tuple(mask.shape))

    for name in ('backbone', 'stage2_backbone'):
        if getattr(model, name, None) is not None:
            handles.append(
                getattr(model, name).register_forward_hook(count(name)))
    for module in model.modules():
        if isinstance(module, Attention):
            handles.append(
                module.register_forward_pre_hook(record, with_kwargs=True))
    try:
        result = step()
    finally:
        for handle in handles:
            handle.remove()
    return dict(
        forwards=dict(forwards),
        attn_mask_shapes=sorted(shapes),
        tt_mask=any(shape[-2] > 1 for shape in shapes),
        result=result)
