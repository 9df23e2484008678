# Copyright (c) ifam_mm contributors. All rights reserved.
"""SpuriousShapes: an offline benchmark with a known spurious cue and exact
object masks (see ``docs/spurious_shapes.md``)."""
from .dataset import DEFAULT_NUM_SAMPLES, SpuriousShapes
from .generator import CUES, SPLITS
from .masks import decode_label_map, token_leakage, token_mask
from .transforms import FillBackground, LoadSpuriousShapesMasks

__all__ = [
    'SpuriousShapes', 'LoadSpuriousShapesMasks', 'FillBackground', 'SPLITS',
    'CUES', 'DEFAULT_NUM_SAMPLES', 'decode_label_map', 'token_mask',
    'token_leakage'
]
