# Copyright (c) ifam_mm contributors. All rights reserved.
from .optim_wrappers import *  # noqa: F401,F403
