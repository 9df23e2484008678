# Copyright (c) ifam_mm contributors. All rights reserved.
"""InterventionHook: one metric set per intervention, as separate runs."""
import glob
import json
import os.path as osp

import pytest
import torch
from toy_runner import build_toy_runner, stock_classifier

from mmpretrain.registry import HOOKS

INTERVENTIONS = [
    dict(name='no_part_0', remove_parts=[0]),
    dict(name='stage1', predict_stage='stage1'),
]
KEYS = ('accuracy/top1', 'kept/fraction')


def save_weights(runner, path):
    torch.save({'state_dict': runner.model.state_dict(), 'meta': {}}, path)
    return str(path)


def test_logs_each_intervention_like_a_separate_run(tmp_path):
    hook = dict(type='InterventionHook', interventions=INTERVENTIONS)
    runner = build_toy_runner(tmp_path, 'hooked', custom_hooks=[hook])
    original = dict(runner.model.test_cfg)
    metrics = runner.val()

    assert runner.model.test_cfg == original  # restored
    for name in ('no_part_0', 'stage1'):
        for key in KEYS:
            assert f'intervention/{name}/{key}' in metrics
            # In the message hub, hence in the log and the vis backends.
            scalar = runner.message_hub.get_scalar(
                f'val/intervention/{name}/{key}')
            assert scalar.current() == metrics[f'intervention/{name}/{key}']
    logged = ''.join(
        open(path).read() for path in glob.glob(
            osp.join(runner.log_dir, 'vis_data', '*.json')))
    assert 'intervention/no_part_0/kept/fraction' in logged
    # Removing a part hides tokens from stage 2 (not a vacuous check).
    assert (metrics['intervention/no_part_0/kept/fraction'] <
            metrics['kept/fraction'])

    weights = save_weights(runner, tmp_path / 'weights.pth')
    for name, option in (('no_part_0', {'model.test_cfg.remove_parts': [0]}),
                         ('stage1', {'model.test_cfg.predict_stage':
                                     'stage1'})):
        separate = build_toy_runner(
            tmp_path, f'separate_{name}', cfg_options=option,
            load_from=weights).val()
        for key in KEYS:
            assert metrics[f'intervention/{name}/{key}'] == pytest.approx(
                separate[key])
    plain = build_toy_runner(tmp_path, 'plain', load_from=weights).val()
    for key in KEYS:
        assert metrics[key] == pytest.approx(plain[key])


def test_test_loop_and_applied_intervention(tmp_path):
    hook = dict(
        type='InterventionHook', interventions=INTERVENTIONS,
        apply='no_part_0')
    runner = build_toy_runner(tmp_path, 'applied', custom_hooks=[hook])
    weights = save_weights(runner, tmp_path / 'weights.pth')
    metrics = runner.test()
    assert runner.model.test_cfg['remove_parts'] == []  # restored
    # The applied intervention is the main evaluation, not re-run.
    assert not any(key.startswith('intervention/no_part_0') for key in metrics)
    assert 'intervention/stage1/kept/fraction' in metrics
    removed = build_toy_runner(
        tmp_path, 'removed', load_from=weights,
        cfg_options={'model.test_cfg.remove_parts': [0]}).test()
    assert metrics['kept/fraction'] == pytest.approx(removed['kept/fraction'])
    # 'stage1' is applied on top of the model's own test_cfg, not on top
    # of the applied intervention.
    assert metrics['intervention/stage1/kept/fraction'] > metrics[
        'kept/fraction']
    logs = open(glob.glob(osp.join(runner.log_dir, '*.json'))[0]).read()
    assert json.loads(logs.splitlines()[-1])[
        'intervention/stage1/kept/fraction'] == pytest.approx(
            metrics['intervention/stage1/kept/fraction'])


def test_restores_test_cfg_when_an_intervention_fails(tmp_path):
    hook = dict(
        type='InterventionHook',
        interventions=[dict(name='bad', remove_parts=[9])])
    runner = build_toy_runner(tmp_path, 'failing', custom_hooks=[hook])
    with pytest.raises(ValueError, match=r'remove_parts \[9\] out of range'):
        runner.val()
    assert runner.model.test_cfg['remove_parts'] == []


def test_unknown_test_cfg_key_fails_before_running(tmp_path):
    hook = dict(
        type='InterventionHook',
        interventions=[dict(name='typo', remove_part=[0])])
    runner = build_toy_runner(tmp_path, 'typo', custom_hooks=[hook])
    with pytest.raises(KeyError, match="sets \\['remove_part'\\], which "
                       'IFAMClassifier.test_cfg does not have'):
        runner.val()


def test_model_without_test_cfg_is_refused(tmp_path):
    hook = dict(type='InterventionHook', interventions=INTERVENTIONS)
    head = dict(type='LinearClsHead', num_classes=3, in_channels=64)
    runner = build_toy_runner(
        tmp_path, 'no_test_cfg', custom_hooks=[hook],
        model=stock_classifier(head),
        val_evaluator=dict(type='Accuracy'))
    with pytest.raises(TypeError, match='ImageClassifier has no test_cfg'):
        runner.val()


@pytest.mark.parametrize('kwargs, message', [
    (dict(interventions=[dict(remove_parts=[0])]), 'needs a name'),
    (dict(interventions=[dict(name='a/b', remove_parts=[0])]), 'needs a name'),
    (dict(interventions=[dict(name='a', remove_parts=[0])] * 2),
     "Two interventions are named 'a'"),
    (dict(interventions=[dict(name='a')]), "Intervention 'a' sets nothing"),
    (dict(interventions=[]), 'at least one intervention'),
    (dict(interventions=INTERVENTIONS, apply='no_part_1'),
     "apply='no_part_1' names no intervention"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HOOKS.build(dict(type='InterventionHook', **kwargs))
