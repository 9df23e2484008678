# Copyright (c) ifam_mm contributors. All rights reserved.
"""The results records and report helpers of tools/demo.py."""
import os.path as osp

import pytest

from ifam_mm.demo import (check_bars, coin_flip_wga, record_from_metrics,
                          summarise, write_report)
from ifam_mm.demo_timing import PhaseClock

IFAM_METRICS = {
    'accuracy/top1': 80.0,
    'group/average_acc': 80.0,
    'group/worst_group_acc': 55.0,
    'group/acc_group_0': 95.0,
    'group/acc_group_1': 55.0,
    'fg_iou/token_pooled': 40.0,
    'fg_iou/token_mean': 45.0,
    'mask_leak/kept_frac_0': 0.25,
    'mask_leak/kept_frac_1': 0.5,
    'mask_leak/kept_frac_land': 0.25,  # name aliases are not averaged
    'mask_leak/empty_rate_0': 0.0,
    'mask_leak/kept_ratio': 2.0,
    'mask_leak/cue_kept': 0.125,
}


def test_record_of_a_masked_model():
    record = record_from_metrics('ifam', 3, IFAM_METRICS, 12.345)
    assert record == dict(
        model='ifam',
        seed=3,
        aa=0.8,
        wga=0.55,
        fg_iou=0.4,
        kept_fraction=0.375,
        cue_kept=0.125,
        group_acc={'group_0': 0.95, 'group_1': 0.55},
        train_seconds=12.3)


def test_record_of_a_model_without_mask():
    metrics = {
        'group/average_acc': 90.0,
        'group/worst_group_acc': 10.0,
        'group/acc_group_0': 10.0,
    }
    record = record_from_metrics('erm', 0, metrics, 1.0)
    assert record['fg_iou'] is None
    assert record['kept_fraction'] is None
    assert record['cue_kept'] is None
    assert record['wga'] == pytest.approx(0.1)
    assert record['group_acc'] == {'group_0': pytest.approx(0.1)}


def test_coin_flip_wga():
    assert coin_flip_wga([200] * 4) == pytest.approx(0.464, abs=0.005)
    assert coin_flip_wga([1]) == pytest.approx(0.5, abs=0.01)
    # More and smaller groups: a worse expected minimum.
    assert coin_flip_wga([10] * 4) < coin_flip_wga([200] * 4)


def record(model, seed, wga, **fields):
    return dict(dict(model=model, seed=seed, wga=wga, aa=wga + 0.1,
                     fg_iou=None, kept_fraction=None, cue_kept=None,
                     group_acc={'group_0': wga, 'group_1': 1.0},
                     train_seconds=10.0 + seed), **fields)


def test_summarise_means_and_stds_over_seeds():
    records = [
        record('ifam', 0, 0.6, fg_iou=0.5),
        record('ifam', 1, 0.8, fg_iou=0.7),
        record('erm', 0, 0.1),
        record('erm', 1, 0.3),
        record('mystery', 0, 1.0),  # not a demo model: left out
    ]
    summary = summarise(records)
    assert list(summary) == ['erm', 'ifam']  # the report's order
    assert summary['erm']['seeds'] == 2
    assert summary['erm']['wga'] == pytest.approx((0.2, 0.1))
    assert summary['erm']['train_seconds'] == pytest.approx((10.5, 0.5))
    assert 'fg_iou' not in summary['erm']  # None everywhere
    assert summary['ifam']['fg_iou'] == pytest.approx((0.6, 0.1))
    assert summary['ifam']['aa'] == pytest.approx((0.8, 0.1))


def bars(**wga):
    return check_bars({m: dict(seeds=1, wga=(v, 0.)) for m, v in wga.items()})


def verdicts(lines):
    return [line.rsplit(': ', 1)[1] for line in lines]


def test_bars_pass():
    lines = bars(erm=0.1, oracle_mask=0.9, pdiscoformer=0.5, ifam_no_st=0.7)
    assert verdicts(lines) == ['PASS', 'PASS']
    assert 'The benchmark can show the mechanism' in lines[0]
    assert '(ifam_no_st)' in lines[1] and 'closes 75% of' in lines[1]
    # The bars are inclusive.
    assert verdicts(bars(erm=0.2, oracle_mask=0.7)) == ['PASS']
    assert verdicts(bars(erm=0.125, oracle_mask=0.875, ifam=0.6)) == [
        'PASS', 'PASS'
    ]
    # Closes exactly half the gap (binary-exact values); ERM fails its bar.
    assert verdicts(bars(erm=0.5, oracle_mask=1.0, ifam=0.75)) == [
        'FAIL', 'PASS'
    ]


def test_benchmark_bar_fails():
    assert verdicts(bars(erm=0.25, oracle_mask=0.9)) == ['FAIL']
    assert verdicts(bars(erm=0.1, oracle_mask=0.65)) == ['FAIL']
    assert bars(erm=0.1) == []  # no oracle: no bar


