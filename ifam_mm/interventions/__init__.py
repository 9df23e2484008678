# Copyright (c) ifam_mm contributors. All rights reserved.
"""Test-time interventions: token-threshold calibration and leave-one-out
part removal (the logic of tools/calibrate_thresholds.py and
tools/leave_one_out.py; docs/interventions.md)."""
from .quantiles import PartDistanceQuantiles

__all__ = ['PartDistanceQuantiles']
