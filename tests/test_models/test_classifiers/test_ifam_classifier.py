# Copyright (c) ifam_mm contributors. All rights reserved.
import json

import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.models.utils.token_thresholds import prototype_fingerprint
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

K, D, C = 4, 32, 3
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
        type='PDiscoFormerHead', num_classes=C, in_channels=D, num_parts=K),
    head=dict(type='MaskedClsHead', num_classes=C, in_channels=D))


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(MODEL, **kwargs))
    model.init_weights()
    return model


def batch(size=4):
    torch.manual_seed(1)
    images = torch.rand(size, 3, 56, 56)
    return images, [DataSample().set_gt_label(i % C) for i in range(size)]


def test_one_training_step_names_every_term():
    model = build()
    losses = model(*batch(), mode='loss')
    assert set(losses) == {
        'loss_cls', 'loss_part_cls', 'loss_presence', 'loss_background',
        'loss_total_variation', 'loss_entropy', 'loss_orthogonality',
        'loss_equivariance', 'kept_fraction'
    }
    assert all(torch.isfinite(v) for v in losses.values())
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert model.stage2_backbone.vit.blocks[0].attn.qkv.weight.grad.abs(
    ).sum() > 0


def test_stages_have_independent_weights():
    model = build()
    assert model.backbone is not model.stage2_backbone
    assert model.backbone.out_type == 'featmap'
    assert model.stage2_backbone.out_type == 'cls_token'
    assert (model.backbone.vit.patch_embed.proj.weight.data_ptr() !=
            model.stage2_backbone.vit.patch_embed.proj.weight.data_ptr())


@pytest.mark.parametrize('mask_grad', ['straight_through', 'none'])
def test_stage2_loss_reaches_stage1_only_with_straight_through(mask_grad):
    model = build(backbone=dict(BACKBONE, mask_grad=mask_grad),
                  equivariance=None)
    model(*batch(), mode='loss')['loss_cls'].backward()
    grad = model.part_head.prototypes.grad
    if mask_grad == 'straight_through':
        assert grad is not None and grad.abs().sum() > 0
    else:
        assert grad is None or grad.abs().sum() == 0


def test_predict_stores_maps_and_the_mask_stage2_saw():
    model = build().eval()
    with torch.no_grad():
        results = model(*batch(), mode='predict')
    for sample in results:
        assert sample.pred_score.shape == (C, )
        assert sample.pred_part_map.shape == (7, 7)
        assert sample.pred_token_mask.dtype == torch.bool
        # Kept iff the token's part is a foreground part.
        assert torch.equal(sample.pred_token_mask, sample.pred_part_map < K)


def test_removing_a_part_drops_exactly_its_tokens():
    images, samples = batch()
    model = build().eval()
    with torch.no_grad():
        before = model(images, samples, mode='predict')
        part_maps = torch.stack([s.pred_part_map for s in before])
        masks = torch.stack([s.pred_token_mask for s in before])
        part = int(part_maps[part_maps < K].mode().values)
        model.test_cfg['remove_parts'] = [part]
        after = torch.stack([
            s.pred_token_mask
            for s in model(images, batch()[1], mode='predict')
        ])
    assert torch.equal(masks & ~after, part_maps == part)
    assert not (after & ~masks).any()
    model.test_cfg['remove_parts'] = [K]
    with pytest.raises(ValueError, match=r'out of range.*0\.\.3'):
        model(images, batch()[1], mode='predict')


def test_without_stage2_predicts_from_parts():
    model = build(head=None, test_cfg=dict(predict_stage='stage1')).eval()
    assert model.stage2_backbone is None
    assert 'loss_cls' not in model(*batch(), mode='loss')
    with torch.no_grad():
        results = model(*batch(), mode='predict')
    assert results[0].pred_score.shape == (C, )
    # Stage 1's own foreground, for the mask metrics of PDiscoFormer alone.
    for sample in results:
        assert torch.equal(sample.pred_token_mask, sample.pred_part_map < K)
    with pytest.raises(ValueError, match='needs a stage-2 head'):
        build(head=None)


def test_stage2_may_use_another_patch_grid():
    model = build(stage2_backbone=dict(BACKBONE, patch_size=14))
    assert model.stage2_backbone.grid_size == (4, 4)
    assert torch.isfinite(model(*batch(), mode='loss')['loss_cls'])
    model.eval()
    with torch.no_grad():
        results = model(*batch(), mode='predict')
    assert results[0].pred_token_mask.shape == (4, 4)


