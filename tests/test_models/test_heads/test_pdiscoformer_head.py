# Copyright (c) ifam_mm contributors. All rights reserved.
import pytest
import torch

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

K, D, C = 4, 16, 3
HEAD = dict(type='PDiscoFormerHead', num_classes=C, in_channels=D,
            num_parts=K)


def build(**kwargs):
    torch.manual_seed(0)
    head = MODELS.build(dict(HEAD, **kwargs))
    head.init_weights()
    return head


def tokens(batch=2):
    return (torch.randn(batch, D, 5, 5), )


def samples(batch=2):
    return [DataSample().set_gt_label(i % C) for i in range(batch)]


def test_logits_are_negative_squared_distances_in_fp32():
    head = build().eval()
    feats = tokens()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = head(feats)
    assert out.logits.dtype == torch.float32
    x = feats[0].permute(0, 2, 3, 1)[..., None, :]  # [B, h, w, 1, D]
    brute = -(x - head.prototypes).pow(2).sum(-1).permute(0, 3, 1, 2)
    torch.testing.assert_close(out.logits, brute, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out.distances, -brute, atol=1e-4, rtol=1e-5)
    assert out.part_maps.shape == (2, K + 1, 5, 5)
    assert out.part_features.shape == (2, D, K + 1)
    assert out.part_logits.shape == (2, C, K)
    torch.testing.assert_close(out.cls_score, out.part_logits.mean(2))


def test_evaluation_is_deterministic_unless_asked_for_noise():
    feats = tokens()
    head = build().eval()
    torch.testing.assert_close(head(feats).part_maps, head(feats).part_maps)
    noisy = build(gumbel_at_eval=True).eval()
    assert not torch.equal(noisy(feats).part_maps, noisy(feats).part_maps)
    train = build().train()
    assert not torch.equal(train(feats).part_maps, train(feats).part_maps)


def test_assignment_is_the_argmax_of_the_maps_own_sample():
    feats = tokens()
    clean = build().eval()(feats)
    assert clean.gumbel is None
    torch.testing.assert_close(clean.part_maps, clean.logits.softmax(1))
    assert torch.equal(clean.assignment, clean.logits.argmax(1))
    noisy = build(gumbel_at_eval=True, temperature=2.0).eval()(feats)
    sample = noisy.logits + noisy.gumbel
    torch.testing.assert_close(noisy.part_maps, (sample / 2.0).softmax(1))
    assert torch.equal(noisy.assignment, sample.argmax(1))
    assert not torch.equal(noisy.assignment, noisy.logits.argmax(1))


def test_part_dropout_drops_whole_parts_in_training_only():
    head = build(part_dropout=0.5).train()
    out = head(tokens(batch=8))
    per_part = out.part_logits.abs().sum(dim=1)  # [B, K]
    assert (per_part == 0).any() and (per_part > 0).any()
    head.eval()
    assert (head(tokens(batch=8)).part_logits.abs().sum(dim=1) > 0).all()


def test_loss_keys_finite_and_trains_prototypes():
    head = build().train()
    losses = head.loss(tokens(), samples())
    assert set(losses) == {
        'loss_part_cls', 'loss_presence', 'loss_background',
        'loss_total_variation', 'loss_entropy', 'loss_orthogonality'
    }
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert head.prototypes.grad.abs().sum() > 0


def test_shaping_losses_are_configurable():
    head = build(shaping_losses=dict(
        concentration=dict(type='ConcentrationLoss', loss_weight=1.0)))
    assert set(head.loss(tokens(), samples())) == {
        'loss_part_cls', 'loss_concentration'
    }
    with pytest.raises(ValueError, match='num_parts must be >= 1'):
        build(num_parts=0)


def test_predict_stores_scores_and_part_map():
    head = build().eval()
    results = head.predict(tokens(), samples())
    for sample in results:
        assert sample.pred_score.shape == (C, )
        assert sample.pred_part_map.shape == (5, 5)
        assert sample.pred_part_map.dtype == torch.long
        assert 0 <= sample.pred_part_map.min() <= sample.pred_part_map.max(
        ) <= K
        assert sample.gt_label is not None  # incoming fields survive


def test_on_a_stock_mmpretrain_vit():
    """PDiscoFormer alone = ImageClassifier + any ViT giving a featmap."""
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=dict(embed_dims=D, num_layers=1, num_heads=2,
                          feedforward_channels=32),
                img_size=40, patch_size=8, out_type='featmap'),
            head=HEAD))
    model.init_weights()
    images = torch.rand(2, 3, 40, 40)
    losses = model(images, samples(), mode='loss')
    assert torch.isfinite(sum(losses.values()))
    model.eval()
    preds = model(images, samples(), mode='predict')
    assert preds[0].pred_part_map.shape == (5, 5)
