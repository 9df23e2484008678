# Copyright (c) ifam_mm contributors. All rights reserved.
"""Numerical faults (issue 8, item 2).

A NaN or infinite loss term (or gradient) stops training with an error that
names it, before the step is saved; mixed precision trains a tiny iFAM for
50 steps without NaN; an image whose every token is background gives a
finite prediction. All through mmengine's Runner where training is
involved, with the toy configs' default hooks.
"""
import glob
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.runner import CheckpointLoader, Runner

from ifam_mm.models.classifiers import IFAMClassifier
from ifam_mm.testing import make_toy_classification_set
from ifam_mm.utils.safe_loading import runner_checkpoint_loading
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

K = 4  # parts of the toy iFAM config
STEPS = 50


def nan_loss_term(model, losses):
    losses['loss_presence'] = losses['loss_presence'] * math.nan


def nan_gradient(model, losses):
    # A finite value (0) whose gradient is NaN: d sqrt(y) / dy = inf at 0.
    prototypes = model.part_head.prototypes
    losses['loss_cls'] = losses['loss_cls'] + 0 * (prototypes -
                                                   prototypes).sqrt().sum()


@pytest.mark.parametrize('fault, message', [
    (nan_loss_term, r'loss_presence is nan in a batch with '),
    (nan_gradient, r'the gradient norm is nan in a batch with '),
])
def test_non_finite_step_stops_training_before_it_is_saved(
        tmp_path, toy_root, toy_config, monkeypatch, fault, message):
    # 6 images in batches of 3: epoch 1 (iterations 1-2) is saved, and the
    # fault strikes the last step of epoch 2, which mmengine alone would
    # save as epoch_2.pth.
    original, calls = IFAMClassifier.loss, []

    def loss(self, inputs, data_samples):
        losses = original(self, inputs, data_samples)
        calls.append(1)
        if len(calls) == 4:
            fault(self, losses)
        return losses

    monkeypatch.setattr(IFAMClassifier, 'loss', loss)
    work_dir = tmp_path / 'work'
    cfg = toy_config(work_dir, toy_root, **{'train_cfg.max_epochs': 2})
    with pytest.raises(
            FloatingPointError,
            match=r'Training stopped at iteration 4 \(epoch 2\): ' + message +
            r'.*This step is not saved: the last checkpoint, .*epoch_1\.pth, '
            'predates it.'):
        Runner.from_cfg(cfg).train()
    assert not osp.exists(work_dir / 'epoch_2.pth')
    with runner_checkpoint_loading():
        checkpoint = CheckpointLoader.load_checkpoint(
            str(work_dir / 'epoch_1.pth'), map_location='cpu')
    assert checkpoint['meta']['epoch'] == 1
    assert all(
        torch.isfinite(v).all() for v in checkpoint['state_dict'].values())


def train_steps(work_dir, toy_config, data_root, **optim_wrapper):
    """Train the toy iFAM for STEPS steps; return the logged rows and the
    dtypes of stage 2's first attention projection in training."""
    cfg = toy_config(
        work_dir, data_root,
        **{f'optim_wrapper.{k}': v
           for k, v in optim_wrapper.items()})
    runner = Runner.from_cfg(cfg)
    dtypes = set()

    def record(module, args, out):
        if module.training:  # not the validation after the last epoch
            dtypes.add(out.dtype)

    qkv = runner.model.stage2_backbone.vit.blocks[0].attn.qkv
    qkv.register_forward_hook(record)
    runner.train()
    paths = glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))
    with open(paths[0]) as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if 'loss' in r], dtypes


def assert_finite_and_close(rows, reference):
    """Every logged term of ``rows`` is finite, and the run matches the fp32
    ``reference``: the same first step up to rounding, and a loss that falls
    as far (measured on the CPU, bf16 vs fp32: 9.811 vs 9.813 at step 1,
    6.85 vs 7.34 over the last 10 steps)."""
    assert len(rows) == len(reference) == STEPS
    for row in rows:
        terms = {k: v for k, v in row.items() if k.startswith('loss')}
        assert len(terms) == 9 and all(map(math.isfinite, terms.values()))
    first, first_ref = rows[0]['loss'], reference[0]['loss']
    assert abs(first - first_ref) < 0.01 * first_ref
    last, last_ref = (sum(r['loss'] for r in rs[-10:]) / 10
                      for rs in (rows, reference))
    assert last < 0.85 * first and last_ref < 0.85 * first_ref
    assert abs(last - last_ref) < 0.2 * last_ref


@pytest.fixture(scope='module')
def fifty_steps_root(tmp_path_factory):
    # 3 classes x 50 images in batches of 3: 50 steps in one epoch.
    return make_toy_classification_set(
        str(tmp_path_factory.mktemp('toy50')), num_per_class=STEPS)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='the Runner trains on the GPU there')
def test_bf16_autocast_on_cpu_trains_50_steps_without_nan(
        tmp_path, toy_config, fifty_steps_root):
    # What tools/train.py --amp selects on a machine without CUDA.
    rows, dtypes = train_steps(tmp_path / 'bf16', toy_config, fifty_steps_root,
                               type='CPUAutocastOptimWrapper')
    assert dtypes == {torch.bfloat16}
    reference, dtypes = train_steps(tmp_path / 'fp32', toy_config,
                                    fifty_steps_root)
    assert dtypes == {torch.float32}
    assert_finite_and_close(rows, reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_on_gpu_trains_50_steps_without_nan(tmp_path, toy_config,
                                                fifty_steps_root, dtype):
    # What tools/train.py --amp selects with CUDA (plus the dtype).
    rows, dtypes = train_steps(
        tmp_path / dtype,
        toy_config,
        fifty_steps_root,
        type='AmpOptimWrapper',
        dtype=dtype,
        loss_scale='dynamic')
    assert dtypes == {getattr(torch, dtype)}
    reference, _ = train_steps(tmp_path / 'fp32', toy_config,
                               fifty_steps_root)
    assert_finite_and_close(rows, reference)


def test_an_all_background_image_gives_a_finite_prediction(
        tmp_path, toy_root, toy_config):
    model = MODELS.build(toy_config(tmp_path, toy_root).model)
    model.init_weights()
    with torch.no_grad():
        # Every token is nearer the background prototype than any part.
        model.part_head.prototypes[:K] += 1e3
    torch.manual_seed(0)
    data = dict(
        inputs=[torch.randint(0, 256, (3, 56, 56), dtype=torch.uint8)] * 2,
        data_samples=[DataSample().set_gt_label(i) for i in range(2)])
    model.eval()
    with torch.no_grad():
        results = model.test_step(data)  # as the Runner's test loop calls it
    for sample in results:
        assert (sample.pred_part_map == K).all()
        assert not sample.pred_token_mask.any()  # stage 2 saw no patch
        assert torch.isfinite(sample.pred_score).all()
        assert torch.allclose(sample.pred_score.sum(), torch.tensor(1.))
    # Training on it: every loss term and every gradient stays finite.
    model.train()
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    assert losses['kept_fraction'] == 0
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)
