# Copyright (c) ifam_mm contributors. All rights reserved.
from .pdiscoformer_head import PartOutputs, PDiscoFormerHead

__all__ = ['PartOutputs', 'PDiscoFormerHead']
