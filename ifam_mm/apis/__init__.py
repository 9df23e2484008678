# Copyright (c) ifam_mm contributors. All rights reserved.
from .model_hub import model_index_path, register_ifam_models

__all__ = ['model_index_path', 'register_ifam_models']
