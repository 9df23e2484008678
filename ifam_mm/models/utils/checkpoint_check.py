# Copyright (c) ifam_mm contributors. All rights reserved.
"""Refuse a checkpoint that does not fit the model instead of loading part.

mmengine loads checkpoints (``load_from``, ``--resume``, ``tools/test.py``)
with ``strict=False``: a tensor whose shape differs from the model's is
skipped with a logged warning, and tensors missing from the file keep their
random initialisation, so a K = 8 checkpoint tested with a K = 4 config
would evaluate a partly random model. The check runs as a load-state-dict
pre-hook of the model, so it applies whatever loads the weights (the
Runner, ``mmengine.runner.load_checkpoint``, an ``init_cfg`` of type
``Pretrained``, ``nn.Module.load_state_dict``).
"""
from typing import Dict, List

import torch
from torch import nn

ARCH = 'the architecture (arch, embed_dim, depth, registers, stage 2)'
# The likely cause of a shape mismatch, by the tensor's name.
CAUSES = (
    ('pos_embed', 'the image or patch size (img_size, patch_size)'),
    ('prototypes', 'the number of parts K (part_head.num_parts)'),
    ('modulation', 'the number of parts K (part_head.num_parts)'),
    ('classifier.', 'the class count (num_classes)'),
    ('fc.', 'the class count (num_classes)'),
)
SHOWN = 5  # tensors listed per kind of mismatch


def _cause(name: str) -> str:
    return next((cause for key, cause in CAUSES if key in name), ARCH)


def _listing(names: List[str]) -> str:
    more = f' ({len(names)} in all)' if len(names) > SHOWN else ''
    return ', '.join(names[:SHOWN]) + more


def check_checkpoint_fits(module: nn.Module,
                          state_dict: Dict[str, torch.Tensor], prefix: str,
                          *args) -> None:
    """Raise if ``state_dict`` does not hold exactly ``module``'s tensors.

    A ``register_load_state_dict_pre_hook`` hook; ``args`` are the hook's
    further arguments, unused.

    Raises:
        ValueError: Naming the tensors of another shape (with both shapes),
            missing or unexpected, the likely cause and the fix.
    """
    own = module.state_dict()
    given = {
        key[len(prefix):]: value
        for key, value in state_dict.items() if key.startswith(prefix)
    }
    mismatched = [
        name for name, tensor in own.items()
        if name in given and given[name].shape != tensor.shape
    ]
    missing = [name for name in own if name not in given]
    unexpected = [name for name in given if name not in own]
    if not (mismatched or missing or unexpected):
        return
    lines = [
        f'  {prefix}{name}: {list(given[name].shape)} in the checkpoint, '
        f'{list(own[name].shape)} in the model'
        for name in mismatched[:SHOWN]
    ]
    if len(mismatched) > SHOWN:
        lines.append(f'  ... ({len(mismatched)} tensors differ in all)')
    if missing:
        lines.append(f'  missing from the checkpoint: {_listing(missing)}')
    if unexpected:
        lines.append(f'  not in the model: {_listing(unexpected)}')
    causes = {_cause(name) for name in mismatched}
    if missing or unexpected or ARCH in causes:
        causes = {ARCH}  # the other differences follow from it
    raise ValueError(
        f'The checkpoint does not fit this {type(module).__name__}; it '
        f'differs in {" and ".join(sorted(causes))}:\n' + '\n'.join(lines) +
        '\nBuild the model with the config the checkpoint was trained with, '
        'or use a checkpoint of this config. To start from the weights of '
        'one part on purpose, give that submodule init_cfg=dict('
        "type='Pretrained', checkpoint=..., prefix=...).")


def register_checkpoint_check(module: nn.Module) -> None:
    """Make every state-dict load into ``module`` run
    :func:`check_checkpoint_fits` first."""
    module.register_load_state_dict_pre_hook(check_checkpoint_fits)
