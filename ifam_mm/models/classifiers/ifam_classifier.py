# Copyright (c) ifam_mm contributors. All rights reserved.
"""IFAMClassifier: part discovery, then a hard-masked second ViT."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..heads.pdiscoformer_head import PartOutputs
from ..utils.part_mask import (foreground_token_mask, resample_token_mask,
                               soft_foreground_mask)
from ..utils.token_thresholds import load_token_thresholds

MASK_SAMPLES = ('shared', 'independent')
PREDICT_STAGES = ('stage2', 'stage1')


def _fit(images: torch.Tensor, backbone: nn.Module) -> torch.Tensor:
    """Resize images to a backbone's input size (stages may differ)."""
    size = tuple(backbone.vit.patch_embed.img_size)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(
        images, size=size, mode='bilinear', align_corners=False,
        antialias=True)


def _build(cfg, **overrides) -> nn.Module:
    if isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(dict(cfg, **overrides))


@MODELS.register_module()
class IFAMClassifier(BaseClassifier):
    """Two-stage iFAM classifier (stage 1 PDiscoFormer, stage 2 masked ViT).

    Stage 1 (``backbone`` + ``part_head``) sees the whole image and assigns
    patch tokens to K parts or background. Stage 2 (``stage2_backbone`` +
    ``head``) sees the same image, but no token may attend to a background
    token, so its prediction depends only on the selected regions. Both
    train jointly; with ``stage2_backbone.mask_grad='straight_through'`` the
    stage-2 loss also trains stage 1 through the mask.

    Args:
        backbone (dict): Stage-1 ViT (``HardMaskViT``); built with
            ``out_type='featmap'``.
        part_head (dict): ``PDiscoFormerHead`` config, including its
            part-shaping losses.
        head (dict, optional): Stage-2 head on the CLS token, e.g.
            ``MaskedClsHead``. None drops stage 2 (PDiscoFormer alone).
        stage2_backbone (dict, optional): Stage-2 ViT; None means an
            independent copy of ``backbone``'s config (same pretrained file,
            separate weights). Built with ``out_type='cls_token'``.
        equivariance (dict, optional): ``EquivarianceLoss`` config; the
            transformed batch runs through stage 1 only. None disables it.
            Defaults to ``dict(type='EquivarianceLoss')``.
        train_cfg (dict, optional): ``mask_sample`` (``'shared'``: the mask
            thresholds stage 1's Gumbel-softmax maps, default;
            ``'independent'``: a fresh Gumbel sample, as the reference) and
            ``mask_part_dropout`` (stage-2 part dropout, default 0.3).
        test_cfg (dict, optional): ``predict_stage`` (``'stage2'`` default
            or ``'stage1'``), ``remove_parts`` (foreground parts whose
            tokens become background for stage 2) and ``token_thresholds``
            (a calibrated JSON file: tokens farther from their part's
            prototype than its threshold become background).
        data_preprocessor (dict, optional): Defaults to
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 part_head: dict,
                 head: Optional[dict] = None,
                 stage2_backbone: Optional[dict] = None,
                 equivariance: Optional[dict] = dict(type='EquivarianceLoss'),
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = {}
        if isinstance(data_preprocessor, dict):
            # Scoped, so it builds outside a Runner's default scope too.
            data_preprocessor.setdefault('type',
                                         'mmpretrain.ClsDataPreprocessor')
        super().__init__(
            init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        self.train_cfg = dict(mask_sample='shared', mask_part_dropout=0.3)
        self.train_cfg.update(train_cfg or {})
        self.test_cfg = dict(
            predict_stage='stage2', remove_parts=[], token_thresholds=None)
        self.test_cfg.update(test_cfg or {})
        self._check_cfgs(head)

        self.backbone = _build(backbone, out_type='featmap')
        self.part_head = _build(part_head)
        self.equivariance = (None if equivariance is None else
                             _build(equivariance))
        if head is None:
            self.stage2_backbone = self.head = None
        else:
            stage2_cfg = copy.deepcopy(
                backbone if stage2_backbone is None else stage2_backbone)
            self.stage2_backbone = _build(stage2_cfg, out_type='cls_token')
            self.head = _build(head)

    def _check_cfgs(self, head) -> None:
        if self.train_cfg['mask_sample'] not in MASK_SAMPLES:
            raise ValueError(f'train_cfg.mask_sample must be one of '
                             f"{MASK_SAMPLES}, got "
                             f"{self.train_cfg['mask_sample']!r}.")
        stage = self.test_cfg['predict_stage']
        if stage not in PREDICT_STAGES:
            raise ValueError(f'test_cfg.predict_stage must be one of '
                             f'{PREDICT_STAGES}, got {stage!r}.')
        if stage == 'stage2' and head is None:
            raise ValueError("test_cfg.predict_stage='stage2' needs a stage-2 "
                             "head; set head=... or predict_stage='stage1'.")

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """mmpretrain's three modes: 'tensor', 'loss' and 'predict'."""
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Stage-2 CLS features for the eval-time mask (stage-1 patch map
        when there is no stage 2)."""
        parts = self._stage1(inputs)
        if self.stage2_backbone is None:
            return self.backbone(_fit(inputs, self.backbone))
        return self.stage2_backbone(
            _fit(inputs, self.stage2_backbone), token_mask=self._mask(parts))

    def _stage1(self, inputs: torch.Tensor) -> PartOutputs:
        return self.part_head(self.backbone(_fit(inputs, self.backbone)))

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Every term under its own key: ``loss_cls`` (stage 2),
        ``loss_part_cls`` (stage 1) and ``loss_<name>`` per shaping loss."""
        parts = self._stage1(inputs)
        losses = self.part_head.loss_by_outputs(parts, data_samples)
        if self.equivariance is not None:
            losses['loss_equivariance'] = self._equivariance_loss(
                inputs, parts)
        if self.head is not None:
            if self.train_cfg['mask_sample'] == 'shared':
                part_maps = parts.part_maps
            else:
                part_maps = F.gumbel_softmax(
                    parts.logits, tau=self.part_head.temperature, dim=1)
            mask = self._mask(
                parts,
                part_maps=part_maps,
                part_dropout=self.train_cfg['mask_part_dropout'])
            feats = self.stage2_backbone(
                _fit(inputs, self.stage2_backbone), token_mask=mask)
            losses.update(self.head.loss(feats, data_samples))
            losses['kept_fraction'] = mask.detach().mean()
        return losses

    def _equivariance_loss(self, inputs: torch.Tensor,
                           parts: PartOutputs) -> torch.Tensor:
        inputs = _fit(inputs, self.backbone)
        params = self.equivariance.sample(inputs.shape[-2:])
        moved = self.equivariance.transform_images(inputs, params)
        moved_parts = self.part_head(self.backbone(moved))
        return self.equivariance(parts.part_maps, moved_parts.part_maps,
                                 params, inputs.shape[-1])

    def _mask(self,
              parts: PartOutputs,
              part_maps: Optional[torch.Tensor] = None,
              part_dropout: float = 0.0) -> torch.Tensor:
        """Stage-2 token mask [B, N] from stage-1 outputs."""
        if self.stage2_backbone.mask_mode == 'soft':
            if not self.training and (self.test_cfg['remove_parts']
                                      or self.test_cfg['token_thresholds']):
                raise ValueError(
                    'Part and token removal act on hard masks; the soft-mask '
                    "ablation (mask_mode='soft') has none. Unset "
                    'test_cfg.remove_parts / token_thresholds.')
            mask = soft_foreground_mask(
                parts.logits,
                part_maps=part_maps,
                temperature=self.part_head.temperature,
                part_dropout=part_dropout)
        elif self.training:
            mask = foreground_token_mask(
                parts.logits, part_maps=part_maps, part_dropout=part_dropout)
        else:
            mask = foreground_token_mask(
                parts.logits,
                remove_parts=self.test_cfg['remove_parts'],
                max_distance=self._token_thresholds())
        mask = resample_token_mask(mask, self.stage2_backbone.grid_size)
        return mask.flatten(1)

    def _token_thresholds(self) -> Optional[torch.Tensor]:
        """The thresholds of ``test_cfg.token_thresholds``, read once."""
        path = self.test_cfg.get('token_thresholds')
        if not path:
            return None
        if getattr(self, '_thresholds_path', None) != path:
            self._thresholds = load_token_thresholds(
                path, self.part_head.num_parts)
            self._thresholds_path = path
        return self._thresholds

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Predict and store ``pred_part_map`` ([h, w] long, K =
        background) and ``pred_token_mask`` ([h, w] bool on stage 2's grid:
        the tokens stage 2 saw) on each sample."""
        parts = self._stage1(inputs)
        results = self.part_head.predict_by_outputs(parts, data_samples)
        if self.head is None:
            return results
        mask = self._mask(parts)
        if self.test_cfg['predict_stage'] == 'stage2':
            feats = self.stage2_backbone(
                _fit(inputs, self.stage2_backbone), token_mask=mask)
            results = self.head.predict(feats, results)
        grid = self.stage2_backbone.grid_size
        for sample, keep in zip(results, mask.reshape(-1, *grid)):
            sample.set_field(keep > 0.5, 'pred_token_mask')
        return results
