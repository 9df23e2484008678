# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/model_converters/extract_vit_weights.py: checkpoint -> timm file."""
import importlib.util
import os.path as osp

import pytest
import torch

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = 'model_converters/extract_vit_weights.py'
VIT = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=1,
    num_heads=2,
    pretrained=None)


def load_tool():
    path = osp.join(REPO_ROOT, 'tools', SCRIPT)
    spec = importlib.util.spec_from_file_location('extract_vit_weights',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_round_trip_through_pretrained(tmp_path, run_tool, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=VIT,
            head=dict(type='LinearClsHead', num_classes=2, in_channels=32)))
    model.init_weights()
    checkpoint = str(tmp_path / 'iter_1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    out = str(tmp_path / 'weights' / 'vit.pth')  # the folder is created

    log = run_tool(SCRIPT, [checkpoint, out], tmp_path)

    source = model.backbone.vit.state_dict()
    assert f'Wrote {len(source)} tensors to {out}' in log
    written = torch.load(out, map_location='cpu', weights_only=True)
    assert set(written) == set(source)  # no prefix, no head
    assert not osp.exists(out + '.partial')

    torch.manual_seed(1)  # different random init, overwritten by the file
    vit = MODELS.build(dict(VIT, pretrained=out))
    assert not torch.equal(vit.vit.pos_embed, source['pos_embed'])
    vit.init_weights()
    loaded = vit.vit.state_dict()
    assert set(loaded) == set(source)
    for key, value in source.items():
        assert torch.equal(loaded[key], value), key


def test_prefix_selects_another_backbone(tmp_path):
    tool = load_tool()
    weight = torch.arange(6.).reshape(2, 3)
    checkpoint = str(tmp_path / 'ifam.pth')
    torch.save(
        {
            'backbone.vit.a': torch.zeros(1),
            'stage2_backbone.vit.cls_token': weight,
            'stage2_backbone.other': torch.ones(1),
        }, checkpoint)  # a bare state dict works too
    out = str(tmp_path / 'stage2.pth')
    assert tool.extract(checkpoint, out, prefix='stage2_backbone.') == 1
    written = torch.load(out, weights_only=True)
    assert list(written) == ['cls_token']
    assert torch.equal(written['cls_token'], weight)


def test_no_vit_weights_names_the_prefix_option(tmp_path):
    tool = load_tool()
    checkpoint = str(tmp_path / 'other.pth')
    torch.save(
        dict(state_dict={'backbone.layers.0.weight': torch.zeros(1)}),
        checkpoint)
    out = str(tmp_path / 'vit.pth')
    with pytest.raises(ValueError, match='no backbone.vit.\\* weights; '
                       'pass the --prefix'):
        tool.extract(checkpoint, out)
    assert not osp.exists(out)
