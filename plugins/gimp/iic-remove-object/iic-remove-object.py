#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters ▸ Enhance ▸ Remove Object… (IIC Inpaint).

The person selects the object and runs the filter; the layer's pixels and the selection go to
the IIC Inpaint daemon through `iic_client`, and the fill comes back as a new layer "Object
removed" (then "Object removed 2", ...) above the source layer and its earlier results,
transparent outside the (grown) selection, in one undo group. The source layer is written
only when the person asks to heal in place, and then in that same undo step. Scriptable
through the PDB as `plug-in-iic-remove-object` (see `plugins/gimp/README.md`).

GIMP wrappers only: byte and format logic lives in `pixel_layout.py`, finding or starting
the daemon in `daemon_connection.py` (both standard library only), and the job itself runs
in the helper process of `removal_worker.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import daemon_connection  # noqa: E402
import pixel_layout  # noqa: E402
import removal_worker  # noqa: E402
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

PROCEDURE_NAME = "plug-in-iic-remove-object"
FILL_LAYER_NAME = "Object removed"
# The legend in the name: the grey map means nothing to a person who does not know the scale.
CONFIDENCE_LAYER_NAME = "Confidence"
CONFIDENCE_LEGEND = "(white = sure)"
# On every result layer: the tattoo of the layer it was filled from, so the next removal from
# that layer goes above it (tattoos, unlike item ids, survive saving as XCF).
SOURCE_PARASITE = "iic-remove-object-source"
DEFAULT_ITERATIONS = 4
MAX_ITERATIONS = 16  # iic_client.protocol.MAX_ITERATIONS; not imported so registration needs no zmq
AUTO_GROW = -1  # iic_client.AUTO_GROW, not imported for the same reason
MAX_GROW_PX = 256  # iic_client.protocol.MAX_GROW_PX, likewise
NEW_LAYER, HEAL_IN_PLACE = "new-layer", "heal-in-place"
PROGRESS_START_TEXT = "Remove Object: sending the layer to IIC Inpaint…"


class RemovalRefused(ValueError):
    """The removal cannot run on this input; the message tells the person what to change."""


@dataclass(frozen=True)
class RemovalOptions:
    avoid: Gimp.Channel | None
    use: Gimp.Channel | None
    iterations: int
    add_confidence_layer: bool
    texture_from_photo: bool
    grow_selection: int  # pixels, or AUTO_GROW
    heal_in_place: bool

    @classmethod
    def from_config(cls, config: Gimp.ProcedureConfig) -> RemovalOptions:
        return cls(
            avoid=config.get_property("avoid-channel"),
            use=config.get_property("use-channel"),
            iterations=config.get_property("iterations"),
            add_confidence_layer=config.get_property("add-confidence-layer"),
            texture_from_photo=config.get_property("texture-from-photo"),
            grow_selection=config.get_property("grow-selection"),
            heal_in_place=config.get_property("result") == HEAL_IN_PLACE,
        )


@dataclass(frozen=True)
class LayerRegion:
    """Where the source layer lies in image coordinates."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def of(cls, drawable: Gimp.Drawable) -> LayerRegion:
        _, x, y = drawable.get_offsets()
        return cls(x, y, drawable.get_width(), drawable.get_height())

    def image_rect(self) -> Gegl.Rectangle:
        return Gegl.Rectangle.new(self.x, self.y, self.width, self.height)

    def local_rect(self) -> Gegl.Rectangle:
        return Gegl.Rectangle.new(0, 0, self.width, self.height)


class RemoveObject(Gimp.PlugIn):
    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE_NAME]

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        procedure = Gimp.ImageProcedure.new(
            self, name, Gimp.PDBProcType.PLUGIN, run_remove_object, None
        )
        # "*" so that an indexed image gets the message that says to convert it
        procedure.set_image_types("*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Remove _Object…")
        procedure.add_menu_path("<Image>/Filters/Enhance")
        procedure.set_documentation(
            "Remove the selected object, filling it from its surroundings",
            "Fills the selection on the active layer with IIC Inpaint (iterative confidence "
            "feedback and guided upsampling) into a new layer above it. Needs a running "
            "IIC Inpaint daemon (`iic-inpaint serve`).",
            name,
        )
        procedure.set_attribution("IIC Inpaint contributors", "IIC Inpaint contributors", "2026")
        add_arguments(procedure)
        return procedure


def add_arguments(procedure: Gimp.Procedure) -> None:
    flags = GObject.ParamFlags.READWRITE
    procedure.add_channel_argument(
        "avoid-channel",
        "_Avoid channel",
        "Never borrow texture from where this channel is set (save a selection to a channel).",
        True,
        flags,
    )
    procedure.add_channel_argument(
        "use-channel",
        "_Use channel",
        "Borrow texture only from where this channel is set (save a selection to a channel).",
        True,
        flags,
    )
    procedure.add_int_argument(
        "iterations",
        "_Iterations",
        "Confidence-feedback passes: more can help large holes and cost time.",
        1,
        MAX_ITERATIONS,
        DEFAULT_ITERATIONS,
        flags,
    )
    procedure.add_boolean_argument(
        "texture-from-photo",
        "Borrow _texture from the photo",
        "On: the fill's grain is copied from the photo around it, guided by the model. "
        "Off: the model's own fill, smoother.",
        True,
        flags,
    )
    procedure.add_int_argument(
        "grow-selection",
        "_Grow selection by (px)",
        "Grow the selection by this many pixels first, to take in the object's soft fringe. "
        f"{AUTO_GROW} = automatic: about 0.15 % of the layer's longer side, at least 2 px "
        "(2 px on a 1-megapixel photo, 9 px on 24 megapixels). 0 = exactly the selection.",
        AUTO_GROW,
        MAX_GROW_PX,
        AUTO_GROW,
        flags,
    )
    result_choice = Gimp.Choice.new()
    result_choice.add(NEW_LAYER, 0, "New layer above", "The fill goes on a new layer.")
    result_choice.add(
        HEAL_IN_PLACE,
        1,
        "Heal in place (into the layer)",
        "The fill is merged into the layer, in one undo step.",
    )
    procedure.add_choice_argument(
        "result",
        "R_esult goes to",
        "Where the fill goes: a new layer above (the layer stays as it was), or merged into "
        "the layer itself in one undo step.",
        result_choice,
        NEW_LAYER,
        flags,
    )
    procedure.add_boolean_argument(
        "add-confidence-layer",
        "Add confidence _map as a layer",
        "Also add a hidden grey layer showing how sure the fill is (white = sure).",
        False,
        flags,
    )
    procedure.add_layer_return_value(
        "layer",
        "Layer",
        "The new layer holding the fill, or the healed layer when healing in place",
        False,
        flags,
    )


# Every failure a person can act on; each carries the message to show.
EXPECTED_FAILURES = (
    RemovalRefused,
    pixel_layout.LayoutError,
    daemon_connection.DaemonUnavailable,
    removal_worker.RemovalFailed,
)


def run_remove_object(
    procedure: Gimp.Procedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    run_data: Any,
) -> Gimp.ValueArray:
    try:
        # checked before the dialog, so nobody fills it in only to be refused
        source = source_layer(image, drawables)
        layout = source_layout(image, source)
        require_selection(image)
        if run_mode == Gimp.RunMode.INTERACTIVE and not ask_options(procedure, config):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
        layer = remove_object(image, source, layout, RemovalOptions.from_config(config))
    except EXPECTED_FAILURES as error:
        return failure(procedure, run_mode, str(error))
    if run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.displays_flush()
    return success(procedure, layer)


def ask_options(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig) -> bool:
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("iic-remove-object")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Remove Object")
    dialog.fill(None)
    confirmed = dialog.run()
    dialog.destroy()
    return bool(confirmed)


def failure(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, message: str) -> Gimp.ValueArray:
    """A failed call. Scripts read the message from the return values (and
    `pdb.get_last_error()`). A person gets it as our own message: GIMP would show a returned
    error under "Calling error for procedure 'plug-in-iic-remove-object':", which says
    nothing to a photographer and puts our words second."""
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))
    Gimp.message(message)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, None)


def success(procedure: Gimp.Procedure, layer: Gimp.Layer) -> Gimp.ValueArray:
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, None)
    values.remove(1)
    values.insert(1, GObject.Value(Gimp.Layer, layer))
    return values


def remove_object(
    image: Gimp.Image,
    source: Gimp.Layer,
    layout: pixel_layout.PixelLayout,
    options: RemovalOptions,
) -> Gimp.Layer:
    if options.heal_in_place and source.get_lock_content():
        raise RemovalRefused(
            f"The layer “{source.get_name()}” has its pixels locked, so Heal in place cannot "
            "write the fill into it. Unlock it in the Layers dialog, or choose Result: New "
            "layer above."
        )
    region = LayerRegion.of(source)
    hole = read_mask(image.get_selection(), region)
    pixel_layout.check_hole(hole, source.get_name())
    request_masks = {
        "avoid": read_optional_mask(image, options.avoid, "avoid", region),
        "use": read_optional_mask(image, options.use, "use", region),
    }
    pixels = read_pixels(source, region, layout)
    client = daemon_connection.import_client()  # says exactly what to install if vendor/ lacks it
    grow_px = client.resolve_grow_px(options.grow_selection, region.width, region.height)
    result = run_job(layout, region, pixels, hole, request_masks, options, grow_px)
    added = add_result_layers(image, source, region, layout, result, options, grow_px)
    note = result.get("stats", {}).get("note")
    if note:
        Gimp.message(note)  # e.g. little context left: the layer is added all the same
    return added


def source_layer(image: Gimp.Image, drawables: list[Gimp.Drawable]) -> Gimp.Layer:
    if len(drawables) != 1:
        raise RemovalRefused(
            f"Remove Object works on one layer at a time, and {len(drawables)} are selected. "
            "Pick only the layer the object is on."
        )
    (drawable,) = drawables
    if not isinstance(drawable, Gimp.Layer):
        raise RemovalRefused(
            "Remove Object fills a layer, and the active item is a channel or a layer mask. "
            "Click the layer the object is on in the Layers dialog."
        )
    if drawable.is_group():
        raise RemovalRefused(
            "Remove Object fills a pixel layer, not a layer group. Pick the layer inside the "
            "group that holds the object."
        )
    if image.get_floating_sel() is not None:
        raise RemovalRefused(
            "The image has a floating selection. Anchor it or make it a new layer first."
        )
    return drawable


def source_layout(image: Gimp.Image, source: Gimp.Layer) -> pixel_layout.PixelLayout:
    return pixel_layout.layout_for(
        image.get_base_type().value_nick, image.get_precision().value_nick, source.has_alpha()
    )


def require_selection(image: Gimp.Image) -> None:
    if Gimp.Selection.is_empty(image):
        raise RemovalRefused(
            "Nothing is selected. Select the object to remove (for example with the Free "
            "Select tool, a little wider than the object), then run Remove Object again."
        )


def read_optional_mask(
    image: Gimp.Image, channel: Gimp.Channel | None, role: str, region: LayerRegion
) -> bytes | None:
    if channel is None:
        return None
    if channel.get_image() != image:
        raise RemovalRefused(
            f"The {role} channel “{channel.get_name()}” belongs to another image. Choose a "
            "channel of this image."
        )
    return read_mask(channel, region)


def read_mask(channel: Gimp.Channel, region: LayerRegion) -> bytes:
    """The channel (image coordinates) under the layer, one byte per pixel, 255 = set."""
    buffer = channel.get_buffer()
    return bytes(
        buffer.get(region.image_rect(), 1.0, pixel_layout.MASK_BABL_FORMAT, Gegl.AbyssPolicy.NONE)
    )


def read_pixels(source: Gimp.Layer, region: LayerRegion, layout: pixel_layout.PixelLayout) -> bytes:
    """The layer's own pixels (layer-local coordinates) in the wire's format."""
    native = bytes(
        source.get_buffer().get(region.local_rect(), 1.0, layout.babl_format, Gegl.AbyssPolicy.NONE)
    )
    pixel_layout.check_frame(native, layout, region.width, region.height, "reading the layer")
    return pixel_layout.native_to_wire(native, layout.dtype)


def run_job(
    layout: pixel_layout.PixelLayout,
    region: LayerRegion,
    pixels: bytes,
    hole: bytes,
    masks: dict[str, bytes | None],
    options: RemovalOptions,
    grow_px: int,
) -> dict[str, Any]:
    """Send the removal and wait for its result, reporting the daemon's stages as progress."""
    request = {
        "width": region.width,
        "height": region.height,
        "channels": layout.channels,
        "dtype": layout.dtype,
        "pixels": pixels,
        "hole": hole,
        "avoid": masks["avoid"],
        "use": masks["use"],
        "iterations": options.iterations,
        "want_confidence": options.add_confidence_layer,
        "texture": "patches" if options.texture_from_photo else "learned",
        "grow_px": grow_px,
    }
    Gimp.progress_init(PROGRESS_START_TEXT)
    try:
        return removal_worker.run_removal(request, show_progress)
    finally:
        Gimp.progress_end()


def show_progress(progress: dict[str, Any]) -> None:
    if progress["queue_position"] > 0:
        text = f"Remove Object: waiting for the daemon ({progress['queue_position']} ahead)…"
    else:
        text = f"Remove Object: {progress['message'] or progress['stage']}"
    Gimp.progress_set_text(text)
    Gimp.progress_update(min(max(progress["fraction"], 0.0), 1.0))


def add_result_layers(
    image: Gimp.Image,
    source: Gimp.Layer,
    region: LayerRegion,
    layout: pixel_layout.PixelLayout,
    result: dict[str, Any],
    options: RemovalOptions,
    grow_px: int,
) -> Gimp.Layer:
    """The fill on a new layer (or healed into `source`) and the confidence map, in one undo
    step; the layer holding the fill is returned."""
    shape = (result["width"], result["height"], result["channels"], result["dtype"])
    if shape != (region.width, region.height, layout.channels, layout.dtype):
        raise RemovalRefused(
            "The daemon answered with an image of another size or depth. Update the plug-in "
            "and the daemon to the same release (`iic-inpaint install-plugin gimp`)."
        )
    fill = pixel_layout.wire_to_native(result["pixels"], layout.dtype)
    pixel_layout.check_frame(fill, layout, region.width, region.height, "the daemon's result")
    fill_name, confidence_name = unused_result_names(image)
    image.undo_group_start()
    try:
        with selection_grown(image, grow_px):
            if options.heal_in_place:
                layer = heal_in_place(source, region, layout.babl_format, fill)
            else:
                layer = add_result_layer(image, source, region, fill_name, layout.model)
                write_clipped_to_selection(layer, region, layout.babl_format, fill)
            if options.add_confidence_layer and result["confidence"] is not None:
                confidence = add_result_layer(image, source, region, confidence_name, layout.model)
                write_clipped_to_selection(
                    confidence, region, pixel_layout.CONFIDENCE_BABL_FORMAT, result["confidence"]
                )
                confidence.set_visible(False)  # the fill stays in view; the map is one click away
    finally:
        image.undo_group_end()
    return layer


def unused_result_names(image: Gimp.Image) -> tuple[str, str]:
    """The names of this removal's fill and confidence layers: "Object removed" and
    "Confidence (white = sure)", numbered from 2 when those are taken (GIMP would otherwise
    make them unique as "Object removed #1")."""
    number = 1
    while True:
        suffix = "" if number == 1 else f" {number}"
        names = (
            f"{FILL_LAYER_NAME}{suffix}",
            f"{CONFIDENCE_LAYER_NAME}{suffix} {CONFIDENCE_LEGEND}",
        )
        if not any(image.get_layer_by_name(name) for name in names):
            return names
        number += 1


@contextmanager
def selection_grown(image: Gimp.Image, grow_px: int) -> Iterator[None]:
    """The selection grown by `grow_px` while the result is clipped to it, then put back.

    The daemon grew the hole by a disc of `grow_px` (never into avoid); GIMP's round growth
    by the same radius covers that disc and a few pixels more, where the result is the
    source's own pixels, so the clip shows exactly what the daemon filled."""
    if grow_px == 0:
        yield
        return
    selection = Gimp.Selection.save(image)
    Gimp.Selection.grow(image, grow_px)
    try:
        yield
    finally:
        image.select_item(Gimp.ChannelOps.REPLACE, selection)
        image.remove_channel(selection)


def heal_in_place(
    source: Gimp.Layer, region: LayerRegion, babl_format: str, fill: bytes
) -> Gimp.Layer:
    """Merge the fill into `source` as GIMP's own filters write: through the shadow buffer,
    masked by the selection (soft edges included), as one undoable step. The layer keeps its
    name, alpha and place, and outside the selection its pixels."""
    shadow = source.get_shadow_buffer()
    shadow.set(region.local_rect(), babl_format, fill)
    shadow.flush()
    source.merge_shadow(True)
    source.update(0, 0, region.width, region.height)
    return source


def add_result_layer(
    image: Gimp.Image, source: Gimp.Layer, region: LayerRegion, name: str, model: str
) -> Gimp.Layer:
    """A transparent layer at the source's offsets, above the source and the results of its
    earlier removals (so none hides the new one); it takes the image's precision and base
    type (GIMP refuses a grey layer in an RGB image and vice versa)."""
    layer_type = Gimp.ImageType.RGBA_IMAGE if model == "rgb" else Gimp.ImageType.GRAYA_IMAGE
    layer = Gimp.Layer.new(
        image, name, region.width, region.height, layer_type, 100.0, Gimp.LayerMode.NORMAL
    )
    image.insert_layer(layer, source.get_parent(), position_above_results(image, source))
    layer.set_offsets(region.x, region.y)
    mark = source_mark(source)
    layer.attach_parasite(Gimp.Parasite.new(SOURCE_PARASITE, Gimp.PARASITE_PERSISTENT, mark))
    return layer


def position_above_results(image: Gimp.Image, source: Gimp.Layer) -> int:
    """The position (0 = top of the source's layer stack) just above the run of earlier
    results from `source` directly above it."""
    parent = source.get_parent()
    siblings = parent.get_children() if parent is not None else image.get_layers()
    position = image.get_item_position(source)
    while position > 0 and is_result_of(siblings[position - 1], source):
        position -= 1
    return position


def is_result_of(layer: Gimp.Item, source: Gimp.Layer) -> bool:
    parasite = layer.get_parasite(SOURCE_PARASITE)
    return parasite is not None and bytes(parasite.get_data()) == source_mark(source)


def source_mark(source: Gimp.Layer) -> bytes:
    return str(source.get_tattoo()).encode()


def write_clipped_to_selection(
    layer: Gimp.Layer, region: LayerRegion, babl_format: str, pixels: bytes
) -> None:
    """Write `pixels` and keep them only where the selection is, with its soft edges, by
    applying a mask made from the selection: GEGL does the compositing in C."""
    buffer = layer.get_buffer()
    buffer.set(region.local_rect(), babl_format, pixels)
    buffer.flush()
    layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
    layer.remove_mask(Gimp.MaskApplyMode.APPLY)
    layer.update(0, 0, region.width, region.height)


Gimp.main(RemoveObject.__gtype__, sys.argv)
