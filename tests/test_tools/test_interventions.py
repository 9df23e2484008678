# Copyright (c) ifam_mm contributors. All rights reserved.
"""calibrate_thresholds.py, leave_one_out.py and test.py's intervention
flags, run as a user runs them on a tiny iFAM and a tiny SpuriousShapes."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import ifam_mm  # noqa: F401
from ifam_mm.models.utils.token_thresholds import prototype_fingerprint
from mmpretrain.registry import DATASETS, MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(REPO_ROOT, 'configs', 'spurious_shapes',
                'ifam-k4_vit-tiny-p8_1xb32_spurious-shapes.py')
SMALL = dict(train=40, val=32, test=4, test_heldout_bg=4, only_fg=4,
             only_bg=4, mixed_same=4, mixed_rand=4)


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # The tools run in subprocesses that inherit the environment; tiny
    # tensors gain nothing from threads on a shared 2-core machine.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('OMP_NUM_THREADS', '1')
        yield


@pytest.fixture(scope='module')
def tiny_ifam(tmp_path_factory):
    """A K = 2 config on 40 training and 32 validation images, and an
    untrained checkpoint whose predictions depend on the tokens it sees."""
    root = tmp_path_factory.mktemp('interventions')
    loader = dict(batch_size=16,
                  dataset=dict(data_root=str(root / 'data'),
                               num_samples=SMALL))
    config = root / 'tiny.py'
    config.write_text(
        f'_base_ = [{BASE!r}]\n'
        f'train_dataloader = {loader!r}\n'
        f'val_dataloader = {loader!r}\n'
        f'test_dataloader = {loader!r}\n'
        'model = dict(part_head=dict(num_parts=2))\n')
    cfg = Config.fromfile(str(config))
    DATASETS.build(cfg.val_dataloader.dataset)  # generates every split
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # timm's LayerScale 1e-5 and the head's 0.02 init would make every
    # prediction the same whatever the mask.
    for name, param in model.named_parameters():
        if name.endswith('gamma'):
            param.data.fill_(1.0)
    torch.nn.init.normal_(model.head.fc.weight)
    checkpoint = str(root / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    return dict(root=root, config=str(config), checkpoint=checkpoint,
                fingerprint=prototype_fingerprint(model.part_head.prototypes))


@pytest.fixture(scope='module')
def thresholds(tiny_ifam, run_tool):
    out_dir = tiny_ifam['root'] / 'thresholds'
    run_tool('calibrate_thresholds.py', [
        tiny_ifam['config'], tiny_ifam['checkpoint'], '--quantiles', '0.5',
        '0.9', '--out-dir',
        str(out_dir), '--work-dir',
        str(tiny_ifam['root'] / 'work')
    ], tiny_ifam['root'])
    return [str(out_dir / f'thresholds_distance_q{q}.json')
            for q in (0.5, 0.9)]


def test_calibration_writes_one_checked_file_per_quantile(
        tiny_ifam, thresholds):
    median, upper = (json.loads(open(path).read()) for path in thresholds)
    for record, q in ((median, 0.5), (upper, 0.9)):
        assert record['quantile'] == q and record['num_parts'] == 2
        assert record['statistic'] == 'distance'
        assert record['checkpoint'] == tiny_ifam['checkpoint']
        assert record['prototypes_sha256'] == tiny_ifam['fingerprint']
        # The training split, every image once.
        assert record['split'] == 'train' and record['num_images'] == 40
        assert 0 < sum(record['tokens_per_part']) <= 40 * 64
    pairs = zip(median['thresholds'], upper['thresholds'])
    assert all(m < u for m, u in pairs)


def read_metrics(path):
    with open(path) as f:
        return json.load(f)


def test_leave_one_out_reproduces_separate_test_runs(
        tiny_ifam, thresholds, run_tool):
    root, config = tiny_ifam['root'], tiny_ifam['config']
    checkpoint, q90 = tiny_ifam['checkpoint'], thresholds[1]
    out_dir = root / 'loo'
    out = run_tool('leave_one_out.py', [
        config, checkpoint, '--token-thresholds', q90, '--select',
        '--out-dir',
        str(out_dir), '--work-dir',
        str(root / 'work')
    ], root)
    assert '| removed part | accuracy/top1 | group/worst_group_acc |' in out
    record = read_metrics(out_dir / 'leave_one_out.json')
    assert record['split'] == 'val' and record['token_thresholds'] == q90
    rows = {tuple(r['remove_parts']): r['metrics'] for r in record['rows']}
    assert list(rows) == [(), (0, ), (1, )]
    # Not a degenerate model: removals change the numbers.
    assert rows[(0, )] != rows[()] or rows[(1, )] != rows[()]
    assert (out_dir / 'leave_one_out.png').stat().st_size > 0
    assert (out_dir / 'leave_one_out.md').read_text().count('\n') == 5

    # With K = 2 the search stops after one removal (one part must stay);
    # it picks the best single removal if it beats removing nothing.
    key = 'group/worst_group_acc'
    best = max((0, 1), key=lambda p: (rows[(p, )][key], -p))
    expected = [best] if rows[(best, )][key] > rows[()][key] else []
    assert record['selection']['remove_parts'] == expected
    assert expected, 'the fixture should give a part worth removing'
    snippet = str(out_dir / 'intervention.py')
    assert Config.fromfile(snippet).model.test_cfg.remove_parts == expected

    # tools/test.py on the same (val) split: the selected part through the
    # written config, the other one through the flags.
    val = ['--cfg-options', 'test_dataloader.dataset.split=val']
    for part in (0, 1):
        metrics_file = str(root / f'test_{part}.json')
        args = [snippet, checkpoint] if part == best else [
            config, checkpoint, '--remove-parts',
            str(part), '--token-thresholds', q90
        ]
        run_tool('test.py', args + [
            '--work-dir',
            str(root / 'work'), '--out', metrics_file, '--out-item',
            'metrics'
        ] + val, root)
        assert read_metrics(metrics_file) == rows[(part, )]
