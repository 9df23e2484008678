# Copyright (c) ifam_mm contributors. All rights reserved.
import json

import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.evaluation import IN9Accuracy
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

DEFAULT_ARGS = dict(type='IN9Accuracy')
# A made-up mapping in the in_to_in9.json format (string keys "0".."999"):
# ImageNet 151-268 -> IN-9 class 0, 7-24 -> 2, every other class -> -1.
IN_TO_IN9 = {str(i): -1 for i in range(1000)}
IN_TO_IN9.update({str(i): 0 for i in range(151, 269)})
IN_TO_IN9.update({str(i): 2 for i in range(7, 25)})

# (ImageNet top-1, IN-9 label, variant)
CASES = [
    (151, 0, 'original'), (10, 2, 'original'),  # both right
    (200, 0, 'mixed_same'), (10, 2, 'mixed_same'),  # both right
    (200, 0, 'mixed_rand'), (0, 2, 'mixed_rand'),  # 0 -> -1: wrong
    (10, 0, 'only_fg'), (500, 2, 'only_fg'),  # 2 for 0; -1
]


def samples(cases=CASES, num_classes=1000, metainfo=False):
    out = []
    for top1, y, variant in cases:
        score = torch.zeros(num_classes)
        score[top1] = 1.
        sample = DataSample().set_gt_label(y).set_pred_score(score)
        sample.set_field(variant, 'variant',
                         field_type='metainfo' if metainfo else 'data')
        out.append(sample.to_dict())
    return out


def evaluate(metric_args=None, data=None):
    metric = METRICS.build(dict(DEFAULT_ARGS, **(metric_args or {})))
    data = samples() if data is None else data
    for i in range(0, len(data), 3):
        metric.process(None, data[i:i + 3])
    return metric.evaluate(len(data))


@pytest.fixture
def mapping_file(tmp_path):
    path = tmp_path / 'in_to_in9.json'
    path.write_text(json.dumps(IN_TO_IN9))
    return str(path)


def test_hand_computed_with_json_mapping(mapping_file):
    assert evaluate(dict(mapping=mapping_file)) == {
        'in9/acc_original': 100.,
        'in9/acc_mixed_same': 100.,
        'in9/acc_mixed_rand': 50.,
        'in9/acc_only_fg': 0.,
        'in9/bg_gap': 50.,
    }


def test_list_dict_and_json_mappings_agree(mapping_file):
    as_list = [IN_TO_IN9[str(i)] for i in range(1000)]
    as_int_dict = {int(k): v for k, v in IN_TO_IN9.items()}
    expected = evaluate(dict(mapping=mapping_file))
    assert evaluate(dict(mapping=as_list)) == expected
    assert evaluate(dict(mapping=as_int_dict)) == expected


def test_nine_class_model_needs_no_mapping():
    cases = [(0, 0, 'mixed_same'), (8, 8, 'mixed_same'), (3, 3, 'mixed_rand'),
             (3, 4, 'mixed_rand')]
    assert evaluate(data=samples(cases, num_classes=9)) == {
        'in9/acc_mixed_same': 100.,
        'in9/acc_mixed_rand': 50.,
        'in9/bg_gap': 50.,
    }


def test_no_bg_gap_without_both_mixed_variants(mapping_file):
    data = samples([c for c in CASES if c[2] != 'mixed_rand'], metainfo=True)
    metrics = evaluate(dict(mapping=mapping_file), data=data)
    assert set(metrics) == {
        'in9/acc_original', 'in9/acc_mixed_same', 'in9/acc_only_fg'
    }


def test_calculate_without_runner():
    table = IN9Accuracy.mapping_table([-1, 0, 1])
    assert IN9Accuracy.calculate([1, 0, 2, 2], [0, 0, 1, 0],
                                 ['a', 'a', 'b', 'b'], table) == {
                                     'acc_a': 50.,
                                     'acc_b': 50.
                                 }


def test_bad_inputs(mapping_file):
    data = samples()
    del data[1]['variant']
    with pytest.raises(KeyError, match=r"'variant'.*PackInputs"):
        evaluate(dict(mapping=mapping_file), data=data)
    with pytest.raises(ValueError, match='IN-9 class 0-8 or to -1'):
        IN9Accuracy(mapping=[0, 9])
    with pytest.raises(ValueError, match='outside the IN-9 mapping'):
        evaluate(dict(mapping=[-1] * 100))


def test_mapping_falls_back_to_dataset_metainfo():
    metric = METRICS.build(dict(type='IN9Accuracy'))
    # ImageNet classes 0-3 -> IN-9 classes 1, 1, 2, -1.
    metric.dataset_meta = dict(in_to_in9=(1, 1, 2, -1))
    data = []
    for pred, gt in ((1, 1), (2, 2), (0, 1), (3, 2)):
        score = torch.zeros(4)
        score[pred] = 1
        sample = DataSample().set_pred_score(score).set_gt_label(gt)
        sample.set_field('original', 'variant')
        data.append(sample.to_dict())
    metric.process(None, data)
    # 1->1 right, 2->2 right, 0->1 right, 3->-1 wrong.
    assert metric.evaluate(4)['in9/acc_original'] == pytest.approx(75.0)
