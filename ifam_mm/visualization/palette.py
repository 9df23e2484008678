# Copyright (c) ifam_mm contributors. All rights reserved.
"""The fixed part palette of the visual audit."""
import numpy as np
from matplotlib import colormaps


def part_palette(num_parts: int) -> np.ndarray:
    """RGB colour of each foreground part, the same in every image and run.

    Up to 20 parts take matplotlib's ``tab20`` colours, its ten dark shades
    first, so K <= 10 gives exactly ``tab10`` (part 0 is (31, 119, 180),
    part 1 (255, 127, 14), part 2 (44, 160, 44), part 3 (214, 39, 40), ...).
    More parts take ``num_parts`` evenly spaced hues of ``hsv``. Background
    has no colour: overlays leave its pixels as they are.

    Args:
        num_parts (int): Foreground parts K.

    Returns:
        np.ndarray: uint8 [K, 3] RGB colours.
    """
    if num_parts <= 20:
        tab20 = colormaps['tab20'].colors
        order = list(range(0, 20, 2)) + list(range(1, 20, 2))
        colours = [tab20[i] for i in order[:num_parts]]
    else:
        hsv = colormaps['hsv']
        colours = [hsv(k / num_parts)[:3] for k in range(num_parts)]
    return np.round(np.asarray(colours) * 255).astype(np.uint8)
