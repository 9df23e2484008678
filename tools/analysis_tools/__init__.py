# Copyright (c) ifam_mm contributors. All rights reserved.
"""Helpers of tools/benchmark.py; they read the configs beside tools/."""
