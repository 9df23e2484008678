# Copyright (c) ifam_mm contributors. All rights reserved.
"""One picture explaining one prediction (``demo/image_demo.py``).

Rows of :meth:`PartMapVisualizer.draw_part_sample` with ``dim=0``, so the
third panel holds exactly the pixels stage 2 could read (every other pixel
is black):

- row 1, the plain prediction: ``[image | parts | stage-2 input]`` under
  the predicted class and score, the panel titles (with the share of kept
  tokens) and the legend of part ids in their colours;
- row 2, only with an intervention: the same after it (stage 1's part map
  is unchanged; the stage-2 input and the prediction may differ).

A model without part maps (a stock classifier) gets the image under its
prediction alone.
"""
from typing import Optional, Sequence

import numpy as np

from mmpretrain.structures import DataSample
from .part_map_visualizer import PartMapVisualizer


def _visualizer(classes: Optional[Sequence[str]]) -> PartMapVisualizer:
    name = 'ifam_explanation'
    if PartMapVisualizer.check_instance_created(name):
        visualizer = PartMapVisualizer.get_instance(name)
    else:
        # dim=0: pixels stage 2 did not see are black, not dimmed.
        visualizer = PartMapVisualizer.get_instance(name, dim=0.0)
    visualizer.dataset_meta = dict(classes=classes) if classes else None
    return visualizer


def _prediction_only(visualizer: PartMapVisualizer, image: np.ndarray,
                     sample: DataSample, name: str) -> np.ndarray:
    scale = visualizer._scale(image.shape[:2])
    image = np.repeat(np.repeat(image, scale, 0), scale, 1)
    caption = visualizer.SAMPLE_CAPTION
    canvas = np.zeros((caption + image.shape[0], image.shape[1], 3),
                      np.uint8)
    canvas[caption:] = image
    visualizer.set_image(canvas)
    visualizer.draw_texts(
        visualizer._labels(sample, name),
        np.array([4, 3]),
        font_sizes=visualizer.FONT_SIZE,
        colors='white',
        font_families='monospace')
    return visualizer.get_image()


def draw_explanation(image: np.ndarray,
                     sample: DataSample,
                     num_parts: Optional[int],
                     classes: Optional[Sequence[str]] = None,
                     intervened: Optional[DataSample] = None,
                     intervention: str = 'intervention') -> np.ndarray:
    """The explanation picture of one image.

    Args:
        image (np.ndarray): uint8 RGB [H, W, 3], the image as the model read
            it (after the test pipeline's resize/crop).
        sample (DataSample): The prediction (``pred_score``, ``pred_label``
            and, for iFAM, ``pred_part_map`` / ``pred_token_mask``).
        num_parts (int, optional): K, or None for a model without parts.
        classes (Sequence[str], optional): Class names for the captions.
        intervened (DataSample, optional): The prediction after an
            intervention, drawn as a second row.
        intervention (str): How the second row's caption names it.

    Returns:
        np.ndarray: uint8 RGB picture; each row is ``SAMPLE_CAPTION +
        s * H`` pixels high with panels ``s * W`` wide (``s`` the whole
        enlargement factor of ``PartMapVisualizer``), rows padded black on
        the right to the widest.
    """
    visualizer = _visualizer(classes)
    if num_parts is None or 'pred_part_map' not in sample:
        return _prediction_only(visualizer, image, sample, 'prediction:')
    rows = [visualizer.draw_part_sample(image, sample, num_parts,
                                        'prediction:')]
    if intervened is not None:
        rows.append(visualizer.draw_part_sample(
            image, intervened, num_parts, f'after {intervention}:'))
    width = max(row.shape[1] for row in rows)
    return np.concatenate(
        [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)))
         for row in rows])
