"""The model zoo (build side, needs torch): ``create_model(name, num_classes=...)``, ``list_models()``.

One file per family; importing this package registers every family.  torchvision classifiers are
registered on first use of the registry, timm models are looked up on demand as ``timm/<name>``.
"""
from edgecv.models.registry import (PretrainedCfg, create_model, default_spec, get_entry,  # noqa: F401
                                    list_models, register_model)
from edgecv.models import simple_cnn, fusion_cnn, bilinear, odconv, msff  # noqa: F401,E402
from edgecv.models.odconv import ODConv2d  # noqa: F401,E402
from edgecv.models.msff import MultiScaleFeatureFusion  # noqa: F401,E402

__all__ = ["create_model", "list_models", "default_spec", "register_model", "ODConv2d",
           "MultiScaleFeatureFusion", "PretrainedCfg", "get_entry"]
