# Copyright (c) ifam_mm contributors. All rights reserved.
"""PhaseClock: where the time of tools/demo.py goes."""
import time

from ifam_mm.demo_timing import UNACCOUNTED, PhaseClock


def test_runs_of_a_phase_add_up_and_the_rest_is_its_own_row():
    clock = PhaseClock(started=100.0)
    clock.phases = [('training `erm`', 10.0), ('tests', 2.0),
                    ('training `erm`', 12.0)]

    assert clock.rows(total=40.0) == [('training `erm`', 2, 22.0),
                                      ('tests', 1, 2.0),
                                      (UNACCOUNTED, 1, 16.0)]
    assert clock.to_dict(total=40.0) == dict(
        total_seconds=40.0,
        phases=[
            dict(phase='training `erm`', seconds=10.0),
            dict(phase='tests', seconds=2.0),
            dict(phase='training `erm`', seconds=12.0),
        ])


def test_phase_times_its_block_even_when_it_fails():
    clock = PhaseClock()
    try:
        with clock.phase('pretraining'):
            time.sleep(0.05)
            raise RuntimeError('stop')
    except RuntimeError:
        pass
    ((name, seconds), ) = clock.phases
    assert name == 'pretraining' and 0.05 <= seconds < 1.0
    assert clock.total() >= seconds


def test_the_clock_counts_from_the_launch():
    clock = PhaseClock(started=time.time() - 30.0)
    assert 30.0 <= clock.total() < 31.0
    ((name, runs, seconds), ) = clock.rows()
    assert (name, runs) == (UNACCOUNTED, 1) and seconds >= 30.0
