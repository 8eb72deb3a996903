"""Reading the source layer and selection from a Krita document, and adding the result.

The only module that touches libkis nodes and QByteArrays. The user's own layers are only
ever read: results go into new layers, avoid/use regions into the plug-in's own group.
"""

from __future__ import annotations

from dataclasses import dataclass

from krita import Document, Krita, Node, Selection
from PyQt5.QtCore import QByteArray

from .pixel_formats import PixelFormat, pixel_format

RESULT_LAYER_NAME = "Object removed"
CONFIDENCE_LAYER_NAME = "Object removed: confidence"
REGIONS_GROUP_NAME = "Remove object regions"
REGION_MASK_NAMES = {"avoid": "avoid region", "use": "use region"}
# The daemon crops to the hole itself; the plug-in only has to send enough surroundings to
# borrow texture from: the selection's larger side on every side, at least this many pixels.
MIN_CONTEXT_PX = 64


class PluginRefusal(Exception):
    """The removal cannot start; the message tells the user what to do. Nothing was changed."""


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class SourceCrop:
    """Everything read from the document for one removal, cropped to `rect` (image coords)."""

    node_id: str  # the source layer's uniqueId, to find it again when the result arrives
    rect: Rect
    fmt: PixelFormat
    pixels: bytes  # width × height pixels in Krita's channel order
    selection: bytes  # width × height bytes, 0..255
    avoid: bytes | None
    use: bytes | None


def read_source(doc: Document, node: Node | None) -> SourceCrop:
    """The active paint layer and the global selection around it, or PluginRefusal."""
    if node is None or node.type() != "paintlayer":
        raise PluginRefusal("Select the paint layer that holds the object, then Remove object.")
    fmt = pixel_format(node.colorModel(), node.colorDepth())
    selection = doc.selection()
    bounds = _selection_bounds(doc, selection)
    rect = _with_context(bounds, doc.width(), doc.height())
    return SourceCrop(
        node_id=node_id(node),
        rect=rect,
        fmt=fmt,
        pixels=bytes(node.pixelData(rect.x, rect.y, rect.width, rect.height)),
        selection=_selection_bytes(selection, rect),
        avoid=_region_bytes(doc, "avoid", rect),
        use=_region_bytes(doc, "use", rect),
    )


def _selection_bounds(doc: Document, selection: Selection | None) -> Rect:
    if selection is None or selection.width() == 0 or selection.height() == 0:
        raise PluginRefusal("Nothing is selected: select the object to remove, then Remove object.")
    x0, y0 = max(selection.x(), 0), max(selection.y(), 0)
    x1 = min(selection.x() + selection.width(), doc.width())
    y1 = min(selection.y() + selection.height(), doc.height())
    if x1 <= x0 or y1 <= y0:
        raise PluginRefusal("The selection lies outside the canvas: select the object to remove.")
    return Rect(x0, y0, x1 - x0, y1 - y0)


def _with_context(bounds: Rect, doc_width: int, doc_height: int) -> Rect:
    margin = max(MIN_CONTEXT_PX, bounds.width, bounds.height)
    x0, y0 = max(bounds.x - margin, 0), max(bounds.y - margin, 0)
    x1 = min(bounds.x + bounds.width + margin, doc_width)
    y1 = min(bounds.y + bounds.height + margin, doc_height)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def _selection_bytes(selection: Selection, rect: Rect) -> bytes:
    return bytes(selection.pixelData(rect.x, rect.y, rect.width, rect.height))


def document_is_open(doc: Document) -> bool:
    """False once the user closed `doc` (its wrapper outlives the image)."""
    return any(open_doc == doc for open_doc in Krita.instance().documents())


def node_id(node: Node) -> str:
    return node.uniqueId().toString()


def find_node(doc: Document, wanted_id: str) -> Node | None:
    """The node with this `node_id` again, or None when it has been deleted meanwhile."""
    for node in _all_nodes(doc.rootNode()):
        if node_id(node) == wanted_id:
            return node
    return None


