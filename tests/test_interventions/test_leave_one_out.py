# Copyright (c) ifam_mm contributors. All rights reserved.
import pytest
from mmengine.config import Config

import ifam_mm  # noqa: F401
from ifam_mm.interventions.config import (require_ifam_model,
                                          set_interventions)
from ifam_mm.interventions.leave_one_out import (RemovalEvaluator,
                                                 check_metric_keys,
                                                 format_table,
                                                 intervention_snippet)

# Worst-group accuracy per set of removed parts (K = 4): removing 2 helps,
# then 0 helps on top of it, then nothing does.
SCORES = {
    (): 50, (0, ): 55, (1, ): 40, (2, ): 60, (3, ): 50,
    (0, 2): 70, (1, 2): 65, (2, 3): 60,
    (0, 1, 2): 70, (0, 2, 3): 69,
}


def scorer(calls):

    def evaluate(parts):
        calls.append(parts)
        return {'group/worst_group_acc': SCORES[tuple(parts)],
                'accuracy/top1': 80}

    return evaluate


def test_greedy_selection_adds_the_best_part_while_it_helps():
    calls = []
    search = RemovalEvaluator(scorer(calls), num_parts=4)
    rows = search.leave_one_out()
    assert [parts for parts, _ in rows] == [(), (0, ), (1, ), (2, ), (3, )]
    chosen, steps = search.greedy_selection('group/worst_group_acc')
    assert chosen == [0, 2]
    # (0, 1, 2) only ties 70: not an improvement.
    assert steps == [dict(remove_parts=[2], metric=60.0),
                     dict(remove_parts=[0, 2], metric=70.0)]
    assert len(calls) == len(set(map(tuple, calls)))  # each set once


def test_greedy_selection_never_removes_every_part():
    search = RemovalEvaluator(
        lambda parts: {'m': len(parts)}, num_parts=3)
    assert search.greedy_selection('m')[0] == [0, 1]


def test_fixed_parts_stay_removed_and_are_never_candidates():
    calls = []
    search = RemovalEvaluator(scorer(calls), num_parts=4, fixed=[2])
    rows = search.leave_one_out()
    assert [parts for parts, _ in rows] == [(), (0, ), (1, ), (3, )]
    assert calls[:2] == [[2], [0, 2]]
    assert search.greedy_selection('group/worst_group_acc')[0] == [0, 2]


def test_a_metric_the_evaluator_lacks_is_a_clear_error():
    metrics = {'accuracy/top1': 50.0}
    check_metric_keys(metrics, ['accuracy/top1'], 'val')
    with pytest.raises(KeyError, match=r"val evaluator gives no "
                       r"\['group/worst_group_acc'\]; it gives "
                       r"\['accuracy/top1'\]"):
        check_metric_keys(metrics, ['group/worst_group_acc'], 'val')


def test_table_and_snippet(tmp_path):
    search = RemovalEvaluator(scorer([]), num_parts=4)
    table = format_table(search.leave_one_out(), 'group/worst_group_acc',
                         'accuracy/top1')
    assert '| 2 | 80.00 | 60.00 | +10.00 |' in table.splitlines()
    base = tmp_path / 'base.py'
    base.write_text("model = dict(type='IFAMClassifier', "
                    "test_cfg=dict(predict_stage='stage2'))\n")
    snippet = intervention_snippet(str(base), [0, 2], '/t/q.json',
                                   'distance', 'chosen on val')
    assert snippet.startswith('# chosen on val\n')
    (tmp_path / 'intervention.py').write_text(snippet)
    cfg = Config.fromfile(str(tmp_path / 'intervention.py'))
    assert cfg.model.type == 'IFAMClassifier'
    assert cfg.model.test_cfg == dict(
        predict_stage='stage2', remove_parts=[0, 2],
        token_thresholds='/t/q.json', token_threshold_mode='distance')
    # The header's --cfg-options give the same test_cfg.
    options = snippet.splitlines()[1].split('--cfg-options ')[1].split()
    assert options == [
        'model.test_cfg.remove_parts=[0,2]',
        "model.test_cfg.token_thresholds='/t/q.json'",
        "model.test_cfg.token_threshold_mode='distance'"
    ]


def test_tool_flags_set_the_test_cfg_of_ifam_models_only():
    cfg = Config(dict(model=dict(type='IFAMClassifier',
                                 test_cfg=dict(predict_stage='stage2'))))
    set_interventions(cfg, remove_parts=[3, 1], token_thresholds='q.json')
    assert cfg.model.test_cfg == dict(
        predict_stage='stage2', remove_parts=[3, 1],
        token_thresholds='q.json')
    stock = Config(dict(model=dict(type='ImageClassifier')))
    set_interventions(stock)  # no flag: nothing to check
    with pytest.raises(ValueError, match=r"needs an IFAMClassifier model; "
                       r"this config builds 'ImageClassifier'. Drop"):
        set_interventions(stock, remove_parts=[0])
    with pytest.raises(ValueError, match=r"tools/leave_one_out.py needs an "
                       r"IFAMClassifier model; .*configs/ifam/"):
        require_ifam_model(stock, 'tools/leave_one_out.py',
                           'Run it on an iFAM config (configs/ifam/).')
