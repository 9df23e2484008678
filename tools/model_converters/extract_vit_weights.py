# Copyright (c) ifam_mm contributors. All rights reserved.
"""Extract a HardMaskViT's weights from an mmpretrain checkpoint.

Writes the timm state dict of the ViT under ``--prefix`` (``backbone.`` by
default), which ``HardMaskViT(pretrained=FILE)`` reads like any timm file.
This is how a backbone pretrained with ``tools/train.py`` (e.g.
``configs/spurious_shapes/pretrain_vit-tiny-p8_token-labels.py``) becomes the
``pretrained`` file of other configs. The file is written atomically.

Example:
    python tools/model_converters/extract_vit_weights.py \\
        work_dirs/pretrain/iter_800.pth checkpoints/vit-tiny.pth
"""
import argparse
import os
import os.path as osp

import torch

from ifam_mm.utils.safe_loading import runner_checkpoint_loading


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='mmpretrain/mmengine checkpoint')
    parser.add_argument('out', help='timm-format weights file to write')
    parser.add_argument(
        '--prefix',
        default='backbone.',
        help='module of the HardMaskViT in the checkpoint\'s model')
    return parser.parse_args()


def extract(checkpoint: str, out: str, prefix: str = 'backbone.') -> int:
    """Write the ``<prefix>vit.*`` weights of ``checkpoint`` to ``out``.

    Returns:
        int: Number of tensors written.
    """
    with runner_checkpoint_loading():  # a Runner's checkpoint: meta, hub
        state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    stem = prefix + 'vit.'
    weights = {
        key[len(stem):]: value
        for key, value in state.items() if key.startswith(stem)
    }
    if not weights:
        raise ValueError(
            f'{checkpoint} has no {stem}* weights; pass the --prefix of the '
            'HardMaskViT in that model (e.g. stage2_backbone.).')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    partial = out + '.partial'
    torch.save(weights, partial)
    os.replace(partial, out)
    return len(weights)


def main() -> None:
    args = parse_args()
    count = extract(args.checkpoint, args.out, args.prefix)
    print(f'Wrote {count} tensors to {args.out}')


if __name__ == '__main__':
    main()
