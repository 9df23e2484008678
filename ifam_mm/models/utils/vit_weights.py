# Copyright (c) ifam_mm contributors. All rights reserved.
"""Load ViT weights from a local file into a timm ``VisionTransformer``.

Accepted formats: timm state dicts, the original facebookresearch DINOv2
checkpoints (with or without registers) and Hugging Face ``Dinov2Model``
checkpoints (e.g. RAD-DINO), as ``.pth``/``.pt``/``.bin`` or
``.safetensors``. timm's own filter converts DINOv2 (folding the CLS
position into the CLS token for register models) and resamples the position
embedding to the model's grid; only the Hugging Face key layout, which timm
does not read, is mapped here.
"""
import os.path as osp
import re
from typing import Dict

import torch
from timm.models import VisionTransformer
from timm.models._helpers import load_state_dict
from timm.models.vision_transformer import checkpoint_filter_fn

_HF_BLOCK_KEYS = {
    'norm1': 'norm1',
    'norm2': 'norm2',
    'attention.output.dense': 'attn.proj',
    'layer_scale1.lambda1': 'ls1.gamma',
    'layer_scale2.lambda1': 'ls2.gamma',
    'mlp.fc1': 'mlp.fc1',
    'mlp.fc2': 'mlp.fc2',
    'mlp.weights_in': 'mlp.fc1',
    'mlp.weights_out': 'mlp.fc2',
}
_HF_EMBED_KEYS = {
    'embeddings.cls_token': 'cls_token',
    'embeddings.mask_token': 'mask_token',
    'embeddings.register_tokens': 'register_tokens',
    'embeddings.position_embeddings': 'pos_embed',
    'embeddings.patch_embeddings.projection.weight': 'patch_embed.proj.weight',
    'embeddings.patch_embeddings.projection.bias': 'patch_embed.proj.bias',
    'layernorm.weight': 'norm.weight',
    'layernorm.bias': 'norm.bias',
}


def is_hf_dinov2(state_dict: Dict[str, torch.Tensor]) -> bool:
    return 'embeddings.cls_token' in state_dict


def hf_dinov2_to_original(
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a Hugging Face ``Dinov2Model`` state dict to DINOv2's layout.

    The result goes through timm's DINOv2 conversion like an original
    checkpoint. Separate q/k/v projections are concatenated into ``qkv``.

    Args:
        state_dict (dict): Keys such as ``encoder.layer.0.norm1.weight``.

    Returns:
        dict: Keys such as ``blocks.0.norm1.weight``.
    """
    out, qkv = {}, {}
    for key, value in state_dict.items():
        if key in _HF_EMBED_KEYS:
            out[_HF_EMBED_KEYS[key]] = value
            continue
        match = re.fullmatch(r'encoder\.layer\.(\d+)\.(.+)\.(weight|bias|'
                             r'lambda1)', key)
        if match is None:
            out[key] = value  # left for the shape check to report
            continue
        index, name, kind = match.groups()
        proj = re.fullmatch(r'attention\.attention\.(query|key|value)', name)
        if proj is not None:
            qkv.setdefault((index, kind), {})[proj.group(1)] = value
            continue
        full = f'{name}.{kind}' if kind == 'lambda1' else name
        target = _HF_BLOCK_KEYS.get(full, full)
        suffix = '' if kind == 'lambda1' else f'.{kind}'
        out[f'blocks.{index}.{target}{suffix}'] = value
    for (index, kind), parts in qkv.items():
        out[f'blocks.{index}.attn.qkv.{kind}'] = torch.cat(
            [parts['query'], parts['key'], parts['value']], dim=0)
    return out


def _describe_mismatch(model: VisionTransformer,
                       state_dict: Dict[str, torch.Tensor]) -> str:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [
        f'{k}: model {tuple(expected[k].shape)}, file '
        f'{tuple(state_dict[k].shape)}' for k in expected
        if k in state_dict and expected[k].shape != state_dict[k].shape
    ]
    lines = []
    for title, items in (('missing keys', missing),
                         ('unexpected keys', unexpected),
                         ('shape mismatches', wrong_shape)):
        if items:
            shown = ', '.join(items[:5])
            more = f' (+{len(items) - 5} more)' if len(items) > 5 else ''
            lines.append(f'  {title}: {shown}{more}')
    return '\n'.join(lines)


def load_vit_weights(model: VisionTransformer, path: str,
                     arch: str) -> None:
    """Load a local weights file into ``model``, strictly.

    Args:
        model (VisionTransformer): Built timm model (classifier removed).
        path (str): Local ``.pth``/``.safetensors`` file.
        arch (str): Architecture name, for error messages.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If the weights do not fit the architecture.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Pretrained ViT weights not found: {path!r}. `pretrained` must '
            'be a local timm, DINOv2 or Hugging Face DINOv2 file (weights '
            'are never downloaded).')
    state_dict = load_state_dict(path, use_ema=False, weights_only=True)
    if is_hf_dinov2(state_dict):
        state_dict = hf_dinov2_to_original(state_dict)
    # The backbone has no classifier; a checkpoint's head is not an error.
    classifier_keys = ('head.', 'fc_norm')
    state_dict = {
        k: v
        for k, v in state_dict.items() if not k.startswith(classifier_keys)
    }
    fit_hint = (f'Weights file {path!r} does not fit HardMaskViT arch '
                f'{arch!r} (embed_dim={model.embed_dim}, depth='
                f'{len(model.blocks)}, prefix tokens='
                f'{model.num_prefix_tokens}). Pick the arch and size '
                'overrides the file was trained with')
    try:
        state_dict = checkpoint_filter_fn(state_dict, model)
    except (RuntimeError, ValueError, KeyError) as err:
        raise ValueError(f'{fit_hint}; converting it failed: {err}') from err
    mismatch = _describe_mismatch(model, state_dict)
    if mismatch:
        raise ValueError(f'{fit_hint}:\n{mismatch}')
    model.load_state_dict(state_dict, strict=True)
