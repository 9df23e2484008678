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
from ..backbones.hard_mask_vit import HardMaskViT
from ..heads.pdiscoformer_head import PartOutputs
from ..utils.checkpoint_check import register_checkpoint_check
from ..utils.config_checks import check_stages_fit
from ..utils.part_mask import (check_remove_parts, foreground_token_mask,
                               reference_dot_logits, resample_token_mask,
                               soft_foreground_mask)
from ..utils.token_thresholds import (load_token_thresholds,
                                      prototype_dots, prototype_fingerprint)

MASK_SAMPLES = ('shared', 'independent')
PREDICT_STAGES = ('stage2', 'stage1')
# test_cfg.token_threshold_mode -> the statistic its threshold files hold.
THRESHOLD_STATISTICS = dict(distance='distance', reference_dot='dot')


def _fit(images: torch.Tensor, backbone: nn.Module) -> torch.Tensor:
    """Resize images to stage 1's input size (stages may differ; stage 2
    never gets resized pixels, see :meth:`IFAMClassifier._stage2`)."""
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
    token, so its prediction depends only on the selected regions. Stages
    may differ in input size: the batch then has stage 2's ``img_size``
    (stage 2 must read unresized pixels) and stage 1 gets a resized copy.
    Both train jointly; with
    ``stage2_backbone.mask_grad='straight_through'`` the stage-2 loss also
    trains stage 1 through the mask.

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
            tokens become background for stage 2), ``token_thresholds``
            (a file of ``tools/calibrate_thresholds.py``: tokens farther
            from their part's prototype than its threshold become
            background) and ``token_threshold_mode`` (``'distance'``, the
            paper, default; ``'reference_dot'``: the reference code's
            dot-product thresholds and logits). See docs/interventions.md.
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
            predict_stage='stage2',
            remove_parts=[],
            token_thresholds=None,
            token_threshold_mode='distance')
        self.test_cfg.update(test_cfg or {})
        self._check_cfgs(head)

        self.backbone = _build(backbone, out_type='featmap')
        self.part_head = _build(part_head)
        # Fails at build time, before any data is read.
        self._check_interventions()
        self.equivariance = (None if equivariance is None else
                             _build(equivariance))
        if head is None:
            self.stage2_backbone = self.head = None
        else:
            stage2_cfg = copy.deepcopy(
                backbone if stage2_backbone is None else stage2_backbone)
            self.stage2_backbone = _build(stage2_cfg, out_type='cls_token')
            self.head = _build(head)
        self._check_backbones()
        check_stages_fit(self.backbone, part_head, self.stage2_backbone, head)
        register_checkpoint_check(self)

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

    def _check_backbones(self) -> None:
        for name in ('backbone', 'stage2_backbone'):
            vit = getattr(self, name)
            if vit is not None and not isinstance(vit, HardMaskViT):
                raise TypeError(
                    f'IFAMClassifier.{name} must be a HardMaskViT (stage 2 '
                    "reads only the kept tokens through its hard mask; "
                    'stage 1 provides the patch map and grid the mask is '
                    f'built on), got {type(vit).__name__}. Set '
                    f"{name}=dict(type='HardMaskViT', ...).")

    def _check_interventions(self) -> None:
        # test_cfg may change between evaluations (leave-one-out), so this
        # runs again at every prediction.
        check_remove_parts(self.test_cfg['remove_parts'],
                           self.part_head.num_parts)
        mode = self.test_cfg['token_threshold_mode']
        if mode not in THRESHOLD_STATISTICS:
            raise ValueError(f'test_cfg.token_threshold_mode must be one of '
                             f'{tuple(THRESHOLD_STATISTICS)}, got {mode!r}.')
        thresholds = self.test_cfg['token_thresholds']
        if mode == 'reference_dot' and not thresholds:
            raise ValueError("test_cfg.token_threshold_mode='reference_dot' "
                             'needs test_cfg.token_thresholds (a file of '
                             'tools/calibrate_thresholds.py --statistic '
                             'dot).')
        if (self.test_cfg['predict_stage'] == 'stage1' and
                (thresholds or self.test_cfg['remove_parts'])):
            raise ValueError(
                "test_cfg.remove_parts / token_thresholds change stage 2's "
                "mask, but predict_stage='stage1' predicts from stage 1. Set "
                "predict_stage='stage2' or unset them.")

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
        feats = self._stage1_feats(inputs)
        if self.stage2_backbone is None:
            return feats
        mask = self._mask(self.part_head(feats), feats=feats)
        return self._stage2(inputs, mask)

    def _stage2(self, inputs: torch.Tensor,
                mask: torch.Tensor) -> Tuple[torch.Tensor]:
        # The batch's own pixels, never a resized copy: interpolation
        # filters reach across patch borders and would blend pixels of
        # masked tokens into kept ones (_check_input_size enforces this).
        return self.stage2_backbone(inputs, token_mask=mask)

    def _stage1_feats(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        self._check_input_size(inputs)
        return self.backbone(_fit(inputs, self.backbone))

    def _check_input_size(self, inputs: torch.Tensor) -> None:
        # The batch has the size of the last stage: stage 2 reads it as is
        # and stage 1 gets a resized copy. Any other size means that the
        # data pipeline and the model disagree, which resizing would hide.
        stage1 = tuple(self.backbone.vit.patch_embed.img_size)
        size = stage1 if self.stage2_backbone is None else tuple(
            self.stage2_backbone.vit.patch_embed.img_size)
        got = tuple(inputs.shape[-2:])
        if got == size:
            return
        which = ''
        if size != stage1:
            which = " (stage 2's img_size; stage 1 gets a resized copy)"
        if got == stage1:
            which += (
                ". The images have stage 1's size, but stage 2 must see the "
                "batch's own pixels: resizing them for stage 2 would blend "
                'pixels of masked tokens into kept ones, and the prediction '
                'would no longer depend on the kept tokens alone')
        raise ValueError(
            f'IFAMClassifier got images {list(inputs.shape)}, but its '
            f'stages take {size[0]} x {size[1]} pixels{which}. Resize or '
            "crop to that size in the data pipeline, or set the backbones' "
            "img_size to your images' size.")

    def _stage1(self, inputs: torch.Tensor) -> PartOutputs:
        return self.part_head(self._stage1_feats(inputs))

    def token_statistics(
            self,
            inputs: torch.Tensor,
            statistic: str = 'distance'
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """What token thresholds are calibrated on.

        Args:
            inputs (torch.Tensor): Preprocessed images [B, 3, H, W].
            statistic (str): ``'distance'`` (squared token-prototype
                distance) or ``'dot'`` (``<x, p_k>``).

        Returns:
            tuple[torch.Tensor, torch.Tensor]: The statistic of every token
            to every prototype [B, K + 1, h, w], and each token's stage-1
            part [B, h, w] (``PartOutputs.assignment``, K = background: the
            noise-free ``argmax -distance``, or with ``gumbel_at_eval`` the
            argmax of the maps' own noisy sample; the model's own, without
            interventions).
        """
        feats = self._stage1_feats(inputs)
        parts = self.part_head(feats)
        if statistic == 'distance':
            return parts.distances, parts.assignment
        if statistic == 'dot':
            return (prototype_dots(feats[-1], self.part_head.prototypes),
                    parts.assignment)
        raise ValueError(f"statistic must be 'distance' or 'dot', got "
                         f'{statistic!r}.')

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
            losses.update(
                self.head.loss(self._stage2(inputs, mask), data_samples))
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
              part_dropout: float = 0.0,
              feats: Optional[Tuple[torch.Tensor]] = None) -> torch.Tensor:
        """Stage-2 token mask [B, N] from stage-1 outputs (``feats``: the
        stage-1 features, for the reference dot-product thresholds).
        Without ``part_maps`` the mask comes from the sample behind
        ``parts.part_maps`` (with ``gumbel_at_eval``, the noisy one)."""
        if self.stage2_backbone.mask_mode == 'soft':
            if not self.training and (self.test_cfg['remove_parts']
                                      or self.test_cfg['token_thresholds']):
                raise ValueError(
                    'Part and token removal act on hard masks; the soft-mask '
                    "ablation (mask_mode='soft') has none. Unset "
                    'test_cfg.remove_parts / token_thresholds.')
            mask = soft_foreground_mask(
                parts.logits,
                part_maps=parts.part_maps if part_maps is None else part_maps,
                temperature=self.part_head.temperature,
                part_dropout=part_dropout)
        elif self.training:
            mask = foreground_token_mask(
                parts.logits,
                part_maps=part_maps,
                part_dropout=part_dropout,
                gumbel=parts.gumbel)
        else:
            mask = self._eval_mask(parts, feats)
        mask = resample_token_mask(mask, self.stage2_backbone.grid_size)
        return mask.flatten(1)

    def _eval_mask(self, parts: PartOutputs,
                   feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The evaluation mask, with the test-time interventions."""
        self._check_interventions()
        remove_parts = self.test_cfg['remove_parts']
        thresholds = self._token_thresholds()
        if self.test_cfg['token_threshold_mode'] == 'reference_dot':
            dots = prototype_dots(feats[-1], self.part_head.prototypes)
            return foreground_token_mask(
                reference_dot_logits(dots, thresholds),
                remove_parts=remove_parts,
                gumbel=parts.gumbel)
        return foreground_token_mask(
            parts.logits,
            remove_parts=remove_parts,
            max_distance=thresholds,
            gumbel=parts.gumbel)

    def _token_thresholds(self) -> Optional[torch.Tensor]:
        """The thresholds of ``test_cfg.token_thresholds``, checked against
        this model's K, threshold mode and prototypes."""
        path = self.test_cfg['token_thresholds']
        if not path:
            return None
        statistic = THRESHOLD_STATISTICS[self.test_cfg['token_threshold_mode']]
        # The fingerprint is recomputed at each call (a few KB hashed), so a
        # file never outlives the prototypes it was calibrated on, however
        # they were loaded or changed.
        key = (path, statistic,
               prototype_fingerprint(self.part_head.prototypes))
        if getattr(self, '_thresholds_key', None) != key:
            self._thresholds = load_token_thresholds(
                path, self.part_head.num_parts, statistic, fingerprint=key[2])
            self._thresholds_key = key
        return self._thresholds

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Predict and store ``pred_part_map`` ([h, w] long, K =
        background) and ``pred_token_mask`` ([h, w] bool on stage 2's grid:
        the tokens stage 2 saw; without stage 2, the tokens stage 1 calls
        foreground, on its own grid) on each sample."""
        feats = self._stage1_feats(inputs)
        parts = self.part_head(feats)
        results = self.part_head.predict_by_outputs(parts, data_samples)
        if self.head is None:
            num_parts = self.part_head.num_parts
            for sample, assignment in zip(results, parts.assignment):
                sample.set_field(assignment < num_parts, 'pred_token_mask')
            return results
        mask = self._mask(parts, feats=feats)
        if self.test_cfg['predict_stage'] == 'stage2':
            results = self.head.predict(self._stage2(inputs, mask), results)
        grid = self.stage2_backbone.grid_size
        for sample, keep in zip(results, mask.reshape(-1, *grid)):
            sample.set_field(keep > 0.5, 'pred_token_mask')
        return results
