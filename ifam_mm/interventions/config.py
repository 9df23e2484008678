# Copyright (c) ifam_mm contributors. All rights reserved.
"""The interventions' command-line flags, written into a config."""
from typing import Optional, Sequence

from mmengine.config import Config

from mmpretrain.registry import MODELS
from ..models.classifiers.ifam_classifier import IFAMClassifier


def require_ifam_model(cfg: Config, what: str, fix: str) -> None:
    """Raise unless the config builds an ``IFAMClassifier``; ``what`` (the
    tool or flags that need one) and ``fix`` go into the message."""
    model_type = cfg.model.get('type')
    model_class = (
        MODELS.get(model_type) if isinstance(model_type, str) else model_type)
    if not (isinstance(model_class, type)
            and issubclass(model_class, IFAMClassifier)):
        raise ValueError(f'{what} needs an IFAMClassifier model; this '
                         f'config builds {model_type!r}. {fix}')


def set_interventions(cfg: Config,
                      remove_parts: Optional[Sequence[int]] = None,
                      token_thresholds: Optional[str] = None) -> None:
    """Set ``model.test_cfg.remove_parts`` / ``token_thresholds`` from the
    tools' ``--remove-parts`` / ``--token-thresholds`` (None: leave as is).

    Raises:
        ValueError: If the config's model is not an ``IFAMClassifier``,
            which alone reads these keys.
    """
    if remove_parts is None and token_thresholds is None:
        return
    require_ifam_model(
        cfg, '--remove-parts / --token-thresholds',
        'Drop these flags: only iFAM models have parts to remove.')
    test_cfg = cfg.model.get('test_cfg') or {}
    if remove_parts is not None:
        test_cfg['remove_parts'] = list(remove_parts)
    if token_thresholds is not None:
        test_cfg['token_thresholds'] = token_thresholds
    cfg.model['test_cfg'] = test_cfg
