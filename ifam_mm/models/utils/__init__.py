# Copyright (c) ifam_mm contributors. All rights reserved.
from .part_mask import (foreground_token_mask, pixel_to_token_mask,
                        resample_token_mask, soft_foreground_mask)
from .token_masking import (key_attention_bias, key_weighted_attention,
                            key_weighted_block, prune_masked_tokens,
                            straight_through_key_weights)
from .vit_weights import hf_dinov2_to_original, load_vit_weights

__all__ = [
    'foreground_token_mask', 'pixel_to_token_mask', 'resample_token_mask',
    'soft_foreground_mask',
    'key_attention_bias', 'key_weighted_attention', 'key_weighted_block',
    'prune_masked_tokens', 'straight_through_key_weights',
    'hf_dinov2_to_original', 'load_vit_weights'
]
