# Copyright (c) ifam_mm contributors. All rights reserved.
"""A tiny iFAM Runner over the toy pattern set, for the hook tests.

The model is the toy config's (two 64-d, 2-block ViTs, K = 4 parts) with
its seeded random weights; validation reads 6 images in batches of 4.
"""
import os.path as osp

import numpy as np
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner

from ifam_mm.testing import make_toy_classification_set
from mmpretrain.registry import METRICS

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'ifam',
                  'ifam_vit-tiny-p8_1xb16_toy.py')


# Registered: the Runner prints its config, which must hold no objects.
@METRICS.register_module(force=True)
class KeptFraction(BaseMetric):
    """Mean share of tokens stage 2 saw: moves with every intervention."""
    default_prefix = 'kept'

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            self.results.append(
                float(sample['pred_token_mask'].float().mean()))

    def compute_metrics(self, results) -> dict:
        return dict(fraction=float(np.mean(results)))


def build_toy_runner(tmp_path, name: str, cfg_options=None,
                     **overrides) -> Runner:
    """A Runner named ``name`` (unique per test: mmengine's loggers and
    visualizers are global by name), with dotted ``cfg_options`` merged as
    ``--cfg-options`` would and top-level keys replaced by
    ``overrides``."""
    root = osp.join(str(tmp_path), 'toy')
    if not osp.isdir(root):
        make_toy_classification_set(root, num_per_class=4)
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = osp.join(str(tmp_path), name)
    cfg.experiment_name = f'{tmp_path.name}_{name}'
    cfg.train_dataloader.dataset.data_root = root
    cfg.val_dataloader.dataset.data_root = root
    # Faster: serialising 6 items runs a full gc.collect().
    cfg.val_dataloader.dataset.serialize_data = False
    cfg.val_dataloader.batch_size = 4
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator = [
        dict(type='Accuracy', topk=(1, )),
        dict(type='KeptFraction')
    ]
    cfg.test_evaluator = cfg.val_evaluator
    # save_best needs a training run (mmengine's CheckpointHook), and
    # mmpretrain's disabled VisualizationHook builds the train loop anyway.
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.pop('visualization')
    cfg.merge_from_dict(cfg_options or {})
    for key, value in overrides.items():
        cfg[key] = value
    return Runner.from_cfg(cfg)


def stock_classifier(head: dict) -> dict:
    """A tiny mmpretrain ImageClassifier (no test_cfg) over the toy set."""
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='HardMaskViT',
            arch='vit_small_patch14_reg4_dinov2',
            img_size=56,
            patch_size=8,
            embed_dim=64,
            depth=1,
            num_heads=2,
            out_type='featmap' if head['type'] == 'PDiscoFormerHead' else
            'cls_token'),
        head=head)