def _all_nodes(parent: Node) -> list[Node]:
    nodes = []
    for child in parent.childNodes():
        nodes.append(child)
        nodes.extend(_all_nodes(child))
    return nodes


def add_result_layer(
    doc: Document, source: Node, crop: SourceCrop, pixels: bytes, name: str, visible: bool = True
) -> Node:
    """A new paint layer directly above `source` holding `pixels` (Krita order) at crop.rect.

    The pixels are written before the layer enters the image, so adding it is the only
    change the user's undo history sees."""
    layer = doc.createNode(name, "paintlayer")
    if (layer.colorModel(), layer.colorDepth()) != (crop.fmt.color_model, crop.fmt.color_depth):
        layer.setColorSpace(crop.fmt.color_model, crop.fmt.color_depth, source.colorProfile())
    rect = crop.rect
    layer.setPixelData(QByteArray(pixels), rect.x, rect.y, rect.width, rect.height)
    layer.setVisible(visible)
    source.parentNode().addChildNode(layer, source)
    doc.refreshProjection()
    return layer


def _regions_group(doc: Document) -> Node | None:
    for node in doc.topLevelNodes():
        if node.type() == "grouplayer" and node.name() == REGIONS_GROUP_NAME:
            return node
    return None


def _region_mask(doc: Document, kind: str) -> Node | None:
    group = _regions_group(doc)
    if group is None:
        return None
    for child in group.childNodes():
        if child.type() == "selectionmask" and child.name() == REGION_MASK_NAMES[kind]:
            return child
    return None


def _region_bytes(doc: Document, kind: str, rect: Rect) -> bytes | None:
    mask = _region_mask(doc, kind)
    if mask is None:
        return None
    return _selection_bytes(mask.selection(), rect)


def store_region(doc: Document, kind: str) -> None:
    """Keep the current selection with the document as the avoid or use region.

    Regions live as selection masks in a group of their own, not on the user's layers: a
    local selection on a paint layer would confine the user's brushes to it."""
    selection = doc.selection()
    if selection is None:
        raise PluginRefusal(f"Select the {kind} region first, then press Set from selection.")
    bounds = _selection_bounds(doc, selection)
    clear_region(doc, kind)
    group = _regions_group(doc)
    if group is None:
        group = doc.createGroupLayer(REGIONS_GROUP_NAME)
        doc.rootNode().addChildNode(group, None)
    mask = doc.createSelectionMask(REGION_MASK_NAMES[kind])
    mask.setSelection(_detached_copy(selection, bounds))
    group.addChildNode(mask, None)


def _detached_copy(selection: Selection, bounds: Rect) -> Selection:
    # doc.selection()'s copy still names the image's selection mask as its parent, and a
    # selection mask refuses (SAFE ASSERT in kis_paint_device.cc) to adopt it.
    copy = Selection()
    pixels = selection.pixelData(bounds.x, bounds.y, bounds.width, bounds.height)
    copy.setPixelData(pixels, bounds.x, bounds.y, bounds.width, bounds.height)
    return copy


def clear_region(doc: Document, kind: str) -> None:
    mask = _region_mask(doc, kind)
    if mask is not None:
        mask.remove()
    group = _regions_group(doc)
    if group is not None and not group.childNodes():
        group.remove()


def region_bounds(doc: Document, kind: str) -> Rect | None:
    """Where the stored region lies, or None when it is not set."""
    mask = _region_mask(doc, kind)
    if mask is None:
        return None
    selection = mask.selection()
    return Rect(selection.x(), selection.y(), selection.width(), selection.height())


def show_region(doc: Document, kind: str) -> bool:
    """Make the stored region the current selection, so its outline shows on the canvas."""
    mask = _region_mask(doc, kind)
    if mask is None:
        return False
    doc.setSelection(mask.selection())
    return True
