# Copyright (c) ifam_mm contributors. All rights reserved.
"""Helpers that are no registered component."""
from .safe_loading import runner_checkpoint_globals, runner_checkpoint_loading

__all__ = ['runner_checkpoint_globals', 'runner_checkpoint_loading']
