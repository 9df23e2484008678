# Copyright (c) ifam_mm contributors. All rights reserved.
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .epoch_seed_hook import EpochSeedHook
from .finite_loss_hook import FiniteLossHook
from .intervention_hook import InterventionHook
from .part_visualization_hook import PartVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'EpochSeedHook', 'FiniteLossHook',
    'InterventionHook', 'PartVisualizationHook'
]
