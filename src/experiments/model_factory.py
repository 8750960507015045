"""The one way a model is built: Hydra's ``instantiate`` on its ``conf/model/*.yaml`` entry.

The models layer knows nothing of Hydra (an import-linter contract), so the experiments
layer, which owns Hydra, builds every model here: the pipeline, the membership-inference
shadow models and the job's up-front validation alike. Hydra wraps a constructor's
``ConfigError`` (an unknown or out-of-range hyper-parameter) in ``InstantiationException``;
it is re-raised as is, so the message names the parameter, not Hydra's frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from privhealth.errors import ConfigError
from privhealth.models.base import ClinicalModel


def instantiate_model(cfg: Mapping[str, Any], **overrides: Any) -> ClinicalModel:
    """Build the model a ``conf/model/*.yaml`` mapping (``_target_`` + hyper-parameters) describes.

    ``overrides`` (e.g. ``logger=``) are passed to the constructor too. Errors are
    ``ConfigError`` naming the target or the parameter at fault.
    """
    target = cfg.get("_target_")
    if not target or not isinstance(target, str):
        raise ConfigError("model config lacks '_target_' (the model class to build)")
    try:
        model = instantiate(cfg, **overrides, _convert_="all")
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, ImportError):
            raise ConfigError(f"model config: cannot import _target_ '{target}'") from None
        raise ConfigError(f"model config: cannot build _target_ '{target}': {cause or e}") from None
    if not isinstance(model, ClinicalModel):
        raise ConfigError(f"model config: _target_ '{target}' is not a ClinicalModel")
    return model