def test_bad_config_values_are_clear_errors():
    with pytest.raises(ValueError, match='mask_sample must be one of'):
        build(train_cfg=dict(mask_sample='fresh'))
    with pytest.raises(ValueError, match='predict_stage must be one of'):
        build(test_cfg=dict(predict_stage='both'))


def test_soft_mask_ablation_trains_stage1_through_the_mask():
    soft_stage2 = dict(BACKBONE, mask_mode='soft', prune_masked_tokens=False,
                       mask_grad='straight_through')
    model = build(stage2_backbone=soft_stage2, equivariance=None)
    losses = model(*batch(), mode='loss')
    assert 0 < losses['kept_fraction'] < 1  # soft values, not 0/1
    losses['loss_cls'].backward()
    assert model.part_head.prototypes.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model(*batch(), mode='predict')[0].pred_score.shape == (C, )
    model.test_cfg['remove_parts'] = [0]
    with pytest.raises(ValueError, match='act on hard masks'):
        model(*batch(), mode='predict')


def test_stages_may_differ_in_input_resolution():
    """A light stage-1 selector at low resolution, a heavier stage 2."""
    model = build(backbone=dict(BACKBONE, img_size=32),
                  stage2_backbone=dict(BACKBONE))
    assert model.backbone.grid_size == (4, 4)
    assert model.stage2_backbone.grid_size == (7, 7)
    assert torch.isfinite(model(*batch(), mode='loss')['loss_cls'])
    model.eval()
    with torch.no_grad():
        results = model(*batch(), mode='predict')
    assert results[0].pred_part_map.shape == (4, 4)
    assert results[0].pred_token_mask.shape == (7, 7)


def write_thresholds(path, thresholds, model):
    path.write_text(json.dumps(dict(
        num_parts=K, statistic='distance', quantile=0.97,
        checkpoint='epoch_1.pth', thresholds=thresholds,
        prototypes_sha256=prototype_fingerprint(model.part_head.prototypes))))
    return str(path)


def test_token_thresholds_drop_far_tokens_of_each_part(tmp_path):
    images, samples = batch()
    model = build().eval()
    with torch.no_grad():
        parts = model._stage1(images)
        base = model(images, samples, mode='predict')
        distance = -parts.logits.gather(1, parts.assignment[:, None])[:, 0]
        assignment = parts.assignment
        # The commonest part's threshold at its median distance; the
        # others infinite.
        part = int(assignment[assignment < K].mode().values)
        median = distance[assignment == part].median().item()
        thresholds = [1e30] * K
        thresholds[part] = median
        model.test_cfg['token_thresholds'] = write_thresholds(
            tmp_path / 'q.json', thresholds, model)
        after = model(images, batch()[1], mode='predict')
    before = torch.stack([s.pred_token_mask for s in base])
    kept = torch.stack([s.pred_token_mask for s in after])
    dropped = (assignment == part) & (distance > median)
    assert dropped.any()
    assert torch.equal(before & ~kept, dropped)


@pytest.mark.parametrize('content,message', [
    (dict(num_parts=K + 1), r'calibrated for K=5 parts; the model has K=4'),
    (dict(statistic='dot_product'), "holds 'dot_product' thresholds"),
    (dict(thresholds=[1.0]), 'must be 4 numbers'),
])
def test_bad_token_threshold_files_are_clear_errors(tmp_path, content,
                                                    message):
    record = dict(num_parts=K, statistic='distance', thresholds=[1.0] * K,
                  prototypes_sha256='calibrated on another model')
    record.update(content)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(record))
    model = build(test_cfg=dict(token_thresholds=str(path))).eval()
    with pytest.raises(ValueError, match=message):
        model(*batch(), mode='predict')
    model.test_cfg['token_thresholds'] = str(tmp_path / 'absent.json')
    with pytest.raises(FileNotFoundError, match='calibrate_thresholds'):
        model(*batch(), mode='predict')


def test_independent_mask_sample_without_dropout_still_trains_stage1():
    model = build(
        stage2_backbone=dict(BACKBONE, mask_grad='straight_through'),
        train_cfg=dict(mask_sample='independent', mask_part_dropout=0.0),
        equivariance=None)
    model(*batch(), mode='loss')['loss_cls'].backward()
    assert model.part_head.prototypes.grad.abs().sum() > 0


