# Copyright (c) ifam_mm contributors. All rights reserved.
import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.models import HardMaskViT
from ifam_mm.models.utils import key_attention_bias
from mmpretrain.registry import MODELS

TINY = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=56,
    embed_dim=64,
    depth=2,
    num_heads=2,
    # No LayerScale (DINOv2's is 1e-5): token mixing must be strong for the
    # faithfulness tests to mean anything.
    init_values=None)


def build(**kwargs) -> HardMaskViT:
    torch.manual_seed(0)
    return MODELS.build(dict(TINY, **kwargs))


def random_mask(model, batch=4, keep=0.5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, model.num_patches, generator=gen) < keep


def perturb_masked_pixels(model, images, mask):
    """Replace the pixels of every masked patch with noise."""
    h, w = model.grid_size
    patch = images.shape[-1] // w
    pixel_mask = (~mask).reshape(-1, 1, h, w).repeat_interleave(
        patch, 2).repeat_interleave(patch, 3).expand_as(images)
    return torch.where(pixel_mask, torch.randn_like(images) * 5, images)


def test_builds_tiny_model_from_registry():
    model = build()
    assert isinstance(model, HardMaskViT)
    assert model.embed_dims == 64 and len(model.vit.blocks) == 2
    assert model.num_prefix_tokens == 5  # CLS + 4 registers, from timm
    assert model.grid_size == (4, 4)
    out = model(torch.rand(2, 3, 56, 56))
    assert isinstance(out, tuple) and out[0].shape == (2, 64)


def test_prefix_count_comes_from_model():
    no_registers = build(arch='vit_small_patch14_dinov2')
    assert no_registers.num_prefix_tokens == 1
    mask = random_mask(no_registers)
    out = no_registers.eval()(torch.rand(4, 3, 56, 56), mask)[0]
    assert out.shape == (4, 64) and torch.isfinite(out).all()


@pytest.mark.parametrize('prune', [False, True])
def test_masked_pixels_do_not_change_cls(prune):
    model = build(prune_masked_tokens=prune).eval()
    torch.manual_seed(2)
    images = torch.rand(4, 3, 56, 56)
    for seed in range(3):
        mask = random_mask(model, seed=seed)
        changed = perturb_masked_pixels(model, images, mask)
        assert not torch.equal(changed, images)
        with torch.no_grad():
            diff = (model(images, mask)[0] - model(changed, mask)[0]).abs()
        assert diff.max() <= 1e-6


def test_unmasked_pixels_do_change_cls():
    """Guards the faithfulness test against a model that ignores input."""
    model = build().eval()
    images = torch.rand(4, 3, 56, 56)
    mask = random_mask(model)
    changed = perturb_masked_pixels(model, images, ~mask)
    with torch.no_grad():
        diff = (model(images, mask)[0] - model(changed, mask)[0]).abs()
    assert diff.max() > 1e-5  # 100x the faithfulness tolerance


def test_pruned_equals_unpruned():
    pruned = build(prune_masked_tokens=True).eval()
    unpruned = build(prune_masked_tokens=False).eval()
    images = torch.rand(4, 3, 56, 56)
    mask = random_mask(pruned, keep=0.3)
    mask[0] = False  # an all-background image inside a mixed batch
    with torch.no_grad():
        torch.testing.assert_close(
            pruned(images, mask)[0], unpruned(images, mask)[0],
            atol=1e-5, rtol=1e-5)


def test_all_ones_mask_equals_no_mask_and_all_zeros_is_finite():
    model = build().eval()
    images = torch.rand(3, 3, 56, 56)
    ones = torch.ones(3, model.num_patches, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(model(images, ones)[0], model(images)[0])
        empty = model(images, ~ones)[0]
    assert torch.isfinite(empty).all()
    # With nothing visible, the prediction comes from prefix tokens alone.
    torch.testing.assert_close(empty[0], empty[1])


def test_straight_through_forward_is_exactly_hard():
    model = build(mask_grad='straight_through')
    images = torch.rand(4, 3, 56, 56)
    mask = random_mask(model)
    soft = mask.float().requires_grad_()
    out_st = model(images, soft)[0]
    with torch.no_grad():
        out_hard = model(images, mask)[0]
    torch.testing.assert_close(out_st, out_hard, atol=1e-6, rtol=1e-5)


def _mask_gradient(model, mask):
    soft = mask.float().requires_grad_()
    out = model(torch.rand(4, 3, 56, 56), soft)[0]
    # A random read-out: the plain sum of a LayerNorm output has no gradient.
    (out @ torch.randn(out.shape[-1])).sum().backward()
    return soft.grad


def test_gradient_reaches_mask_only_with_straight_through():
    mask = random_mask(build())
    grad = _mask_gradient(build(mask_grad='straight_through'), mask)
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad[~mask] != 0).any() and (grad[mask] != 0).any()
    assert _mask_gradient(build(mask_grad='none'), mask) is None


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('mask_grad', ['none', 'straight_through'])
def test_no_nan_under_autocast(dtype, mask_grad):
    model = build(mask_grad=mask_grad)
    mask = random_mask(model)
    mask[0] = False
    soft = mask.float().requires_grad_()
    with torch.autocast('cpu', dtype=dtype):
        out = model(torch.rand(4, 3, 56, 56), soft)[0]
    (out.float() @ torch.randn(64)).sum().backward()
    assert torch.isfinite(out).all()
    if mask_grad == 'straight_through':
        assert torch.isfinite(soft.grad).all()