@pytest.mark.parametrize(
    'wga',
    [
        dict(erm=0.1, oracle_mask=0.9, ifam=0.55),  # closes 56%, below 0.60
        dict(erm=0.3, oracle_mask=1.0, ifam=0.62),  # closes 46% of the gap
        dict(erm=0.1, oracle_mask=0.9, ifam=0.7, pdiscoformer=0.75),
        dict(erm=0.1, oracle_mask=0.9, ifam=0.7, pdiscoformer=0.7),
    ])
def test_method_bar_fails(wga):
    assert verdicts(bars(**wga))[1] == 'FAIL'


def test_method_bar_for_each_ifam_variant():
    lines = bars(erm=0.1, oracle_mask=0.9, ifam=0.8, ifam_no_st=0.3,
                 ifam_intervened=0.7, ifam_soft=0.9)
    assert [line.split('(')[1].split(')')[0] for line in lines[1:]] == [
        'ifam_no_st', 'ifam', 'ifam_intervened'
    ]
    assert verdicts(lines) == ['PASS', 'FAIL', 'PASS', 'PASS']


def test_write_report(tmp_path):
    records = [
        record('erm', 0, 0.1),
        record('oracle_mask', 0, 0.9),
        record('ifam', 0, 0.7, fg_iou=0.5, kept_fraction=0.3, cue_kept=0.05),
    ]
    audit = tmp_path / 'visual_audit' / 'test'
    audit.mkdir(parents=True)
    (audit / 'overlay_0.png').write_bytes(b'')
    loo = tmp_path / 'seed0' / 'ifam' / 'loo.png'
    loo.parent.mkdir(parents=True)
    loo.write_bytes(b'')

    clock = PhaseClock(started=0.0)
    clock.phases = [('training `erm`', 30.0), ('training `ifam`', 45.0)]
    path = write_report(str(tmp_path), records,
                        dict(seeds=[0], max_epochs=3), 'background', clock,
                        0.464, loo_chart=str(loo), total=90.0)

    assert path == osp.join(str(tmp_path), 'report.md')
    with open(path) as f:
        text = f.read()
    with open(tmp_path / 'group_accuracy.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert 'Cue: `background`; seeds [0]; 3 epochs per model; total ' \
        '1.5 min.' in text
    assert '| model | seeds | WGA | average acc | coin-flip WGA |' in text
    rows = [line for line in text.splitlines() if line.startswith('| `')]
    assert [row.split('`')[1] for row in rows] == ['erm', 'ifam',
                                                   'oracle_mask']
    assert rows[1].split(' | ')[1:] == [
        '1', '0.700', '0.800', '0.464', '0.500', '0.300', '0.050', '10 |'
    ]
    assert rows[0].split(' | ')[5:8] == ['-', '-', '-']
    assert '): WGA 0.700 (>= 0.6), closes 75% of' in text
    assert text.count(': PASS') == 2
    assert '![](group_accuracy.png)' in text
    assert '![](seed0/ifam/loo.png)' in text
    assert '![](visual_audit/test/overlay_0.png)' in text
    assert text.endswith('## Where the time went\n\n'
                         '| phase | runs | seconds | share |\n'
                         '|---|---|---|---|\n'
                         '| training `erm` | 1 | 30 | 33% |\n'
                         '| training `ifam` | 1 | 45 | 50% |\n'
                         '| imports, worker start, report | 1 | 15 | 17% |\n'
                         '| total | | 90 | 100% |\n')

    # report.html: the same table, bars and images, linked relatively.
    with open(tmp_path / 'report.html') as f:
        page = f.read()
    assert '<td>ifam: iFAM, straight-through mask gradient (paper)</td>' \
        '<td>1</td><td>0.700</td><td>0.800</td><td>0.464</td>' in page
    assert page.count(': PASS</li>') == 2
    assert 'Cue: `background`; seeds [0]; 3 epochs' in page
    assert ('Where the 1.5 min went: training `erm` 30 s (33%); training '
            '`ifam` 45 s (50%); imports, worker start, report 15 s (17%).'
            in page)
    for image in ('group_accuracy.png', 'seed0/ifam/loo.png',
                  'visual_audit/test/overlay_0.png'):
        assert f'src="{image}"' in page
    assert str(tmp_path) not in page


def test_write_report_links_the_audit_page(tmp_path):
    """With visualize_parts --html's page, the reports show the gallery
    strips and link the page (which links every overlay), not each
    overlay."""
    records = [record('erm', 0, 0.1), record('oracle_mask', 0, 0.9)]
    audit = tmp_path / 'visual_audit'
    audit.mkdir()
    for name in ('gallery_part_0_0.png', 'parts_3_x_0.png', 'index.html'):
        (audit / name).write_bytes(b'')

    path = write_report(str(tmp_path), records,
                        dict(seeds=[0], max_epochs=3), 'background',
                        PhaseClock(), 0.464)

    with open(path) as f:
        text = f.read()
    with open(tmp_path / 'report.html') as f:
        page = f.read()
    assert '![](visual_audit/gallery_part_0_0.png)' in text
    assert 'parts_3_x_0.png' not in text + page
    assert '](visual_audit/index.html)' in text
    assert 'src="visual_audit/gallery_part_0_0.png"' in page
    assert 'href="visual_audit/index.html"' in page
