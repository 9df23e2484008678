# Copyright (c) ifam_mm contributors. All rights reserved.
from .paper import *  # noqa: F401,F403
from .spurious_shapes import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
