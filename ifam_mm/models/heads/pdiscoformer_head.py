# Copyright (c) ifam_mm contributors. All rights reserved.
"""PDiscoFormer part-discovery head (stage 1 of iFAM)."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

DEFAULT_SHAPING_LOSSES = dict(
    presence=dict(type='PresenceLoss', loss_weight=1.0),
    background=dict(type='BackgroundBorderLoss', loss_weight=2.0),
    total_variation=dict(type='TotalVariationLoss', loss_weight=1.0),
    entropy=dict(type='PixelEntropyLoss', loss_weight=1.0),
    orthogonality=dict(type='PartOrthogonalityLoss', loss_weight=1.0),
)
# Losses that read the modulated part vectors; the others read the maps.
_FEATURE_LOSSES = ('PartOrthogonalityLoss', )


@dataclass
class PartOutputs:
    """What the head computes for a batch.

    Attributes:
        logits: ``-||x - p_k||^2`` [B, K + 1, h, w], fp32; background last.
        part_maps: Soft assignment A [B, K + 1, h, w]: Gumbel-softmax
            ``softmax((logits + gumbel) / tau)`` in training (and at
            evaluation with ``gumbel_at_eval``), else noise-free softmax.
        part_features: Modulated part vectors [B, D, K + 1].
        part_logits: Per-part class logits [B, C, K].
        cls_score: Mean over parts of ``part_logits`` [B, C].
        gumbel: The Gumbel noise g of ``part_maps`` [B, K + 1, h, w]; None
            when the maps are noise-free.
    """
    logits: torch.Tensor
    part_maps: torch.Tensor
    part_features: torch.Tensor
    part_logits: torch.Tensor
    cls_score: torch.Tensor
    gumbel: Optional[torch.Tensor] = None

    @property
    def distances(self) -> torch.Tensor:
        """Squared token-prototype distances [B, K + 1, h, w]."""
        return -self.logits

    @property
    def assignment(self) -> torch.Tensor:
        """Part index per token [B, h, w] (K = background): the argmax of
        the sample behind ``part_maps`` (``logits + gumbel``; ``logits``
        when noise-free). A tie goes to the lowest index, so a
        foreground/background tie goes to foreground."""
        logits = self.logits if self.gumbel is None else (
            self.logits + self.gumbel)
        return logits.argmax(dim=1)


@MODELS.register_module()
class PDiscoFormerHead(BaseModule):
    """K part prototypes plus a background prototype on patch tokens.

    Each token is assigned to the nearest prototype (logits
    ``-||x - p_k||^2``, computed in fp32 with autocast off: in half
    precision the expansion cancels badly); part vectors are the
    assignment-weighted token means over the whole grid, modulated by one
    LayerNorm over [D, K + 1]; whole foreground part vectors are dropped in
    training; one shared bias-free classifier scores each part and the
    scores are averaged (method.md §1.3). Used alone it is PDiscoFormer,
    the late-masking baseline; in iFAM it is stage 1.

    Args:
        num_classes (int): Number of classes C.
        in_channels (int): Token width D.
        num_parts (int): Foreground parts K. Defaults to 8.
        part_dropout (float): Probability of dropping a whole foreground
            part vector in training (survivors rescaled). Defaults to 0.3.
        temperature (float): Softmax temperature tau. Defaults to 1.0.
        gumbel_at_eval (bool): Keep Gumbel noise at evaluation, as the
            reference code does: the maps, the part features, the
            assignment and (in ``IFAMClassifier``) the stage-2 mask, part
            removal and token thresholds all come from one noise sample
            per forward. Defaults to False (deterministic).
        loss_cls (dict): Stage-1 classification loss. Defaults to
            ``dict(type='CrossEntropyLoss')``.
        shaping_losses (dict, optional): ``name -> loss config``, each
            logged as ``loss_<name>``. Defaults to presence, background
            border prior (weight 2), total variation, entropy and
            orthogonality. Equivariance needs a second stage-1 pass and is
            configured on the classifier.
        init_cfg (dict, optional): Defaults to trunc-normal (std 0.02) for
            the classifier, as in the paper.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_parts: int = 8,
                 part_dropout: float = 0.3,
                 temperature: float = 1.0,
                 gumbel_at_eval: bool = False,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 shaping_losses: Optional[Dict[str, dict]] = None,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal',
                     layer='Linear',
                     std=0.02,
                     bias=0.0)) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_parts < 1:
            raise ValueError(f'num_parts must be >= 1, got {num_parts}.')
        if not temperature > 0:  # also refuses NaN
            raise ValueError(f'temperature must be > 0, got {temperature}.')
        self.num_classes = num_classes
        self.num_parts = num_parts
        self.temperature = temperature
        self.gumbel_at_eval = gumbel_at_eval
        # Row k is the prototype of part k; row K is the background.
        self.prototypes = nn.Parameter(
            torch.empty(num_parts + 1, in_channels))
        nn.init.kaiming_uniform_(self.prototypes, a=5**0.5)  # conv default
        self.modulation = nn.LayerNorm([in_channels, num_parts + 1])
        self.part_dropout = nn.Dropout1d(part_dropout)
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        self.loss_cls = MODELS.build(loss_cls)
        if shaping_losses is None:
            shaping_losses = DEFAULT_SHAPING_LOSSES
        self.shaping_losses = nn.ModuleDict(
            {name: MODELS.build(cfg)
             for name, cfg in shaping_losses.items()})

    def forward(self, feats: Tuple[torch.Tensor]) -> PartOutputs:
        """Assign tokens to parts and score the parts.

        Args:
            feats (tuple[torch.Tensor]): The last item is the patch-token
                map [B, D, h, w] (``HardMaskViT(out_type='featmap')``).

        Returns:
            PartOutputs: Logits, maps, part vectors and scores.
        """
        tokens = feats[-1]
        with torch.autocast(tokens.device.type, enabled=False):
            tokens = tokens.float()
            logits = -self.squared_distances(tokens)
            part_maps, gumbel = self.soft_assignment(logits)
            grid = tokens.shape[-2] * tokens.shape[-1]
            # Divided by the grid size, not the part's mass (PDiscoNet), so
            # a part vector's norm grows with the part's area.
            features = torch.einsum('bkhw,bdhw->bdk', part_maps,
                                    tokens) / grid
        features = self.modulation(features)
        foreground = self.part_dropout(features[..., :-1].transpose(1, 2))
        part_logits = self.classifier(foreground).transpose(1, 2)
        return PartOutputs(
            logits=logits,
            part_maps=part_maps,
            part_features=features,
            part_logits=part_logits,
            cls_score=part_logits.mean(dim=2),
            gumbel=gumbel)

    def squared_distances(self, tokens: torch.Tensor) -> torch.Tensor:
        """``||x - p_k||^2`` for every token and prototype [B, K+1, h, w]."""
        prototypes = self.prototypes.float()
        dot = torch.einsum('bdhw,kd->bkhw', tokens, prototypes)
        return (tokens.pow(2).sum(dim=1, keepdim=True) - 2 * dot +
                prototypes.pow(2).sum(dim=1)[None, :, None, None])

    def soft_assignment(
            self, logits: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Gumbel-softmax in training, noise-free softmax at evaluation.

        Returns:
            tuple: ``(part_maps, gumbel)``, the noise (None if noise-free)
            kept so that every decision can use the maps' own sample.
        """
        if self.training or self.gumbel_at_eval:
            # F.gumbel_softmax's sampling (same draws), keeping the noise.
            gumbel = -torch.empty_like(
                logits, memory_format=torch.legacy_contiguous_format
            ).exponential_().log()
            return ((logits + gumbel) / self.temperature).softmax(dim=1), (
                gumbel)
        return (logits / self.temperature).softmax(dim=1), None

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Stage-1 classification and part-shaping losses."""
        return self.loss_by_outputs(self(feats), data_samples)

    def loss_by_outputs(
            self, outputs: PartOutputs,
            data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Losses from already computed outputs.

        Returns:
            dict: ``loss_part_cls`` and one ``loss_<name>`` per shaping loss
            (each name says what it is, so logs show every term).
        """
        target = torch.cat([s.gt_label for s in data_samples])
        losses = dict(loss_part_cls=self.loss_cls(outputs.cls_score, target))
        for name, loss in self.shaping_losses.items():
            uses_features = type(loss).__name__ in _FEATURE_LOSSES
            losses[f'loss_{name}'] = loss(
                outputs.part_features if uses_features else outputs.
                part_maps)
        return losses

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[Sequence[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict from the parts alone (PDiscoFormer, late masking).

        Stores ``pred_score``/``pred_label`` and ``pred_part_map`` ([h, w]
        long, K = background) on each sample.
        """
        return self.predict_by_outputs(self(feats), data_samples)

    def predict_by_outputs(
        self,
        outputs: PartOutputs,
        data_samples: Optional[Sequence[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Fill data samples from already computed outputs."""
        scores = outputs.cls_score.softmax(dim=1).detach()
        part_maps = outputs.assignment.detach()
        if data_samples is None:
            data_samples = [None] * scores.shape[0]
        results = []
        for sample, score, part_map in zip(data_samples, scores, part_maps):
            sample = DataSample() if sample is None else sample
            sample.set_pred_score(score).set_pred_label(score.argmax())
            sample.set_field(part_map, 'pred_part_map')
            results.append(sample)
        return results
