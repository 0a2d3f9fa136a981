"""timm models as ``timm/<name>``, when the ``timm`` extra is installed (random init, no download)."""
import math

from edgecv.errors import EdgecvError
from edgecv.models.registry import Entry, PretrainedCfg


def timm_spec_fields(pcfg) -> dict:
    """PretrainedCfg fields of timm's eval transform (``transforms_imagenet_eval``) for a pretrained_cfg:
    ``center`` resizes the shorter side to floor(size / crop_pct) and centre-crops (torchvision's
    round); ``squash`` resizes each side to floor(side / crop_pct) and crops; ``border`` fits the image
    inside floor(size / crop_pct) (sides rounded) and pads with the mean colour (``resize_edge="longer"``)."""
    c, h, w = pcfg.input_size
    crop_pct = pcfg.crop_pct or 0.875
    scale = (math.floor(h / crop_pct), math.floor(w / crop_pct))
    if getattr(pcfg, "crop_mode", "center") == "squash" or scale[0] != scale[1]:
        resize = scale
    else:
        resize = scale[0]
    interp = pcfg.interpolation if pcfg.interpolation in ("bilinear", "bicubic", "nearest") else "bilinear"
    border = {}
    if getattr(pcfg, "crop_mode", "center") == "border":
        border = {"resize": scale if scale[0] != scale[1] else scale[0], "resize_edge": "longer",
                  "pad_fill": tuple(round(255 * v) for v in pcfg.mean)}
    return {"input_size": (h, w), "resize": resize, "interpolation": interp, "mean": tuple(pcfg.mean),
            "std": tuple(pcfg.std), "channel_order": "GRAY" if c == 1 else "RGB", **border}


def timm_arch_of(model) -> str | None:
    """``timm/<architecture>`` for a module timm built (it carries its ``pretrained_cfg``), else None."""
    cfg = getattr(model, "pretrained_cfg", None)
    if not type(model).__module__.startswith("timm.") or not isinstance(cfg, dict):
        return None
    arch = cfg.get("architecture")
    return f"timm/{arch}" if isinstance(arch, str) and arch else None


def timm_instance_fields(model) -> dict:
    """The spec fields of this module's own eval transform: timm's ``resolve_data_config`` on the
    instance, so a ``pretrained_cfg_overlay`` or another pretrained tag is what is deployed."""
    from types import SimpleNamespace

    from timm.data import resolve_data_config

    cfg = SimpleNamespace(**resolve_data_config({}, model=model))
    return {"resize_edge": "shorter", "pad_fill": (), **timm_spec_fields(cfg)}


def timm_entry(name: str) -> Entry:
    try:
        import timm
    except ImportError:
        raise EdgecvError(f"{name} needs timm", "install the extra: pip install 'edgecv[timm]'") from None
    short = name.split("/", 1)[1]
    if short not in timm.list_models():
        import difflib

        close = difflib.get_close_matches(short, timm.list_models(), n=5, cutoff=0.6)
        raise EdgecvError(f"unknown timm model {short!r}",
                          f"did you mean {', '.join('timm/' + c for c in close)}?" if close else None)
    pcfg = timm.models.get_pretrained_cfg(short)
    cfg = PretrainedCfg() if pcfg is None else PretrainedCfg(**timm_spec_fields(pcfg))

    def build(*, num_classes=1000, img_size=None, **kwargs):
        if img_size is not None:
            kwargs["img_size"] = img_size
        return timm.create_model(short, pretrained=False, num_classes=num_classes, **kwargs)

    return Entry(name, build, cfg, ("timm",))
