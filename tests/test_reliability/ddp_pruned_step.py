# Copyright (c) ifam_mm contributors. All rights reserved.
"""Two SGD steps of a tiny pruned HardMaskViT under mmengine's DDP wrapper.

Run by ``test_distributed_pruning.py`` through torchrun with 1 and with 2
gloo processes; each process takes its share of one fixed batch of 4, whose
images keep different token counts (one keeps none), so the processes
prune to different lengths. Saves the losses and the final weights.
"""
import sys

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size
from mmengine.model import MMDistributedDataParallel
from torch import nn

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS

VIT = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=56,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    init_values=None)


class Classifier(nn.Module):

    def __init__(self):
        super().__init__()
        self.vit = MODELS.build(VIT)
        self.head = nn.Linear(32, 3)

    def forward(self, images, keep):
        return self.head(self.vit(images, keep)[0])


def batch():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 56, 56, generator=gen)
    keep = torch.zeros(4, 49, dtype=torch.bool)
    for i, count in enumerate((0, 30, 5, 12)):
        keep[i, torch.randperm(49, generator=gen)[:count]] = True
    return images, keep, torch.tensor([0, 1, 2, 0])


def main(out_file):
    # mmengine's init_dist('pytorch') selects a CUDA device; a CPU gloo
    # group is what this check needs.
    torch.distributed.init_process_group('gloo')
    torch.manual_seed(0)
    model = MMDistributedDataParallel(Classifier().train())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    share = slice(get_rank() * 4 // get_world_size(),
                  (get_rank() + 1) * 4 // get_world_size())
    images, keep, labels = (t[share] for t in batch())
    losses = []
    # The second step is where DDP reports a parameter that got no
    # gradient in the first.
    for _ in range(2):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images, keep), labels)
        loss.backward()
        optimizer.step()
        mean = loss.detach().clone()
        torch.distributed.all_reduce(mean)
        losses.append(mean.item() / get_world_size())
    if get_rank() == 0:
        torch.save(
            dict(losses=losses, state=model.module.state_dict()), out_file)
    torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
