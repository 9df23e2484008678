# Copyright (c) ifam_mm contributors. All rights reserved.
"""IFAMClassifier's test-time interventions on a crafted tiny model."""
import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.models.utils.part_mask import (foreground_token_mask,
                                            reference_dot_logits)
from ifam_mm.models.utils.token_thresholds import (prototype_dots,
                                                   prototype_fingerprint,
                                                   save_token_thresholds)
from mmpretrain.registry import MODELS

K, D = 2, 32
BACKBONE = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=56,
    patch_size=8,
    embed_dim=D,
    depth=2,
    num_heads=2)
MODEL = dict(
    type='IFAMClassifier',
    backbone=BACKBONE,
    part_head=dict(
        type='PDiscoFormerHead', num_classes=3, in_channels=D, num_parts=K),
    head=dict(type='MaskedClsHead', num_classes=3, in_channels=D))
# The object: the central 3 x 3 tokens of the 7 x 7 grid.
OBJECT = torch.zeros(7, 7, dtype=torch.bool)
OBJECT[2:5, 2:5] = True


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(MODEL, **kwargs)).eval()


def image(seed):
    """A constant object on a random background (already normalised)."""
    pixels = torch.rand(3, 56, 56, generator=torch.Generator().manual_seed(
        seed))
    pixels[:, 16:40, 16:40] = -3.0
    return pixels


def background_part_model():
    """Part 0 sits on the object, part 1 on the background.

    Stage 1 sees each patch alone (no attention output, no position
    embedding), so the object's tokens have one feature: prototype 0.
    Prototype 1 is the mean background token; the background prototype is
    far from every token. Stage 2's LayerScale is set to 1 (timm's 1e-5
    would make its output barely depend on the tokens at all).
    """
    model = build()
    vit = model.backbone.vit
    vit.pos_embed.data.zero_()
    for block in vit.blocks:
        block.attn.proj.weight.data.zero_()
        block.attn.proj.bias.data.zero_()
    for name, param in model.stage2_backbone.named_parameters():
        if name.endswith('gamma'):
            param.data.fill_(1.0)
    images = torch.stack([image(1), image(2)])
    with torch.no_grad():
        tokens = model._stage1_feats(images)[-1].permute(0, 2, 3, 1)
        model.part_head.prototypes.data = torch.stack([
            tokens[0][OBJECT][0], tokens[:, ~OBJECT].reshape(-1, D).mean(0),
            torch.full((D, ), 100.0)
        ])
    return model, images


def test_removing_the_background_part_makes_stage2_ignore_the_background():
    model, images = background_part_model()
    with torch.no_grad():
        before = model(images, mode='predict')
        model.test_cfg['remove_parts'] = [1]
        after = model(images, mode='predict')
    # The crafted assignment holds on both images.
    for sample in before:
        assert torch.equal(sample.pred_part_map, (~OBJECT).long())
    # Removal drops exactly the tokens of part 1: the object stays.
    for sample in after:
        assert torch.equal(sample.pred_token_mask, OBJECT)
    # Same object, different backgrounds: different predictions while
    # part 1 is seen, identical ones once it is removed.
    assert not torch.allclose(before[0].pred_score, before[1].pred_score,
                              atol=1e-4)
    torch.testing.assert_close(
        after[0].pred_score, after[1].pred_score, rtol=0, atol=1e-6)


def test_removing_every_part_is_an_error_at_build_and_predict_time():
    with pytest.raises(ValueError, match=r'removes every foreground part '
                       r'\(K=2\).*Keep at least one part'):
        build(test_cfg=dict(remove_parts=[0, 1]))
    model = build()
    model.test_cfg['remove_parts'] = [1, 0]
    with pytest.raises(ValueError, match='removes every foreground part'):
        model(torch.rand(1, 3, 56, 56), mode='predict')


@pytest.mark.parametrize('test_cfg,message', [
    (dict(predict_stage='stage1', remove_parts=[0]),
     "predict_stage='stage1' predicts from stage 1"),
    (dict(token_threshold_mode='dot'), 'token_threshold_mode must be one of'),
    (dict(token_threshold_mode='reference_dot'),
     'needs test_cfg.token_thresholds'),
])
def test_intervention_settings_that_would_be_ignored_are_errors(
        test_cfg, message):
    with pytest.raises(ValueError, match=message):
        build(test_cfg=test_cfg)


def write(path, model, thresholds, statistic='distance'):
    save_token_thresholds(
        str(path), thresholds, statistic=statistic, quantile=0.97,
        checkpoint='epoch_1.pth',
        fingerprint=prototype_fingerprint(model.part_head.prototypes))
    return str(path)


def test_thresholds_of_other_prototypes_are_refused_however_loaded(tmp_path):
    model = build()
    model.test_cfg['token_thresholds'] = write(tmp_path / 'q.json', model,
                                               [1e9] * K)
    images = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        model(images, mode='predict')
        # Another checkpoint's weights, loaded after the first prediction.
        other = build()
        other.part_head.prototypes.data += 0.1
        model.load_state_dict(other.state_dict())
        with pytest.raises(ValueError, match=r"q.json was calibrated on "
                           r"checkpoint 'epoch_1.pth'.*calibrate_thresholds"):
            model(images, mode='predict')


def test_reference_dot_mode_switches_the_logits_to_dot_products(tmp_path):
    model = build()
    images = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        dots, assignment = model.token_statistics(images, 'dot')
        feats = model._stage1_feats(images)
        assert torch.equal(
            dots, prototype_dots(feats[-1], model.part_head.prototypes))
        # Each part's median dot product as its threshold.
        min_dot = torch.stack([
            dots[:, k][assignment == k].median() if
            (assignment == k).any() else torch.tensor(0.) for k in range(K)
        ])
        model.test_cfg.update(
            token_thresholds=write(tmp_path / 'dot.json', model,
                                   min_dot.tolist(), 'dot'),
            token_threshold_mode='reference_dot')
        kept = torch.stack(
            [s.pred_token_mask for s in model(images, mode='predict')])
    expected = foreground_token_mask(reference_dot_logits(dots, min_dot))
    assert torch.equal(kept, expected.bool())
    # The thresholds did change the mask.
    assert not torch.equal(kept, assignment < K)
