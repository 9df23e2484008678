# Copyright (c) ifam_mm contributors. All rights reserved.
"""Key masks, pruning and straight-through attention.

These are the pieces of hard masking that timm does not provide: timm's
``Attention`` takes an ``attn_mask`` (we pass it an additive bias, see
:func:`key_attention_bias`), but has no pruning and no attention whose
output is exactly hard-masked while a gradient still reaches a float mask.
"""
from typing import Optional, Tuple

import torch
from torch import nn


def key_attention_bias(keep: torch.Tensor, num_prefix_tokens: int,
                       tokens: torch.Tensor) -> torch.Tensor:
    """Additive attention bias that hides masked tokens as keys.

    A float bias, not a boolean mask, because it means the same on every
    attention path: SDPA adds a float ``attn_mask`` to the scores, and so
    does timm's unfused path (``scores + attn_mask``). A boolean mask does
    not: older timm releases (1.0.16 among them) add it to the scores as
    1/0 on the unfused path, so masked keys stay visible. ``-inf`` gives a
    masked key exactly zero weight in every float dtype; no row is fully
    masked, because prefix keys are always visible (no NaN).

    Args:
        keep (torch.Tensor): Bool mask [B, N] over patch tokens, True = keep.
        num_prefix_tokens (int): CLS + register tokens, always visible.
        tokens (torch.Tensor): The block input. The bias takes the dtype of
            the attention scores: the tokens' dtype, or under autocast the
            autocast dtype (to which autocast casts SDPA's query and mask
            anyway; CUDA's memory-efficient kernel needs them to match).

    Returns:
        torch.Tensor: [B, 1, 1, P + N], 0 where a key may be attended to and
        -inf where not; broadcast over heads and queries rather than
        materialised as T x T.
    """
    device = tokens.device.type
    dtype = (torch.get_autocast_dtype(device)
             if torch.is_autocast_enabled(device) else tokens.dtype)
    prefix = keep.new_ones(keep.shape[0], num_prefix_tokens)
    visible = torch.cat([prefix, keep], dim=1)[:, None, None, :]
    bias = torch.zeros(visible.shape, dtype=dtype, device=keep.device)
    return bias.masked_fill_(~visible, float('-inf'))


def prune_masked_tokens(
        tokens: torch.Tensor, keep: torch.Tensor,
        num_prefix_tokens: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Drop masked patch tokens before the blocks.

    Each image keeps its kept tokens in spatial order; images with fewer kept
    tokens than the batch maximum are padded with their own masked tokens,
    which stay masked as keys, so the CLS output is unchanged. Differentiable
    in ``tokens`` (a gather): the gradient of a dropped token is zero, as
    it is without pruning when only CLS is read.

    Args:
        tokens (torch.Tensor): [B, P + N, D], position embedding applied.
        keep (torch.Tensor): Bool mask [B, N].
        num_prefix_tokens (int): P.

    Returns:
        tuple: ``(tokens [B, P + n, D], keep [B, n])`` with n the largest
        kept count in the batch; ``keep`` is None when every image keeps n
        tokens (no padding, so nothing to hide).
    """
    counts = keep.sum(dim=1)
    # One host sync per forward for both counts.
    fewest, num_kept = torch.stack([counts.min(), counts.max()]).tolist()
    # A stable sort on "is masked" puts kept tokens first, in spatial order.
    order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)
    order = order[:, :num_kept]
    patches = tokens[:, num_prefix_tokens:]
    patches = patches.gather(
        1, order[..., None].expand(-1, -1, patches.shape[-1]))
    tokens = torch.cat([tokens[:, :num_prefix_tokens], patches], dim=1)
    return tokens, None if fewest == num_kept else keep.gather(1, order)


def straight_through_key_weights(token_mask: torch.Tensor,
                                 num_prefix_tokens: int) -> torch.Tensor:
    """Key weights whose value is the hard mask and whose gradient is 1.

    Args:
        token_mask (torch.Tensor): Float mask [B, N] in [0, 1].
        num_prefix_tokens (int): P; prefix tokens get weight 1.

    Returns:
        torch.Tensor: [B, P + N] float weights, exactly 0 or 1 in value.
    """
    hard = (token_mask > 0.5).to(token_mask.dtype)
    weights = hard + (token_mask - token_mask.detach())
    prefix = weights.new_ones(weights.shape[0], num_prefix_tokens)
    return torch.cat([prefix, weights], dim=1)


def key_weighted_attention(attn: nn.Module, x: torch.Tensor,
                           key_weights: torch.Tensor) -> torch.Tensor:
    """timm ``Attention`` forward with key-weighted softmax.

    ``a_ij = m_j exp(s_ij) / sum_k m_k exp(s_ik)``: with m in {0, 1} this is
    exactly hard key masking, and d a / d m_j is finite even where m_j = 0
    (a ``log(m)`` bias would give 0 * inf there); with soft m it is the
    soft-mask ablation ``softmax(s + log m)``. Computed in fp32 so it is
    safe under fp16/bf16 autocast (where ``log(m + eps)`` underflows).

    Args:
        attn (nn.Module): A timm ``Attention`` whose weights are used.
        x (torch.Tensor): Normalised tokens [B, T, D].
        key_weights (torch.Tensor): [B, T] float key weights.

    Returns:
        torch.Tensor: Attention output [B, T, D], before the residual.
    """
    B, T, _ = x.shape
    qkv = attn.qkv(x).reshape(B, T, 3, attn.num_heads, attn.head_dim)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    scores = (q.float() * attn.scale) @ k.float().transpose(-2, -1)

    weights = key_weights.float()[:, None, None, :]
    visible = weights > 0
    # Subtract the row max over keys with non-zero weight (prefix tokens
    # guarantee one); clamping at 0 only affects zero-weight keys scoring
    # above it, whose forward weight is 0, and keeps exp() from overflowing
    # there. With soft weights in (0, 1] this is a plain softmax(s + log m).
    row_max = scores.masked_fill(~visible, float('-inf')).amax(
        dim=-1, keepdim=True).detach()
    numerator = weights * torch.exp((scores - row_max).clamp(max=0))
    probs = numerator / numerator.sum(dim=-1, keepdim=True)
    probs = attn.attn_drop(probs)

    out = (probs @ v.float()).to(v.dtype)
    out = out.transpose(1, 2).reshape(B, T, -1)
    out = attn.norm(out)
    gate = getattr(attn, 'gate', None)
    if gate is not None:
        out = out * gate(x).sigmoid()
    return attn.proj_drop(attn.proj(out))


def key_weighted_block(block: nn.Module, x: torch.Tensor,
                       key_weights: torch.Tensor) -> torch.Tensor:
    """timm ``Block`` forward using :func:`key_weighted_attention`."""
    attn_out = key_weighted_attention(block.attn, block.norm1(x), key_weights)
    x = x + block.drop_path1(block.ls1(attn_out))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
