# Copyright (c) ifam_mm contributors. All rights reserved.
"""HardMaskViT: a timm ViT whose attention never reads masked tokens."""
from typing import Optional, Sequence, Tuple, Union

import timm
import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from timm.models import VisionTransformer
from timm.models.vision_transformer import Block
from torch import nn

from mmpretrain.registry import MODELS
from ..utils.checkpoint_check import register_checkpoint_check
from ..utils.token_masking import (key_attention_bias, key_weighted_block,
                                   prune_masked_tokens,
                                   straight_through_key_weights)
from ..utils.vit_weights import load_vit_weights

MASK_GRAD_MODES = ('none', 'straight_through')
MASK_MODES = ('hard', 'soft')
OUT_TYPES = ('cls_token', 'featmap', 'raw')
PRUNE_MODES = (True, 'eval', False)
TRAINABLE_WHEN_FROZEN = ('cls_token', 'reg_token', 'pos_embed')


def _no_cls_token_error(arch: str) -> ValueError:
    return ValueError(
        "HardMaskViT needs a CLS token: it is the output of out_type="
        "'cls_token' and the key that keeps every attention row defined "
        f'when all patch tokens are masked. Arch {arch!r} has none here; '
        'use an arch with a CLS token and do not pass class_token=False.')


@MODELS.register_module()
class HardMaskViT(BaseModule):
    """Vision transformer with hard key masking over patch tokens.

    Wraps any timm ``VisionTransformer`` (DINOv2 with registers by default).
    Given ``token_mask`` [B, N] over the N patch tokens, no token attends to
    a masked token, so the CLS output depends only on kept patches (and the
    learned prefix tokens, which are always visible). Patch embedding, norms
    and MLPs act per token, so attention is the only path between tokens.
    The mask reaches timm's attention as an additive ``-inf`` key bias,
    exact on its fused (SDPA) and unfused paths alike (docs/hard_mask_vit.md).

    Args:
        arch (str): timm ViT name, e.g. ``'vit_base_patch14_reg4_dinov2'``
            or the no-register ``'vit_base_patch14_dinov2'`` (RAD-DINO).
            Defaults to ``'vit_base_patch14_reg4_dinov2'``.
        img_size (int | Sequence[int]): Input size; inputs must match it.
            Defaults to 518.
        pretrained (str, optional): Local weights file (timm, original
            DINOv2 or Hugging Face DINOv2 format), loaded in
            :meth:`init_weights` with the position embedding resampled to
            ``img_size``. Defaults to None.
        mask_grad (str): ``'none'``: the mask is binarised and receives no
            gradient (the reference code's behaviour). ``'straight_through'``:
            a float mask that requires grad gets a gradient through
            key-weighted attention while the forward stays exactly hard.
            Defaults to ``'none'``.
        out_type (str): ``'cls_token'`` returns ``(cls [B, D],)`` for stock
            mmpretrain heads; ``'featmap'`` returns
            ``(patches [B, D, h, w],)``; ``'raw'`` returns
            ``(tokens [B, P + N, D],)``. Defaults to ``'cls_token'``.
        prune_masked_tokens (bool | str): With ``out_type='cls_token'`` and
            a hard mask that gets no gradient, drop masked tokens before the
            blocks: the same output, loss and gradients, less compute.
            ``True``: in training and eval mode; ``'eval'``: in eval mode
            only (training then draws dropout over every token, as the
            reference); ``False``: never. Defaults to True.
        mask_mode (str): ``'hard'``: a token is kept or not. ``'soft'``
            (ablation): a float mask m weights every key, attention
            ``softmax(s + log m)`` in fp32; no pruning, and ``mask_grad``
            says whether m gets a gradient. Defaults to ``'hard'``.
        frozen (bool): Freeze every weight except the CLS/register tokens
            and the position embedding (the paper's stage 1). Gradients
            still flow *through* the frozen blocks. Defaults to False.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
        **timm_overrides: Passed to ``timm.create_model`` (``embed_dim``,
            ``depth``, ``num_heads``, ``patch_size``, ``drop_path_rate``...).
            ``class_token=False`` and ``patch_drop_rate > 0`` are refused:
            the mask needs the CLS token and one fixed token per patch.

    Example:
        >>> import torch
        >>> from ifam_mm.models import HardMaskViT
        >>> vit = HardMaskViT(arch='vit_small_patch14_reg4_dinov2',
        ...                   img_size=56, embed_dim=64, depth=2, num_heads=2)
        >>> mask = torch.rand(2, vit.num_patches) > 0.5
        >>> vit(torch.rand(2, 3, 56, 56), token_mask=mask)[0].shape
        torch.Size([2, 64])
    """

    def __init__(self,
                 arch: str = 'vit_base_patch14_reg4_dinov2',
                 img_size: Union[int, Sequence[int]] = 518,
                 pretrained: Optional[str] = None,
                 mask_grad: str = 'none',
                 out_type: str = 'cls_token',
                 prune_masked_tokens: Union[bool, str] = True,
                 mask_mode: str = 'hard',
                 frozen: bool = False,
                 init_cfg: Optional[dict] = None,
                 **timm_overrides) -> None:
        super().__init__(init_cfg=init_cfg)
        if mask_grad not in MASK_GRAD_MODES:
            raise ValueError(f'mask_grad must be one of {MASK_GRAD_MODES}, '
                             f'got {mask_grad!r}.')
        if mask_mode not in MASK_MODES:
            raise ValueError(f'mask_mode must be one of {MASK_MODES}, got '
                             f'{mask_mode!r}.')
        if prune_masked_tokens not in PRUNE_MODES:
            raise ValueError(
                f'prune_masked_tokens must be one of {PRUNE_MODES}, got '
                f'{prune_masked_tokens!r}.')
        if mask_mode == 'soft' and prune_masked_tokens:
            raise ValueError(
                "mask_mode='soft' cannot prune: no token is fully masked. "
                'Set prune_masked_tokens=False.')
        if out_type not in OUT_TYPES:
            raise ValueError(f'out_type must be one of {OUT_TYPES}, got '
                             f'{out_type!r}.')
        if not timm_overrides.get('class_token', True):
            # Checked first: timm would fail on its own global_pool assert.
            raise _no_cls_token_error(arch)
        try:
            vit = timm.create_model(
                arch,
                pretrained=False,
                img_size=img_size,
                num_classes=0,
                **timm_overrides)
        except RuntimeError as err:
            raise ValueError(f'HardMaskViT: unknown timm arch {arch!r}: '
                             f'{err}') from err
        if not isinstance(vit, VisionTransformer) or not all(
                isinstance(b, Block) for b in vit.blocks):
            raise ValueError(
                f'HardMaskViT needs a timm VisionTransformer with standard '
                f'Blocks; arch {arch!r} builds {type(vit).__name__}.')
        if vit.dynamic_img_size:
            raise ValueError('HardMaskViT does not support '
                             'dynamic_img_size; set img_size instead.')
        if not vit.has_class_token:
            raise _no_cls_token_error(arch)
        if not isinstance(vit.patch_drop, nn.Identity):
            raise ValueError(
                'HardMaskViT does not support patch_drop_rate > 0: timm '
                'drops random patch tokens in training, after which '
                'token_mask no longer lines up with the tokens. Set '
                'patch_drop_rate=0.')
        self.vit = vit
        # timm initialised itself; stop mmengine's init_weights from
        # re-initialising it (which would also wipe loaded weights).
        self.vit.is_init = True
        self.arch = arch
        self.pretrained = pretrained
        self.mask_grad = mask_grad
        self.out_type = out_type
        self.prune_masked_tokens = prune_masked_tokens
        self.mask_mode = mask_mode
        register_checkpoint_check(self)
        if frozen:
            for name, param in self.vit.named_parameters():
                param.requires_grad = name in TRAINABLE_WHEN_FROZEN

    @property
    def num_prefix_tokens(self) -> int:
        """Number of CLS + register tokens, read from the timm model."""
        return self.vit.num_prefix_tokens

    @property
    def grid_size(self) -> Tuple[int, int]:
        """Patch grid (h, w)."""
        return tuple(self.vit.patch_embed.grid_size)

    @property
    def num_patches(self) -> int:
        """Number N of patch tokens."""
        h, w = self.grid_size
        return h * w

    @property
    def embed_dims(self) -> int:
        """Token width D."""
        return self.vit.embed_dim

    def init_weights(self) -> None:
        """Apply ``init_cfg``, then load ``pretrained`` (once)."""
        already_initialised = self.is_init
        super().init_weights()
        if self.pretrained and not already_initialised:
            load_vit_weights(self.vit, self.pretrained, self.arch)
            print_log(
                f'HardMaskViT: loaded {self.pretrained}', logger='current')

    def forward(
            self,
            x: torch.Tensor,
            token_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor]:
        """Encode images, hiding masked patch tokens from attention.

        Args:
            x (torch.Tensor): Images [B, C, H, W] of size ``img_size``.
            token_mask (torch.Tensor, optional): [B, N] over patch tokens in
                raster order: bool (True = keep) or float in [0, 1]
                (kept iff > 0.5). None keeps every token.

        Returns:
            tuple[torch.Tensor]: One tensor, shaped by ``out_type``.
        """
        self._check_images(x)
        tokens = self.vit.patch_embed(x)
        tokens = self.vit.norm_pre(self.vit._pos_embed(tokens))
        if token_mask is None:
            tokens = self.vit.blocks(tokens)
        else:
            self._check_mask(token_mask, x.shape[0])
            tokens = self._masked_blocks(tokens, token_mask)
        return self._format_output(self.vit.norm(tokens))

    def _masked_blocks(self, tokens: torch.Tensor,
                       token_mask: torch.Tensor) -> torch.Tensor:
        if self.mask_mode == 'soft':
            weights = token_mask.float()
            if self.mask_grad == 'none':
                weights = weights.detach()
            prefix = weights.new_ones(weights.shape[0],
                                      self.num_prefix_tokens)
            return self._key_weighted_blocks(
                tokens, torch.cat([prefix, weights], dim=1))
        if (self.mask_grad == 'straight_through'
                and token_mask.requires_grad and torch.is_grad_enabled()):
            return self._key_weighted_blocks(
                tokens,
                straight_through_key_weights(token_mask,
                                             self.num_prefix_tokens))
        # Binarising detaches a float mask: 'none' reproduces the reference.
        keep = token_mask if token_mask.dtype == torch.bool else (
            token_mask > 0.5)
        # Exact here in training too: only CLS is read, and the mask gets
        # no gradient (the straight-through path returned above).
        if self.out_type == 'cls_token' and (
                self.prune_masked_tokens is True or
                (self.prune_masked_tokens == 'eval' and not self.training)):
            tokens, keep = prune_masked_tokens(tokens, keep,
                                               self.num_prefix_tokens)
        # No padding left (every image keeps the same count): no mask, so
        # SDPA may pick its flash kernel.
        attn_bias = None if keep is None else key_attention_bias(
            keep, self.num_prefix_tokens, tokens)
        for block in self.vit.blocks:
            tokens = block(tokens, attn_mask=attn_bias)
        return tokens

    def _key_weighted_blocks(self, tokens: torch.Tensor,
                             weights: torch.Tensor) -> torch.Tensor:
        for block in self.vit.blocks:
            tokens = key_weighted_block(block, tokens, weights)
        return tokens

    def _format_output(self, tokens: torch.Tensor) -> Tuple[torch.Tensor]:
        if self.out_type == 'cls_token':
            return (tokens[:, 0], )
        if self.out_type == 'featmap':
            patches = tokens[:, self.num_prefix_tokens:]
            h, w = self.grid_size
            return (patches.transpose(1, 2).reshape(-1, self.embed_dims, h,
                                                    w), )
        return (tokens, )

    def _check_images(self, x: torch.Tensor) -> None:
        expected = tuple(self.vit.patch_embed.img_size)
        channels = self.vit.patch_embed.proj.in_channels
        if x.dim() != 4 or x.shape[1] != channels or tuple(
                x.shape[-2:]) != expected:
            raise ValueError(
                f'HardMaskViT({self.arch}) expects images [B, {channels}, '
                f'{expected[0]}, {expected[1]}], got {list(x.shape)}. Resize '
                'or crop to img_size in the data pipeline, or build the '
                'backbone with the img_size of your data.')

    def _check_mask(self, token_mask: torch.Tensor, batch_size: int) -> None:
        expected = (batch_size, self.num_patches)
        if tuple(token_mask.shape) != expected:
            raise ValueError(
                f'token_mask must have shape [B, N] = {list(expected)} '
                f'(one entry per patch token of the {self.grid_size} grid, '
                f'prefix tokens excluded), got {list(token_mask.shape)}.')
        if token_mask.dtype == torch.bool:
            return
        if not token_mask.is_floating_point():
            raise TypeError(
                f'token_mask must be bool or float in [0, 1], got '
                f'{token_mask.dtype}. Use mask.bool() for a hard mask.')
        if token_mask.detach().min() < 0 or token_mask.detach().max() > 1:
            raise ValueError('A float token_mask must lie in [0, 1].')
