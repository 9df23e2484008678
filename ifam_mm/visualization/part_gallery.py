# Copyright (c) ifam_mm contributors. All rights reserved.
"""Streaming per-part galleries: the images where each part is largest."""
import heapq
from dataclasses import dataclass
from typing import List, Set

import mmcv
import numpy as np
from mmengine.dist import all_gather_object, get_rank

from .utils import ArrayLike, check_part_map


@dataclass
class GalleryItem:
    """One gallery entry.

    Args:
        fraction (float): Share of the image's tokens assigned to the part.
        name (str): The image's name.
        image (np.ndarray): uint8 RGB [H, W, 3] image (a thumbnail).
        part_map (np.ndarray): int64 [h, w] part map (K = background).
    """
    fraction: float
    name: str
    image: np.ndarray
    part_map: np.ndarray


class PartGallery:
    """For each part, the ``size`` images where it covers the largest share
    of tokens, collected one image at a time.

    Each part keeps a min-heap of its best ``size`` candidates, so memory is
    bounded by K x ``size`` thumbnails whatever the split's length (heapq
    is the standard library's top-N; nothing in mmengine streams it). Ties
    go to the earlier image. A part that no image has stays empty.

    Args:
        num_parts (int): Foreground parts K.
        size (int): Images per part. Defaults to 8.
        max_side (int): Stored images are shrunk to at most this many pixels
            on their long side. Defaults to 224.
    """

    def __init__(self, num_parts: int, size: int = 8,
                 max_side: int = 224) -> None:
        if size < 1:
            raise ValueError(f'The gallery size must be >= 1, got {size}.')
        self.num_parts = num_parts
        self.size = size
        self.max_side = max_side
        self._seen = 0
        # Entries (fraction, -seen, -rank, item): the key is unique, so two
        # items are never compared.
        self._heaps: List[list] = [[] for _ in range(num_parts)]

    def add(self, image: np.ndarray, part_map: ArrayLike, name: str) -> None:
        """Offer one image with its predicted part map to every part."""
        part_map = check_part_map(part_map, self.num_parts)
        counts = np.bincount(part_map.ravel(), minlength=self.num_parts + 1)
        fractions = counts[:self.num_parts] / max(part_map.size, 1)
        thumbnail = None
        for part in np.flatnonzero(fractions):
            key = (float(fractions[part]), -self._seen, -get_rank())
            heap = self._heaps[part]
            if len(heap) == self.size and key <= heap[0][:3]:
                continue
            if thumbnail is None:
                thumbnail = self._thumbnail(image)
            entry = (*key, GalleryItem(key[0], name, thumbnail, part_map))
            if len(heap) < self.size:
                heapq.heappush(heap, entry)
            else:
                heapq.heapreplace(heap, entry)
        self._seen += 1

    def _thumbnail(self, image: np.ndarray) -> np.ndarray:
        long_side = max(image.shape[:2])
        if long_side <= self.max_side:
            return image
        return mmcv.imrescale(image, self.max_side / long_side)

    def top(self, part: int) -> List[GalleryItem]:
        """The part's images, largest share first (empty if none has it)."""
        return [entry[3] for entry in sorted(self._heaps[part], reverse=True)]

    def names(self) -> Set[str]:
        """Names of the images in any part's gallery."""
        return {entry[3].name for heap in self._heaps for entry in heap}

    def gather(self) -> None:
        """Merge the candidates of all ranks (a no-op in one process).

        Every rank must call it. With mmengine's ``DefaultSampler`` rank r
        reads images r, r + W, ..., so (position, rank) orders them as the
        dataset does and ties still go to the earlier image.
        """
        per_rank = all_gather_object(self._heaps)
        for part in range(self.num_parts):
            entries = [entry for heaps in per_rank for entry in heaps[part]]
            self._heaps[part] = heapq.nlargest(
                self.size, entries, key=lambda entry: entry[:3])
            heapq.heapify(self._heaps[part])
