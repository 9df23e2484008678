# Copyright (c) ifam_mm contributors. All rights reserved.
"""Loading local ViT weights: timm, original DINOv2 and Hugging Face layouts.

Each test builds a timm model with random weights, writes them in one of the
formats (the conversion to that format is written out here, independently of
the loader), loads the file into HardMaskViT and compares outputs.
"""
import pytest
import safetensors.torch
import timm
import torch

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS

SIZE = dict(img_size=56, embed_dim=64, depth=2, num_heads=2)
REG4 = 'vit_small_patch14_reg4_dinov2'
NO_REG = 'vit_small_patch14_dinov2'


def timm_reference(arch, **overrides):
    torch.manual_seed(0)
    model = timm.create_model(arch, num_classes=0, **dict(SIZE, **overrides))
    with torch.no_grad():  # non-trivial values everywhere, incl. LayerScale
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model.eval()


def assert_same_cls(model, reference, img_size=56):
    images = torch.rand(2, 3, img_size, img_size)
    with torch.no_grad():
        torch.testing.assert_close(model(images)[0],
                                   reference.forward_features(images)[:, 0])


def hard_mask_vit(arch, path, **overrides):
    model = MODELS.build(
        dict(type='HardMaskViT', arch=arch, pretrained=str(path),
             **dict(SIZE, **overrides)))
    model.init_weights()
    return model.eval()


def to_original_dinov2(model):
    """timm reg4 state dict -> facebookresearch DINOv2 layout."""
    state = dict(model.state_dict())
    cls_position = torch.randn(1, 1, model.embed_dim)
    state['cls_token'] = state['cls_token'] - cls_position
    state['pos_embed'] = torch.cat([cls_position, state['pos_embed']], 1)
    state['register_tokens'] = state.pop('reg_token')
    state['mask_token'] = torch.zeros(1, model.embed_dim)
    return state


def to_hf_dinov2(model):
    """timm no-register state dict -> Hugging Face Dinov2Model layout."""
    src = model.state_dict()
    out = {
        'embeddings.cls_token': src['cls_token'],
        'embeddings.mask_token': torch.zeros(1, model.embed_dim),
        'embeddings.position_embeddings': src['pos_embed'],
        'embeddings.patch_embeddings.projection.weight':
        src['patch_embed.proj.weight'],
        'embeddings.patch_embeddings.projection.bias':
        src['patch_embed.proj.bias'],
        'layernorm.weight': src['norm.weight'],
        'layernorm.bias': src['norm.bias'],
    }
    for i in range(len(model.blocks)):
        b, h = f'blocks.{i}.', f'encoder.layer.{i}.'
        for kind in ('weight', 'bias'):
            q, k, v = src[f'{b}attn.qkv.{kind}'].chunk(3)
            out[f'{h}attention.attention.query.{kind}'] = q
            out[f'{h}attention.attention.key.{kind}'] = k
            out[f'{h}attention.attention.value.{kind}'] = v
            out[f'{h}attention.output.dense.{kind}'] = src[
                f'{b}attn.proj.{kind}']
            for name in ('norm1', 'norm2', 'mlp.fc1', 'mlp.fc2'):
                out[f'{h}{name}.{kind}'] = src[f'{b}{name}.{kind}']
        out[f'{h}layer_scale1.lambda1'] = src[f'{b}ls1.gamma']
        out[f'{h}layer_scale2.lambda1'] = src[f'{b}ls2.gamma']
    return out


def test_original_dinov2_with_registers(tmp_path):
    reference = timm_reference(REG4)
    path = tmp_path / 'dinov2_reg4.pth'
    torch.save(to_original_dinov2(reference), path)
    assert_same_cls(hard_mask_vit(REG4, path), reference)


def test_hugging_face_dinov2_without_registers(tmp_path):
    reference = timm_reference(NO_REG)
    path = tmp_path / 'model.safetensors'
    safetensors.torch.save_file(to_hf_dinov2(reference), str(path))
    model = hard_mask_vit(NO_REG, path)
    assert model.num_prefix_tokens == 1
    assert_same_cls(model, reference)


def test_position_embedding_resampled_like_timm(tmp_path):
    reference = timm_reference(REG4)
    path = tmp_path / 'timm_format.pth'
    torch.save(reference.state_dict(), path)
    model = hard_mask_vit(REG4, path, img_size=84)
    assert model.grid_size == (6, 6)
    timm_loaded = timm.create_model(
        REG4, pretrained=True, num_classes=0,
        pretrained_cfg_overlay=dict(file=str(path)),
        **dict(SIZE, img_size=84)).eval()
    assert_same_cls(model, timm_loaded, img_size=84)


def test_weights_survive_classifier_init_weights(tmp_path):
    reference = timm_reference(REG4)
    path = tmp_path / 'timm_format.pth'
    torch.save(reference.state_dict(), path)
    classifier = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='HardMaskViT', arch=REG4, pretrained=str(path),
                          **SIZE),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64)))
    classifier.init_weights()
    torch.testing.assert_close(classifier.backbone.vit.pos_embed,
                               reference.pos_embed)
    torch.testing.assert_close(classifier.backbone.vit.blocks[1].ls2.gamma,
                               reference.blocks[1].ls2.gamma)


def test_wrong_architecture_is_a_clear_error(tmp_path):
    wider = timm_reference(REG4, embed_dim=96, num_heads=2)
    path = tmp_path / 'wider.pth'
    torch.save(wider.state_dict(), path)
    with pytest.raises(ValueError, match=r"does not fit HardMaskViT arch .*"
                       r"embed_dim=64(.|\n)*shape mismatches: .*\(96"):
        hard_mask_vit(REG4, path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='never downloaded'):
        hard_mask_vit(REG4, tmp_path / 'absent.pth')
