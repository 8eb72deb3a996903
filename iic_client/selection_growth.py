"""How far the plug-ins grow a selection by default: object selections usually stop inside
the object's soft fringe (anti-aliasing, blur, a shadow's edge), and a fill that keeps the
fringe repaints its colour as a rim. The engine's own default is 0: it grows only on request.
"""

from __future__ import annotations

# About 0.15 % of the long side: 2 px on a 1-megapixel image, 9 px on a 24-megapixel photo,
# where lens blur makes fringes wider. Capped so the automatic growth never eats detail.
AUTO_GROW_SHARE = 0.0015
MIN_AUTO_GROW_PX = 2
MAX_AUTO_GROW_PX = 32
# The plug-ins' setting uses this value for "automatic, scaled to the image".
AUTO_GROW = -1


def default_grow_px(width: int, height: int) -> int:
    """The automatic growth, in pixels, for a `width`×`height` layer."""
    scaled = round(max(width, height) * AUTO_GROW_SHARE)
    return max(MIN_AUTO_GROW_PX, min(MAX_AUTO_GROW_PX, scaled))


def resolve_grow_px(setting: int, width: int, height: int) -> int:
    """The growth to send for a plug-in `setting`: `AUTO_GROW` or a number of pixels."""
    return default_grow_px(width, height) if setting == AUTO_GROW else max(0, setting)
