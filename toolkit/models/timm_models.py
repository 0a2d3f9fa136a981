"""timm models as ``timm/<name>``, when the ``timm`` extra is installed (random init, no download)."""
import math

from edgecv.errors import EdgecvError
from edgecv.models.registry import Entry, PretrainedCfg


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
    cfg = PretrainedCfg()
    if pcfg is not None:
        c, h, w = pcfg.input_size
        crop_pct = pcfg.crop_pct or 0.875
        # timm's transforms_imagenet_eval: Resize(floor(size / crop_pct)) then CenterCrop(size)
        scale = (math.floor(h / crop_pct), math.floor(w / crop_pct))
        cfg = PretrainedCfg(input_size=(h, w), resize=scale[0] if scale[0] == scale[1] else scale,
                            interpolation=pcfg.interpolation if pcfg.interpolation in
                            ("bilinear", "bicubic", "nearest") else "bilinear",
                            mean=tuple(pcfg.mean), std=tuple(pcfg.std))

    def build(*, num_classes=1000, img_size=None, **kwargs):
        if img_size is not None:
            kwargs["img_size"] = img_size
        return timm.create_model(short, pretrained=False, num_classes=num_classes, **kwargs)

    return Entry(name, build, cfg, ("timm",))
