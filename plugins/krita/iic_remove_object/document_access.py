"""Reading the source layer and selection from a Krita document, and adding the result.

The only module that touches libkis nodes and QByteArrays. The user's own layers are only
ever read: results go into new layers, avoid/use regions into the plug-in's own group. The
one exception is healing in place, which the user asks for: Krita's own merge down, an
undo step of its own, puts the new layer into theirs.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from krita import Document, Krita, Node, Selection
from PyQt5.QtCore import QByteArray

from .pixel_formats import PixelFormat, pixel_format

RESULT_LAYER_NAME = "Object removed"
# The legend is in the name: the layer is a grey picture nobody would read without it.
CONFIDENCE_LEGEND = "(white = sure)"
REGIONS_GROUP_NAME = "Remove object regions"
REGION_MASK_NAMES = {"avoid": "avoid region", "use": "use region"}
# "Object removed", "Object removed 2", ...; "Confidence 2 (white = sure)" goes with the second.
_RESULT_NUMBER = re.compile(re.escape(RESULT_LAYER_NAME) + r"(?: (\d+))?$")
_CONFIDENCE_NAME = re.compile(r"Confidence(?: \d+)? " + re.escape(CONFIDENCE_LEGEND) + "$")
# The daemon crops to the hole itself; the plug-in only has to send enough surroundings to
# borrow texture from: the selection's larger side on every side, at least this many pixels.
MIN_CONTEXT_PX = 64
# Krita's grow and the engine's round disc may differ by a pixel at the disc's rim. The layer
# shows the fill over the grown hole plus this: outside the engine's hole the daemon returns
# the source's own pixels, so the extra ring is invisible.
GROWN_HOLE_MARGIN_PX = 1


class ResultPlacement(enum.Enum):
    NEW_LAYER = "new_layer"  # the fill in a layer of its own above the source
    HEAL_IN_PLACE = "heal_in_place"  # that layer merged down into the source


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
    selection: bytes  # width × height bytes, 0..255: the hole as the user selected it
    shown: bytes  # the same, grown as the daemon grows the hole: the new layer's alpha
    avoid: bytes | None
    use: bytes | None


def read_source(doc: Document, node: Node | None, grow_px: int = 0) -> SourceCrop:
    """The active paint layer and the global selection around it, or PluginRefusal.

    `grow_px` is how far the daemon will grow the hole: the crop keeps context beyond it."""
    if node is None or node.type() != "paintlayer":
        raise PluginRefusal("Select the paint layer that holds the object, then Remove object.")
    fmt = pixel_format(node.colorModel(), node.colorDepth())
    selection = doc.selection()
    bounds = _selection_bounds(doc, selection)
    rect = _with_context(bounds, grow_px, doc.width(), doc.height())
    selected = _selection_bytes(selection, rect)
    shown = _grown_bytes(selection, rect, grow_px + GROWN_HOLE_MARGIN_PX) if grow_px else selected
    return SourceCrop(
        node_id=node_id(node),
        rect=rect,
        fmt=fmt,
        pixels=bytes(node.pixelData(rect.x, rect.y, rect.width, rect.height)),
        selection=selected,
        shown=shown,
        avoid=_region_bytes(doc, "avoid", rect),
        use=_region_bytes(doc, "use", rect),
    )


def check_can_heal(node: Node) -> None:
    """PluginRefusal when healing in place could not merge into `node` (before any work)."""
    if node.locked():
        raise PluginRefusal(
            f'The layer "{node.name()}" is locked, so the fill cannot be merged into it. '
            "Unlock it in the Layers docker, or set Result goes to: New layer above."
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


def _with_context(bounds: Rect, grow_px: int, doc_width: int, doc_height: int) -> Rect:
    margin = grow_px + max(MIN_CONTEXT_PX, bounds.width, bounds.height)
    x0, y0 = max(bounds.x - margin, 0), max(bounds.y - margin, 0)
    x1 = min(bounds.x + bounds.width + margin, doc_width)
    y1 = min(bounds.y + bounds.height + margin, doc_height)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def _selection_bytes(selection: Selection, rect: Rect) -> bytes:
    return bytes(selection.pixelData(rect.x, rect.y, rect.width, rect.height))


def _grown_bytes(selection: Selection, rect: Rect, grow_px: int) -> bytes:
    grown = Selection()  # a copy: growing doc.selection()'s own would change the user's
    grown.setPixelData(
        selection.pixelData(rect.x, rect.y, rect.width, rect.height),
        rect.x,
        rect.y,
        rect.width,
        rect.height,
    )
    grown.grow(grow_px, grow_px)
    return _selection_bytes(grown, rect)


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


@dataclass(frozen=True)
class AddedResults:
    source: Node  # the user's layer: the source itself, or the layer it was merged into
    result_name: str


def add_results(
    doc: Document,
    source: Node,
    crop: SourceCrop,
    result: bytes,
    confidence: bytes | None,
    placement: ResultPlacement,
) -> AddedResults:
    """The fill's layer (and the hidden confidence layer) above `source` and the results
    already stacked on it, numbered after them; merged down into `source` when healing in
    place. Adding is the first undo step, the merge the next."""
    result_name, confidence_name = _layer_names(_next_result_number(doc))
    layer = _new_layer(doc, source, crop, result, result_name)
    source.parentNode().addChildNode(layer, _top_of_results(source))
    if placement is ResultPlacement.HEAL_IN_PLACE:
        source = _merge_down(layer, source)
    if confidence is not None:
        confidence_layer = _new_layer(doc, source, crop, confidence, confidence_name)
        confidence_layer.setVisible(False)
        above = layer if placement is ResultPlacement.NEW_LAYER else source
        above.parentNode().addChildNode(confidence_layer, above)
    return AddedResults(source, result_name)


def _merge_down(layer: Node, source: Node) -> Node:
    """Merge `layer` into `source` right below it; the merged layer takes the source's place.

    Krita 5.2.9's Node.mergeDown returns None, and the merged layer is a new node."""
    parent = source.parentNode()
    index = _index_among_siblings(source)
    layer.mergeDown()
    return parent.childNodes()[index]


