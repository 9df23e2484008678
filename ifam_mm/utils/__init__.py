# Copyright (c) ifam_mm contributors. All rights reserved.
"""Helpers of the tools that are no registered component (benchmarking)."""
