# Copyright (c) ifam_mm contributors. All rights reserved.
"""PartVisualizationHook writes overlays and galleries in a tiny val run."""
import glob
import os.path as osp

import mmcv
import pytest
from toy_runner import build_toy_runner, stock_classifier

from ifam_mm.visualization import PartMapVisualizer
from mmpretrain.registry import HOOKS

K = 4  # the toy model's parts


def written(folder):
    return sorted(osp.basename(path)
                  for path in glob.glob(osp.join(folder, '*.png')))


def test_writes_overlays_and_galleries_through_the_vis_backends(tmp_path):
    # 6 val images in batches of 4 (the last one short): images 0, 2, 4.
    hook = dict(type='PartVisualizationHook', interval=2, gallery_size=2)
    runner = build_toy_runner(tmp_path, 'vis', custom_hooks=[hook])
    # The default runtime's plain UniversalVisualizer stores the images.
    assert type(runner.visualizer).__name__ == 'UniversalVisualizer'
    runner.val()

    folder = osp.join(runner.log_dir, 'vis_data', 'vis_image')
    files = written(folder)
    overlays = [f for f in files if f.startswith('parts_')]
    assert [f.split('_')[1] for f in overlays] == ['0', '2', '4']
    assert [f for f in files if f.startswith('gallery_')] == [
        f'gallery_part_{k}_0.png' for k in range(K)
    ]

    # The first panel is the image the model read, in RGB: the dataset's
    # 56 px file, enlarged x4 (min_size 224) below the caption.
    dataset = runner.val_loop.dataloader.dataset
    image = mmcv.imread(
        dataset.get_data_info(0)['img_path'], channel_order='rgb')
    drawn = mmcv.imread(osp.join(folder, overlays[0]), channel_order='rgb')
    top = PartMapVisualizer.SAMPLE_CAPTION
    assert drawn.shape[0] == top + 224
    assert (drawn[top::4, :224:4][:56, :56] == image).all()


def test_out_dir_and_a_part_map_visualizer(tmp_path):
    out_dir = str(tmp_path / 'pngs')
    hook = dict(
        type='PartVisualizationHook', interval=4, gallery_size=1,
        out_dir=out_dir)
    runner = build_toy_runner(
        tmp_path,
        'vis_out_dir',
        custom_hooks=[hook],
        visualizer=dict(type='PartMapVisualizer', min_size=56))
    runner.test()
    # The runner's PartMapVisualizer draws (its min_size: no enlarging).
    assert runner.visualizer.min_size == 56
    files = written(out_dir)
    assert len(files) == 2 + K  # images 0 and 4, one gallery per part
    drawn = mmcv.imread(osp.join(out_dir, files[-1]))
    assert drawn.shape[0] == PartMapVisualizer.SAMPLE_CAPTION + 56
    assert not glob.glob(osp.join(runner.log_dir, 'vis_data', 'vis_image'))


def test_draw_cfg_with_a_part_map_visualizer_is_refused(tmp_path):
    hook = dict(type='PartVisualizationHook', draw_cfg=dict(alpha=1.0))
    runner = build_toy_runner(
        tmp_path,
        'vis_conflict',
        custom_hooks=[hook],
        visualizer=dict(type='PartMapVisualizer'))
    with pytest.raises(ValueError, match='draw_cfg configures'):
        runner.val()


def test_stock_classifier_with_a_part_head(tmp_path):
    # mmpretrain's ImageClassifier + PDiscoFormerHead: part maps, no token
    # mask, so overlays have two panels.
    head = dict(
        type='PDiscoFormerHead', num_classes=3, in_channels=64, num_parts=3)
    hook = dict(
        type='PartVisualizationHook', interval=6, gallery_size=1,
        out_dir=str(tmp_path / 'pngs'))
    runner = build_toy_runner(
        tmp_path, 'vis_stock', custom_hooks=[hook],
        model=stock_classifier(head),
        val_evaluator=dict(type='Accuracy'))
    runner.val()
    files = written(str(tmp_path / 'pngs'))
    assert len(files) == 1 + 3  # image 0, then one gallery per part
    drawn = mmcv.imread(str(tmp_path / 'pngs' / files[-1]))
    assert drawn.shape == (PartMapVisualizer.SAMPLE_CAPTION + 224, 2 * 224,
                           3)


def test_model_without_parts_is_refused(tmp_path):
    hook = dict(type='PartVisualizationHook')
    head = dict(type='LinearClsHead', num_classes=3, in_channels=64)
    runner = build_toy_runner(
        tmp_path, 'vis_no_parts', custom_hooks=[hook],
        model=stock_classifier(head),
        val_evaluator=dict(type='Accuracy'))
    with pytest.raises(TypeError, match='ImageClassifier predicts no part'):
        runner.val()


@pytest.mark.parametrize('kwargs, message', [
    (dict(interval=0), 'interval must be >= 1'),
    (dict(gallery_size=-1), 'gallery_size must be >= 0'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HOOKS.build(dict(type='PartVisualizationHook', **kwargs))