@pytest.mark.parametrize('out_type,shape', [('featmap', (2, 64, 4, 4)),
                                            ('raw', (2, 5 + 16, 64))])
def test_out_types(out_type, shape):
    model = build(out_type=out_type).eval()
    mask = random_mask(model, batch=2)
    assert model(torch.rand(2, 3, 56, 56), mask)[0].shape == shape


def test_bad_inputs_give_clear_errors():
    model = build()
    with pytest.raises(ValueError, match=r'expects images \[B, 3, 56, 56\]'):
        model(torch.rand(2, 3, 64, 64))
    images = torch.rand(2, 3, 56, 56)
    with pytest.raises(ValueError, match=r'token_mask must have shape'):
        model(images, torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match='bool or float'):
        model(images, torch.ones(2, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r'in \[0, 1\]'):
        model(images, torch.full((2, 16), 2.0))
    with pytest.raises(ValueError, match='mask_grad must be one of'):
        build(mask_grad='straight-through')
    with pytest.raises(ValueError, match='unknown timm arch'):
        build(arch='vit_nonexistent_patch14')


def test_configs_that_would_misalign_the_mask_are_refused():
    # Registers but no CLS token (timm's *_gap archs), or switched off.
    with pytest.raises(ValueError, match='needs a CLS token'):
        build(arch='vit_medium_patch16_reg4_gap_256', img_size=32)
    with pytest.raises(ValueError, match='needs a CLS token'):
        build(class_token=False, global_pool='avg')
    with pytest.raises(ValueError, match='patch_drop_rate > 0'):
        build(patch_drop_rate=0.25)


def test_the_key_mask_is_an_additive_bias_in_the_scores_dtype():
    """A float bias means the same on SDPA and timm's unfused path."""
    keep = torch.tensor([[True, False, True]])
    for dtype in (torch.float32, torch.bfloat16):
        bias = key_attention_bias(keep, 2, torch.zeros(1, dtype=dtype))
        assert bias.dtype == dtype and bias.shape == (1, 1, 1, 5)
        assert bias.flatten().tolist() == [0, 0, 0, float('-inf'), 0]
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast('cpu', dtype=dtype):
            # The dtype autocast gives the scores (and casts SDPA's mask to).
            assert key_attention_bias(keep, 2, torch.zeros(1)).dtype == dtype


def test_frozen_keeps_only_tokens_and_position_embedding_trainable():
    model = build(frozen=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'vit.cls_token', 'vit.reg_token', 'vit.pos_embed'}
    out = model(torch.rand(2, 3, 56, 56))[0]
    (out @ torch.randn(64)).sum().backward()
    assert model.vit.pos_embed.grad.abs().sum() > 0  # through frozen blocks
    assert model.vit.blocks[0].attn.qkv.weight.grad is None


def test_soft_mask_mode():
    soft = build(mask_mode='soft', prune_masked_tokens=False,
                 mask_grad='straight_through').eval()
    hard = build().eval()
    images = torch.rand(3, 3, 56, 56)
    mask = random_mask(soft, batch=3)
    with torch.no_grad():
        # Binary weights reproduce hard masking; all ones is no mask.
        torch.testing.assert_close(
            soft(images, mask.float())[0], hard(images, mask)[0],
            atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            soft(images, torch.ones(3, 16))[0], hard(images)[0],
            atol=1e-5, rtol=1e-5)
    weights = torch.full((3, 16), 0.3, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = soft(images, weights)[0]
    (out.float() @ torch.randn(64)).sum().backward()
    assert torch.isfinite(weights.grad).all() and weights.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='cannot prune'):
        build(mask_mode='soft')
