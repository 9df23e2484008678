# Copyright (c) ifam_mm contributors. All rights reserved.
"""Threshold files, their checks, and the mask rules of the interventions."""
import json
import math

import pytest
import torch

from ifam_mm.models.utils.part_mask import (check_remove_parts,
                                            foreground_token_mask,
                                            reference_dot_logits)
from ifam_mm.models.utils.token_thresholds import (load_token_thresholds,
                                                   prototype_fingerprint,
                                                   save_token_thresholds)

K = 3


def save(path, thresholds=(1.0, 2.0, float('nan')), statistic='distance',
         fingerprint='abc'):
    save_token_thresholds(
        str(path), list(thresholds), statistic=statistic, quantile=0.97,
        checkpoint='work/epoch_3.pth', fingerprint=fingerprint)
    return str(path)


def test_round_trip_with_a_part_without_tokens(tmp_path):
    path = save(tmp_path / 'd.json')
    record = json.loads(open(path).read())
    assert record['thresholds'] == [1.0, 2.0, None]
    assert record['num_parts'] == K and record['quantile'] == 0.97
    # null: nothing is removed from that part, whatever the statistic.
    assert load_token_thresholds(path, K, fingerprint='abc').tolist() == [
        1.0, 2.0, math.inf
    ]
    path = save(tmp_path / 'p.json', statistic='dot')
    assert load_token_thresholds(path, K, 'dot')[-1] == -math.inf


def test_fingerprint_follows_the_values_not_the_device_or_dtype():
    prototypes = torch.randn(K + 1, 8)
    fingerprint = prototype_fingerprint(prototypes)
    assert prototype_fingerprint(prototypes.double()) == fingerprint
    assert prototype_fingerprint(prototypes.clone()) == fingerprint
    changed = prototypes.clone()
    changed[0, 0] += 1e-3
    assert prototype_fingerprint(changed) != fingerprint


def test_files_for_another_model_are_clear_errors(tmp_path):
    path = save(tmp_path / 'd.json', fingerprint='a' * 64)
    with pytest.raises(ValueError, match=r"calibrated on checkpoint "
                       r"'work/epoch_3.pth', whose part prototypes differ"):
        load_token_thresholds(path, K, fingerprint='b' * 64)
    with pytest.raises(ValueError, match="token_threshold_mode='distance'"):
        load_token_thresholds(path, K, 'dot', fingerprint='a' * 64)
    record = json.loads(open(path).read())
    del record['prototypes_sha256']
    (tmp_path / 'old.json').write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"lacks \['prototypes_sha256'\]"):
        load_token_thresholds(str(tmp_path / 'old.json'), K)


def test_distance_thresholds_remove_only_tokens_past_them():
    torch.manual_seed(0)
    logits = -torch.rand(2, K + 1, 6, 6) * 10
    assignment = logits.argmax(1)
    distance = -logits.amax(1)
    limit = torch.tensor([5.0, 2.0, math.inf])
    base = foreground_token_mask(logits).bool()
    kept = foreground_token_mask(logits, max_distance=limit).bool()
    past = (assignment < K) & (distance > limit[assignment.clamp(max=K - 1)])
    assert past.any()
    assert torch.equal(base & ~kept, past)
    assert not (kept & ~base).any()


def test_reference_dot_thresholds_move_only_tokens_below_them():
    torch.manual_seed(0)
    dots = torch.randn(2, K + 1, 6, 6)
    min_dot = torch.tensor([0.5, 0.0, -math.inf])
    logits = reference_dot_logits(dots, min_dot)
    before = dots.argmax(1)
    after = logits.argmax(1)
    # Assignments come from the dot products themselves (not -distance)...
    assert torch.equal(reference_dot_logits(dots, torch.full(
        (K, ), -math.inf)), dots)
    # ...and only a token below its part's threshold changes part, possibly
    # to another foreground part rather than to the background.
    below = (before < K) & (dots.gather(1, before[:, None])[:, 0] <
                            min_dot[before.clamp(max=K - 1)])
    assert below.any()
    assert torch.equal(before != after, below)
    assert ((after < K) & below).any()


def test_removing_every_part_or_a_missing_one_is_an_error():
    check_remove_parts([0, 2], K)
    with pytest.raises(ValueError, match='removes every foreground part'):
        check_remove_parts([2, 1, 0, 1], K)
    with pytest.raises(ValueError, match=r'\[3\] out of range'):
        check_remove_parts([3], K)
    with pytest.raises(TypeError, match=r'list of part indices, e.g. \[3\]'):
        check_remove_parts(2, K)
