# Copyright (c) ifam_mm contributors. All rights reserved.
"""PartMapVisualizer: part-assignment overlays and per-part galleries."""
import logging
import math
from typing import Sequence, Tuple

import mmcv
import numpy as np
from mmengine.logging import print_log

from mmpretrain.registry import VISUALIZERS
from mmpretrain.structures import DataSample
from mmpretrain.visualization import UniversalVisualizer
from .palette import part_palette
from .part_gallery import GalleryItem
from .utils import ArrayLike, check_part_map, to_numpy, upsample_token_map

_GAP = 4  # pixels between gallery tiles
_CHAR_WIDTH = 8  # pixels per character of FONT_SIZE monospace, rounded up


def _line(i: int) -> int:
    """Top pixel of caption line ``i``."""
    return 3 + 18 * i


@VISUALIZERS.register_module()
class PartMapVisualizer(UniversalVisualizer):
    """Draws what stage 1 assigned and what stage 2 saw.

    - ``draw_part_overlay``: each foreground token's pixels blended with its
      part's colour (:func:`~ifam_mm.visualization.part_palette`);
      background pixels unchanged.
    - ``draw_token_mask``: the stage-2 input: tokens stage 2 did not see
      dimmed to ``dim`` of their brightness.
    - ``draw_part_sample``: ``[image | parts | stage-2 input]`` (no third
      panel without a ``pred_token_mask``) under a three-line caption: name
      and labels, panel titles (with the kept share of tokens), legend.
    - ``draw_part_gallery``: one part's gallery, its images side by side,
      each with the part highlighted and the rest dimmed.

    Maps are upsampled to the image by nearest neighbour, so every token
    shows as the square of pixels it came from.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        alpha (float): Weight of the part colour in the overlay and in the
            gallery tiles, in [0, 1]. Defaults to 0.5.
        dim (float): Brightness factor, in [0, 1], of dropped tokens and of
            the pixels outside the part in gallery tiles. Defaults to 0.25.
        min_size (int): Panels and tiles are enlarged by a whole factor
            (nearest neighbour) until their short side reaches this many
            pixels, so captions stay legible on small images. Defaults to
            224.
        **kwargs: Other arguments of ``UniversalVisualizer``
            (``vis_backends``, ``save_dir``, ...).
    """
    # Caption heights in pixels: lines of FONT_SIZE text, 18 px apart.
    SAMPLE_CAPTION = 58
    GALLERY_CAPTION = 40
    FONT_SIZE = 9
    PLACEHOLDER_GREY = 128

    def __init__(self,
                 name: str = 'visualizer',
                 alpha: float = 0.5,
                 dim: float = 0.25,
                 min_size: int = 224,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        for key, value in (('alpha', alpha), ('dim', dim)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{key} must lie in [0, 1], got {value}.')
        if min_size < 1:
            raise ValueError(f'min_size must be >= 1, got {min_size}.')
        self.alpha = alpha
        self.dim = dim
        self.min_size = min_size

    def draw_part_overlay(self, image: np.ndarray, part_map: ArrayLike,
                          num_parts: int) -> np.ndarray:
        """Blend each part's pixels with its colour.

        Args:
            image (np.ndarray): uint8 RGB [H, W, 3].
            part_map (np.ndarray | Tensor): [h, w] values ``0..K``, K is
                background (``pred_part_map``).
            num_parts (int): K.

        Returns:
            np.ndarray: uint8 RGB [H, W, 3]; a part-k pixel is
            ``round((1 - alpha) * pixel + alpha * part_palette(K)[k])``.
        """
        part_map = upsample_token_map(
            check_part_map(part_map, num_parts), image.shape[:2])
        foreground = part_map < num_parts
        colours = part_palette(num_parts)[part_map[foreground]]
        out = image.astype(np.float32)
        out[foreground] = ((1 - self.alpha) * out[foreground] +
                           self.alpha * colours)
        return np.round(out).astype(np.uint8)

    def draw_token_mask(self, image: np.ndarray,
                        token_mask: ArrayLike) -> np.ndarray:
        """Dim the tokens stage 2 did not see.

        Args:
            image (np.ndarray): uint8 RGB [H, W, 3].
            token_mask (np.ndarray | Tensor): bool [h, w] on stage 2's grid,
                True = kept (``pred_token_mask``).

        Returns:
            np.ndarray: uint8 RGB [H, W, 3]; kept pixels unchanged, dropped
            ones ``round(dim * pixel)``.
        """
        keep = upsample_token_map(
            to_numpy(token_mask).astype(bool), image.shape[:2])
        out = image.astype(np.float32)
        out[~keep] *= self.dim
        return np.round(out).astype(np.uint8)

    def draw_part_highlight(self, image: np.ndarray, part_map: ArrayLike,
                            part: int, num_parts: int) -> np.ndarray:
        """Part ``part`` blended with its colour, every other pixel dimmed
        (a gallery tile)."""
        part_map = upsample_token_map(
            check_part_map(part_map, num_parts), image.shape[:2])
        inside = part_map == part
        out = image.astype(np.float32)
        out[inside] = ((1 - self.alpha) * out[inside] +
                       self.alpha * part_palette(num_parts)[part])
        out[~inside] *= self.dim
        return np.round(out).astype(np.uint8)

    def draw_part_sample(self,
                         image: np.ndarray,
                         data_sample: DataSample,
                         num_parts: int,
                         name: str = '') -> np.ndarray:
        """``[image | parts | stage-2 input]`` under a caption.

        Args:
            image (np.ndarray): uint8 RGB [H, W, 3], the image the model
                read.
            data_sample (DataSample): The prediction, with ``pred_part_map``
                and, for a two-stage model, ``pred_token_mask``.
            num_parts (int): K.
            name (str): Shown in the caption. Defaults to ''.

        Returns:
            np.ndarray: uint8 RGB [SAMPLE_CAPTION + s * H, >= n * s * W,
            3]: the n panels, enlarged by the whole factor s, side by side
            from the left (a black margin on the right when the caption is
            wider).
        """
        if 'pred_part_map' not in data_sample:
            raise KeyError(
                'The data sample has no pred_part_map. Visualise the '
                'predictions of a part-discovery model (IFAMClassifier, or '
                'an ImageClassifier with a PDiscoFormerHead).')
        panels = [
            image,
            self.draw_part_overlay(image, data_sample.pred_part_map,
                                   num_parts)
        ]
        titles = ['image', 'parts']
        if 'pred_token_mask' in data_sample:
            keep = to_numpy(data_sample.pred_token_mask).astype(bool)
            panels.append(self.draw_token_mask(image, keep))
            titles.append(f'stage-2 input: kept {keep.mean():.0%}')
        scale = self._scale(image.shape[:2])
        panels = [_enlarge(panel, scale) for panel in panels]
        height, width = panels[0].shape[:2]

        white = (255, 255, 255)
        texts = [(self._labels(data_sample, name), 4, 0, white)]
        texts += [(title, i * width + 4, 1, white)
                  for i, title in enumerate(titles)]
        # The legend, a line of its own: each part's number in its colour.
        texts.append(('parts:', 4, 2, white))
        x = 4 + _CHAR_WIDTH * len('parts: ')
        for part, colour in enumerate(part_palette(num_parts)):
            texts.append((str(part), x, 2, tuple(int(c) for c in colour)))
            x += _CHAR_WIDTH * (len(str(part)) + 1)
        texts.append(('(background: unpainted)', x, 2, white))

        # Wider than the panels when the caption needs it (black margin).
        canvas_width = max(
            [width * len(panels)] +
            [x + _CHAR_WIDTH * len(text) + 4 for text, x, _, _ in texts])
        canvas = np.zeros((self.SAMPLE_CAPTION + height, canvas_width, 3),
                          np.uint8)
        for i, panel in enumerate(panels):
            canvas[self.SAMPLE_CAPTION:, i * width:(i + 1) * width] = panel
        self.set_image(canvas)
        self.draw_texts([text for text, _, _, _ in texts],
                        np.array([(x, _line(line))
                                  for _, x, line, _ in texts]),
                        font_sizes=self.FONT_SIZE,
                        colors=[colour for _, _, _, colour in texts],
                        font_families='monospace')
        return self.get_image()

    def _labels(self, data_sample: DataSample, name: str) -> str:
        classes = (self.dataset_meta or {}).get('classes')
        words = [name] if name else []
        for key, field in (('gt', 'gt_label'), ('pred', 'pred_label')):
            if field in data_sample:
                label = int(data_sample.get(field)[0])
                text = f'{key} {label}'
                if classes is not None:
                    text += f' ({classes[label]})'
                if key == 'pred' and 'pred_score' in data_sample:
                    text += f' {float(data_sample.pred_score[label]):.2f}'
                words.append(text)
        return '   '.join(words)

    def draw_part_gallery(self, part: int, items: Sequence[GalleryItem],
                          num_parts: int) -> np.ndarray:
        """One part's gallery: its images side by side, largest share first.

        A part that no image has gets a grey placeholder tile saying so,
        and a logged warning (a part that never fires may be dead).

        Args:
            part (int): The part.
            items (Sequence[GalleryItem]): Its images
                (``PartGallery.top(part)``).
            num_parts (int): K.

        Returns:
            np.ndarray: uint8 RGB image, the tiles below a caption.
        """
        if items:
            tiles = [
                _enlarge(
                    self.draw_part_highlight(item.image, item.part_map, part,
                                             num_parts),
                    self._scale(item.image.shape[:2])) for item in items
            ]
            labels = [f'{item.fraction:.0%} {item.name}' for item in items]
            title = (f'part {part}: the images where it covers most tokens '
                     '(share, name)')
        else:
            print_log(
                f'Part {part} was assigned no token in any image; its '
                'gallery is a placeholder.',
                logger='current',
                level=logging.WARNING)
            tiles = [
                np.full((self.min_size, self.min_size, 3),
                        self.PLACEHOLDER_GREY, np.uint8)
            ]
            labels = ['no image']
            title = f'part {part}: assigned no token in any image'
        height = max(tile.shape[0] for tile in tiles)
        width = max(
            sum(tile.shape[1] for tile in tiles) + _GAP * (len(tiles) - 1),
            _CHAR_WIDTH * len(title) + 8)
        canvas = np.zeros((self.GALLERY_CAPTION + height, width, 3), np.uint8)
        x, label_x = 0, []
        for tile in tiles:
            top = self.GALLERY_CAPTION
            canvas[top:top + tile.shape[0], x:x + tile.shape[1]] = tile
            label_x.append(x)
            x += tile.shape[1] + _GAP

        self.set_image(canvas)
        colour = tuple(int(c) for c in part_palette(num_parts)[part])
        max_chars = [max(tile.shape[1] // _CHAR_WIDTH, 1) for tile in tiles]
        self.draw_texts(
            [title] + [label[:n] for label, n in zip(labels, max_chars)],
            np.array([(4, _line(0))] + [(x + 4, _line(1)) for x in label_x]),
            font_sizes=self.FONT_SIZE,
            colors=[colour] + [(255, 255, 255)] * len(labels),
            font_families='monospace')
        return self.get_image()

    def _scale(self, size: Tuple[int, int]) -> int:
        return max(1, math.ceil(self.min_size / min(size)))


def _enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return image
    height, width = image.shape[:2]
    return mmcv.imresize(
        image, (width * scale, height * scale), interpolation='nearest')