def _index_among_siblings(node: Node) -> int:
    siblings = node.parentNode().childNodes()
    return next(i for i, sibling in enumerate(siblings) if node_id(sibling) == node_id(node))


def _layer_names(number: int) -> tuple[str, str]:
    """("Object removed", "Confidence (white = sure)") for the first result, then
    ("Object removed 2", "Confidence 2 (white = sure)"), ..."""
    suffix = "" if number == 1 else f" {number}"
    return f"{RESULT_LAYER_NAME}{suffix}", f"Confidence{suffix} {CONFIDENCE_LEGEND}"


def _new_layer(doc: Document, source: Node, crop: SourceCrop, pixels: bytes, name: str) -> Node:
    """A paint layer outside the image, in the source's colour space, holding `pixels`
    (Krita order) at crop.rect: writing before it enters the image keeps the write out of
    the user's undo history."""
    layer = doc.createNode(name, "paintlayer")
    if (layer.colorModel(), layer.colorDepth()) != (crop.fmt.color_model, crop.fmt.color_depth):
        layer.setColorSpace(crop.fmt.color_model, crop.fmt.color_depth, source.colorProfile())
    rect = crop.rect
    layer.setPixelData(QByteArray(pixels), rect.x, rect.y, rect.width, rect.height)
    return layer


def _is_result(node: Node) -> bool:
    name = node.name()
    return bool(_RESULT_NUMBER.match(name) or _CONFIDENCE_NAME.match(name))


def _top_of_results(source: Node) -> Node:
    """The highest of the result layers stacked directly above `source` (or `source`)."""
    siblings = source.parentNode().childNodes()  # bottom to top
    top = source
    for node in siblings[_index_among_siblings(source) + 1 :]:
        if not _is_result(node):
            break
        top = node
    return top


def _next_result_number(doc: Document) -> int:
    numbers = [0]
    for node in _all_nodes(doc.rootNode()):
        found = _RESULT_NUMBER.match(node.name())
        if found:
            numbers.append(int(found.group(1) or 1))
    return max(numbers) + 1


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
