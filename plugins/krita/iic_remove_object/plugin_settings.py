"""The plug-in's settings, kept in Krita's own configuration (kritarc)."""

from __future__ import annotations

from krita import Krita

from iic_client import AUTO_GROW

from .document_access import ResultPlacement

SETTINGS_GROUP = "iic_remove_object"


def _read(key: str, default: str) -> str:
    return Krita.instance().readSetting(SETTINGS_GROUP, key, default)


def _write(key: str, value: str) -> None:
    Krita.instance().writeSetting(SETTINGS_GROUP, key, value)


def iic_inpaint_path() -> str:
    """Where `iic-inpaint` is, to start the daemon when none runs; "" = do not start it."""
    return _read("iic_inpaint_path", "").strip()


def set_iic_inpaint_path(path: str) -> None:
    _write("iic_inpaint_path", path.strip())


def want_confidence() -> bool:
    return _read("want_confidence", "false") == "true"


def set_want_confidence(enabled: bool) -> None:
    _write("want_confidence", "true" if enabled else "false")


def texture_from_photo() -> bool:
    """On: the fill's grain is borrowed from the photo ("patches"); off: the model's own."""
    return _read("texture_from_photo", "true") == "true"


def set_texture_from_photo(enabled: bool) -> None:
    _write("texture_from_photo", "true" if enabled else "false")


def grow_px() -> int:
    """How far the daemon grows the selection first: pixels, or iic_client.AUTO_GROW."""
    try:
        return int(_read("grow_px", str(AUTO_GROW)))
    except ValueError:
        return AUTO_GROW


def set_grow_px(pixels: int) -> None:
    _write("grow_px", str(pixels))


def result_placement() -> ResultPlacement:
    """Where the fill goes: a new layer (the default), or merged into the source."""
    try:
        return ResultPlacement(_read("result_placement", ResultPlacement.NEW_LAYER.value))
    except ValueError:
        return ResultPlacement.NEW_LAYER


def set_result_placement(placement: ResultPlacement) -> None:
    _write("result_placement", placement.value)
