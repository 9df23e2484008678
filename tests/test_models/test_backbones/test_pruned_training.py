# Copyright (c) ifam_mm contributors. All rights reserved.
"""Training-time pruning is exact: the same loss and the same gradient of
every parameter as the unpruned step, and the fused attention paths it
opens (no mask when every image keeps the same count) give the same
outputs as the float -inf key bias."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS

TINY = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=56,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    init_values=None)


def build(**kwargs):
    torch.manual_seed(0)
    vit = MODELS.build(dict(TINY, **kwargs)).train()
    head = nn.Linear(vit.embed_dims, 3)
    return vit, head


def masks_with_different_counts(batch=4, tokens=49, seed=1):
    keep = torch.rand(batch, tokens,
                      generator=torch.Generator().manual_seed(seed)) < 0.4
    keep[0] = False  # no kept token: CLS and registers alone
    keep[1] = True  # most tokens kept: the padded length is 44
    keep[1, 44:] = False
    keep[2, 10:] = False  # a few kept tokens
    counts = keep.sum(1)
    assert len(set(counts.tolist())) == batch and counts[0] == 0
    return keep


def step(vit, head, images, keep, labels, seed=5):
    """Loss and every parameter's gradient of one training step."""
    vit.zero_grad()
    head.zero_grad()
    torch.manual_seed(seed)
    loss = F.cross_entropy(head(vit(images, keep)[0]), labels)
    loss.backward()
    grads = {
        name: param.grad.clone()
        for name, param in [*vit.named_parameters(), *head.named_parameters()]
    }
    return loss.detach(), grads


def assert_same_step(a, b):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-6)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(
            grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize('float_mask', [False, True])
@pytest.mark.parametrize('seed', [1, 2])
def test_pruned_step_equals_unpruned(seed, float_mask):
    pruned, head = build(prune_masked_tokens=True)
    unpruned, _ = build(prune_masked_tokens='eval')
    images = torch.rand(4, 3, 56, 56)
    keep = masks_with_different_counts(seed=seed)
    # A float mask (as iFAM's stage 1 gives) that requires grad: with
    # mask_grad='none' it is binarised, so it gets no gradient either way.
    mask = keep.float().mul(0.8).add(0.1).requires_grad_() if float_mask \
        else keep
    labels = torch.tensor([0, 1, 2, 0])
    calls = []
    unpruned.vit.blocks[0].register_forward_pre_hook(
        lambda m, args: calls.append(args[0].shape[1]))
    pruned.vit.blocks[0].register_forward_pre_hook(
        lambda m, args: calls.append(args[0].shape[1]))
    expected = step(unpruned, head, images, mask, labels)
    got = step(pruned, head, images, mask, labels)
    # It did prune: 5 prefix tokens + the largest kept count.
    assert calls == [5 + 49, 5 + 44]
    assert_same_step(got, expected)
    if float_mask:
        assert mask.grad is None


def test_pruned_step_prunes_and_keeps_the_empty_image_exact():
    pruned, head = build()
    unpruned, _ = build(prune_masked_tokens=False)
    images = torch.rand(3, 3, 56, 56)
    keep = torch.zeros(3, 49, dtype=torch.bool)
    keep[1, :7] = True
    keep[2, 20:23] = True
    lengths = []
    pruned.vit.blocks[0].register_forward_pre_hook(
        lambda m, args: lengths.append(args[0].shape[1]))
    labels = torch.tensor([0, 1, 2])
    assert_same_step(
        step(pruned, head, images, keep, labels),
        step(unpruned, head, images, keep, labels))
    assert lengths == [5 + 7]
    # Image 0 (nothing kept) predicts from its prefix tokens alone, as
    # unpruned: the same CLS whatever its pixels.
    with torch.no_grad():
        other = images.clone()
        other[0] = torch.rand(3, 56, 56)
        torch.testing.assert_close(
            pruned(other, keep)[0][0], pruned(images, keep)[0][0])


def test_drop_path_draws_are_the_same_with_pruning():
    # DropPath draws one number per image, whatever the token count, so a
    # seeded pruned step equals the unpruned one; dropout (attn_drop,
    # proj_drop, MLP drop) draws per element and so differs.
    pruned, head = build(drop_path_rate=0.5)
    unpruned, _ = build(drop_path_rate=0.5, prune_masked_tokens=False)
    images = torch.rand(4, 3, 56, 56)
    keep = masks_with_different_counts()
    labels = torch.tensor([0, 1, 2, 0])
    assert_same_step(
        step(pruned, head, images, keep, labels, seed=3),
        step(unpruned, head, images, keep, labels, seed=3))
    # The guard: another seed draws other paths, another loss.
    assert not torch.allclose(
        step(pruned, head, images, keep, labels, seed=3)[0],
        step(pruned, head, images, keep, labels, seed=4)[0])


def test_prune_modes():
    vit, _ = build(prune_masked_tokens='eval')
    lengths = []
    vit.vit.blocks[0].register_forward_pre_hook(
        lambda m, args: lengths.append(args[0].shape[1]))
    keep = masks_with_different_counts()
    images = torch.rand(4, 3, 56, 56)
    with torch.no_grad():
        vit.train()(images, keep)
        vit.eval()(images, keep)
    assert lengths[0] == 5 + 49 and lengths[1] < 5 + 49
    with pytest.raises(ValueError, match='prune_masked_tokens must be one'):
        build(prune_masked_tokens='train')


def test_equal_counts_need_no_mask_and_match_the_bias_path(monkeypatch):
    """After pruning to a common count, no mask reaches SDPA (so it may use
    its flash kernel) and the output equals the float-bias path, on the
    fused and the unfused attention."""
    masks = []
    sdpa = F.scaled_dot_product_attention

    def recorded(*args, **kwargs):
        masks.append(kwargs.get('attn_mask'))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', recorded)
    keep = torch.zeros(4, 49, dtype=torch.bool)
    for i in range(4):  # 12 tokens each, at different places
        keep[i, torch.randperm(
            49, generator=torch.Generator().manual_seed(i))[:12]] = True
    images = torch.rand(4, 3, 56, 56)
    for fused in (True, False):
        pruned, _ = build()
        unpruned, _ = build(prune_masked_tokens=False)
        for model in (pruned, unpruned):
            for block in model.vit.blocks:
                block.attn.fused_attn = fused
        masks.clear()
        with torch.no_grad():
            out = pruned.eval()(images, keep)[0]
            assert masks == ([None, None] if fused else [])
            reference = unpruned.eval()(images, keep)[0]
        if fused:
            assert all(m is not None for m in masks[2:])
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