def noisy_model():
    """gumbel_at_eval with prototypes close together, so the noise moves
    most assignments."""
    model = build(part_head=dict(MODEL['part_head'],
                                 gumbel_at_eval=True)).eval()
    images, _ = batch()
    with torch.no_grad():
        tokens = model._stage1_feats(images)[-1].permute(0, 2, 3, 1)
        gen = torch.Generator().manual_seed(0)
        model.part_head.prototypes.data = tokens.reshape(-1, D).mean(0) + (
            0.05 * torch.randn(K + 1, D, generator=gen))
    return model, images


def predict_maps(model, images, seed):
    samples = batch()[1]  # batch() seeds the RNG itself
    torch.manual_seed(seed)
    with torch.no_grad():
        results = model(images, samples, mode='predict')
    return (torch.stack([s.pred_part_map for s in results]),
            torch.stack([s.pred_token_mask for s in results]))


def test_gumbel_at_eval_takes_every_decision_from_one_noise_sample(
        tmp_path):
    model, images = noisy_model()
    part_map, kept = predict_maps(model, images, seed=3)
    other_map, _ = predict_maps(model, images, seed=4)
    assert (part_map != other_map).any()  # the noise is there
    # The stage-2 mask is the maps' own sample: foreground iff its part is.
    assert torch.equal(kept, part_map < K)
    assert kept.any() and not kept.all()
    # Calibration sees that sample too (same seed, same draw).
    torch.manual_seed(3)
    with torch.no_grad():
        distances, assignment = model.token_statistics(images)
    assert torch.equal(assignment, part_map)
    # Part removal drops the tokens that sample gives to the part.
    part = int(part_map[part_map < K].mode().values)
    model.test_cfg['remove_parts'] = [part]
    removed_map, removed_kept = predict_maps(model, images, seed=3)
    assert torch.equal(removed_map, part_map)
    assert torch.equal(removed_kept, kept & (part_map != part))
    # Token thresholds measure the distance to that sample's part.
    model.test_cfg['remove_parts'] = []
    distance = distances.gather(1, part_map.clamp(max=K - 1)[:, None])[:, 0]
    median = distance[part_map == part].median().item()
    thresholds = [1e30] * K
    thresholds[part] = median
    model.test_cfg['token_thresholds'] = write_thresholds(
        tmp_path / 'q.json', thresholds, model)
    _, thresholded = predict_maps(model, images, seed=3)
    far = (part_map == part) & (distance > median)
    assert far.any()
    assert torch.equal(thresholded, kept & ~far)


def record_stage2_masks(model):
    masks = []
    model.stage2_backbone.register_forward_pre_hook(
        lambda module, args, kwargs: masks.append(kwargs.get('token_mask')),
        with_kwargs=True)
    return masks


@pytest.mark.parametrize('cfg', [
    dict(),
    dict(train_cfg=dict(mask_sample='independent')),
    dict(test_cfg=dict(remove_parts=[0])),
    dict(test_cfg=dict(predict_stage='stage1')),
    dict(stage2_backbone=dict(BACKBONE, mask_mode='soft',
                              prune_masked_tokens=False)),
    dict(backbone=dict(BACKBONE, img_size=32),
         stage2_backbone=dict(BACKBONE)),
])
def test_stage2_never_runs_without_a_mask(cfg):
    model = build(equivariance=None, **cfg)
    masks = record_stage2_masks(model)
    images, samples = batch()
    runs = [(True, 'tensor'), (True, 'loss'), (False, 'tensor'),
            (False, 'predict')]
    for training, mode in runs:
        with torch.no_grad():
            model.train(training)(images, samples, mode=mode)
    stage1_predicts = cfg.get('test_cfg', {}).get('predict_stage') == 'stage1'
    assert len(masks) == len(runs) - stage1_predicts
    for mask in masks:
        assert mask is not None and mask.shape == (4, 49)


def test_a_backbone_that_cannot_take_a_mask_is_refused():
    plain_vit = dict(type='VisionTransformer', arch='deit-tiny', img_size=56,
                     patch_size=8)
    with pytest.raises(TypeError,
                       match='stage2_backbone must be a HardMaskViT'):
        build(stage2_backbone=plain_vit, head=dict(
            type='MaskedClsHead', num_classes=C, in_channels=192))


def test_stage2_never_gets_resized_pixels():
    model = build(backbone=dict(BACKBONE, img_size=32),
                  stage2_backbone=dict(BACKBONE))
    at_stage1_size = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError,
                       match="stage 1's size.*blend pixels of masked"):
        model(at_stage1_size, mode='tensor')
    with pytest.raises(ValueError,
                       match=r"stages take 56 x 56 pixels \(stage 2's"):
        model(torch.rand(2, 3, 40, 40), mode='tensor')
