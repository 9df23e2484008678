# Copyright (c) ifam_mm contributors. All rights reserved.
"""Per-part galleries: the right images, bounded, and absent parts."""
import logging

import numpy as np
import pytest
import torch

from ifam_mm.visualization import (PartGallery, PartMapVisualizer,
                                   part_palette)

K = 4


def area_map(counts):
    """A 4 x 4 part map with ``counts[k]`` tokens of part k, the rest
    background."""
    values = [k for k, n in enumerate(counts) for _ in range(n)]
    values += [K] * (16 - len(values))
    return torch.tensor(values).reshape(4, 4)


def solid(value, size=8):
    return np.full((size, size, 3), value, np.uint8)


def test_each_part_gets_the_images_where_it_is_largest():
    # Image i has the largest area of part i (i = 0, 1, 2), streamed in two
    # batches; part 3 appears in no image.
    maps = [area_map([6, 1, 1, 0]), area_map([2, 7, 1, 0]),
            area_map([1, 2, 5, 0]), area_map([3, 3, 3, 0])]
    gallery = PartGallery(K, size=2)
    for i, part_map in enumerate(maps):
        gallery.add(solid(10 * i), part_map, f'img{i}')

    def names(part):
        return [item.name for item in gallery.top(part)]

    assert names(0) == ['img0', 'img3']  # 6/16, then 3/16
    assert names(1) == ['img1', 'img3']
    assert names(2) == ['img2', 'img3']
    assert names(3) == []
    # The union of the parts' galleries.
    assert gallery.names() == {'img0', 'img1', 'img2', 'img3'}
    top = gallery.top(1)[0]
    assert top.fraction == pytest.approx(7 / 16)
    assert top.image[0, 0, 0] == 10 and torch.equal(
        torch.from_numpy(top.part_map), maps[1])


def test_memory_is_bounded_and_ties_go_to_the_earlier_image():
    gallery = PartGallery(K, size=3)
    for i in range(50):
        gallery.add(solid(0), area_map([1 + i % 5, 0, 0, 0]), f'img{i}')
    assert all(len(heap) <= 3 for heap in gallery._heaps)
    # Shares 5/16 at i = 4, 9, 14, ...: the first three win.
    assert [item.name for item in gallery.top(0)] == ['img4', 'img9', 'img14']


def test_large_images_are_stored_as_thumbnails():
    gallery = PartGallery(K, size=1, max_side=32)
    gallery.add(solid(7, size=128), area_map([1, 0, 0, 0]), 'big')
    assert gallery.top(0)[0].image.shape == (32, 32, 3)


def test_gather_in_one_process_keeps_the_gallery():
    gallery = PartGallery(K, size=2)
    for i in range(3):
        gallery.add(solid(0), area_map([i + 1, 0, 0, 0]), f'img{i}')
    gallery.gather()
    assert [item.name for item in gallery.top(0)] == ['img2', 'img1']


def test_gallery_image_tiles_show_the_chosen_images():
    vis = PartMapVisualizer(
        name='test_gallery_tiles', alpha=1.0, dim=0.5, min_size=8)
    gallery = PartGallery(K, size=2)
    gallery.add(solid(40), area_map([2, 0, 0, 0]), 'second')
    gallery.add(solid(80), area_map([4, 0, 0, 0]), 'first')
    out = vis.draw_part_gallery(0, gallery.top(0), K)
    top = PartMapVisualizer.GALLERY_CAPTION
    # Two 8 px tiles, 4 px apart; 4 x 4 tokens of 2 px; the first row of
    # tokens is part 0 in 'first' (4 tokens), half of it in 'second'.
    assert tuple(out[top, 0]) == tuple(part_palette(K)[0])
    assert tuple(out[top + 7, 0]) == (40, ) * 3  # 'first' dimmed: 80 / 2
    assert tuple(out[top + 7, 12]) == (20, ) * 3  # 'second' dimmed
    assert tuple(out[top, 12 + 6]) == (20, ) * 3  # 'second': 2 tokens only


def test_absent_part_gets_a_placeholder_and_a_note(mm_warnings):
    vis = PartMapVisualizer(name='test_gallery_placeholder', min_size=16)
    with mm_warnings.at_level(logging.WARNING):
        out = vis.draw_part_gallery(3, [], K)
    top = PartMapVisualizer.GALLERY_CAPTION
    grey = PartMapVisualizer.PLACEHOLDER_GREY
    assert tuple(out[top + 8, 8]) == (grey, ) * 3
    assert 'Part 3 was assigned no token in any image' in mm_warnings.text


def test_bad_gallery_size():
    with pytest.raises(ValueError, match='gallery size must be >= 1'):
        PartGallery(K, size=0)
