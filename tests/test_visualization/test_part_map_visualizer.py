# Copyright (c) ifam_mm contributors. All rights reserved.
"""Overlays, stage-2 views and composed samples, checked pixel by pixel."""
import numpy as np
import pytest
import torch

from ifam_mm.visualization import PartMapVisualizer, part_palette
from mmpretrain.registry import VISUALIZERS
from mmpretrain.structures import DataSample

K = 4
GREY = 100  # every pixel of the test image
# tab10's first four colours, as docs/visual_audit.md lists them.
TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


@pytest.fixture(scope='module')
def visualizer():
    return PartMapVisualizer(name='test_part_map_visualizer')


def grey_image(size=16):
    return np.full((size, size, 3), GREY, np.uint8)


def part_map_2x2():
    """Token grid [[part 0, part 3], [part 1, background]]."""
    return torch.tensor([[0, 3], [1, K]])


def test_palette_is_fixed():
    assert part_palette(4).tolist() == [list(c) for c in TAB10]
    # K <= 10 is tab10; parts 10.. take tab20's light shades.
    assert part_palette(12)[:4].tolist() == [list(c) for c in TAB10]
    assert part_palette(12)[10].tolist() == [174, 199, 232]
    many = part_palette(25)
    assert many.shape == (25, 3) and len({tuple(c) for c in many}) == 25


def test_overlay_colours_parts_and_leaves_background(visualizer):
    # 16 px image, 2 x 2 tokens: each token is an 8 x 8 pixel block.
    opaque = PartMapVisualizer(name='test_overlay_opaque', alpha=1.0)
    out = opaque.draw_part_overlay(grey_image(), part_map_2x2(), K)
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    assert tuple(out[0, 0]) == TAB10[0]  # top-left token: part 0
    assert tuple(out[7, 7]) == TAB10[0]  # still the same token
    assert tuple(out[0, 8]) == TAB10[3]  # top-right: part 3
    assert tuple(out[15, 0]) == TAB10[1]  # bottom-left: part 1
    assert tuple(out[15, 15]) == (GREY, ) * 3  # background unpainted

    # alpha = 0.5 blends: round((100 + 31) / 2) = 66 (half to even), ...
    half = visualizer.draw_part_overlay(grey_image(), part_map_2x2(), K)
    expected = np.round((GREY + np.array(TAB10[0])) / 2)
    assert half[3, 3].tolist() == expected.tolist()
    assert tuple(half[8, 8]) == (GREY, ) * 3


def test_overlay_upsamples_by_nearest_neighbour(visualizer):
    # 7 x 7 tokens on 56 px: token (i, j) covers pixels 8i..8i+7.
    part_map = torch.full((7, 7), K)
    part_map[2, 5] = 2
    opaque = PartMapVisualizer(name='test_overlay_nearest', alpha=1.0)
    out = opaque.draw_part_overlay(grey_image(56), part_map, K)
    painted = np.argwhere((out != GREY).any(-1))
    assert painted.min(0).tolist() == [16, 40]
    assert painted.max(0).tolist() == [23, 47]
    assert tuple(out[20, 44]) == TAB10[2]


def test_token_mask_dims_dropped_tokens(visualizer):
    keep = torch.tensor([[True, False], [False, True]])
    out = visualizer.draw_token_mask(grey_image(), keep)
    assert tuple(out[0, 0]) == (GREY, ) * 3  # kept
    assert tuple(out[0, 15]) == (25, ) * 3  # dropped: 0.25 * 100
    assert tuple(out[15, 0]) == (25, ) * 3
    assert tuple(out[15, 15]) == (GREY, ) * 3


def test_highlight_shows_one_part_and_dims_the_rest():
    opaque = PartMapVisualizer(name='test_highlight', alpha=1.0, dim=0.5)
    out = opaque.draw_part_highlight(grey_image(), part_map_2x2(), 3, K)
    assert tuple(out[0, 15]) == TAB10[3]
    assert tuple(out[0, 0]) == (50, ) * 3  # part 0, not highlighted
    assert tuple(out[15, 15]) == (50, ) * 3  # background


def make_sample(token_mask=True):
    sample = DataSample().set_gt_label(2).set_pred_label(1)
    sample.set_pred_score(torch.tensor([0.1, 0.7, 0.2]))
    sample.set_field(part_map_2x2(), 'pred_part_map')
    if token_mask:
        # Stage 2's grid may differ from stage 1's: 4 x 4 here.
        keep = torch.ones(4, 4, dtype=torch.bool)
        keep[:, 2:] = False
        sample.set_field(keep, 'pred_token_mask')
    return sample


def test_sample_panels_at_known_positions():
    vis = PartMapVisualizer(name='test_sample', alpha=1.0, min_size=32)
    out = vis.draw_part_sample(grey_image(), make_sample(), K, name='img')
    # 16 px panels enlarged x2 to 32 px, three side by side.
    top = PartMapVisualizer.SAMPLE_CAPTION
    assert out.shape[0] == top + 32 and out.shape[1] >= 3 * 32
    assert tuple(out[top + 5, 5]) == (GREY, ) * 3  # panel 1: the image
    assert tuple(out[top + 5, 32 + 5]) == TAB10[0]  # panel 2: parts
    assert tuple(out[top + 31, 32 + 31]) == (GREY, ) * 3  # background
    assert tuple(out[top + 5, 64 + 5]) == (GREY, ) * 3  # kept token
    assert tuple(out[top + 5, 64 + 20]) == (25, ) * 3  # dropped token
    assert out[:top].any()  # the caption is drawn


def test_sample_without_token_mask_has_two_panels():
    # A stage-1-only model (PDiscoFormer alone) predicts no token mask.
    vis = PartMapVisualizer(name='test_sample_two', min_size=32)
    out = vis.draw_part_sample(
        grey_image(), make_sample(token_mask=False), K)
    top = PartMapVisualizer.SAMPLE_CAPTION
    assert tuple(out[top + 5, 32 + 5]) != (GREY, ) * 3  # parts
    # The right of panel 2 is the black margin under a wider caption.
    assert not out[top:, 64:].any()


def test_builds_from_the_registry():
    vis = VISUALIZERS.build(
        dict(type='PartMapVisualizer', name='test_registry', alpha=0.3))
    assert isinstance(vis, PartMapVisualizer) and vis.alpha == 0.3


def test_bad_inputs(visualizer):
    with pytest.raises(ValueError, match=r'K=4 parts allow only 0\.\.4'):
        visualizer.draw_part_overlay(grey_image(), torch.tensor([[5]]), K)
    with pytest.raises(ValueError, match='must be \\[h, w\\]'):
        visualizer.draw_part_overlay(grey_image(), torch.zeros(4), K)
    with pytest.raises(KeyError, match='no pred_part_map'):
        visualizer.draw_part_sample(grey_image(), DataSample(), K)
    with pytest.raises(ValueError, match=r'alpha must lie in \[0, 1\]'):
        PartMapVisualizer(name='test_bad_alpha', alpha=1.5)
    with pytest.raises(ValueError, match=r'dim must lie in \[0, 1\]'):
        PartMapVisualizer(name='test_bad_dim', dim=-0.1)
    with pytest.raises(ValueError, match='min_size must be >= 1'):
        PartMapVisualizer(name='test_bad_min_size', min_size=0)
