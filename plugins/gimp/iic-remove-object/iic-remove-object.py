#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters ▸ Enhance ▸ Remove Object… (IIC Inpaint).

The person selects the object and runs the filter; the layer's pixels and the selection go to
the IIC Inpaint daemon through `iic_client`, and the fill comes back as a new layer "Object
removed" directly above the source layer, transparent outside the selection, in one undo
group. The source layer is never written. Scriptable through the PDB as
`plug-in-iic-remove-object` (see `plugins/gimp/README.md`).

GIMP wrappers only: byte and format logic lives in `pixel_layout.py`, finding or starting
the daemon in `daemon_connection.py` (both standard library only), and the job itself runs
in the helper process of `removal_worker.py`.
"""

from __future__ import annotations

import sys
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
CONFIDENCE_LAYER_NAME = "Object removed: confidence"  # as in the Krita plug-in
DEFAULT_ITERATIONS = 4
MAX_ITERATIONS = 16  # iic_client.protocol.MAX_ITERATIONS; not imported so registration needs no zmq
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

    @classmethod
    def from_config(cls, config: Gimp.ProcedureConfig) -> RemovalOptions:
        return cls(
            avoid=config.get_property("avoid-channel"),
            use=config.get_property("use-channel"),
            iterations=config.get_property("iterations"),
            add_confidence_layer=config.get_property("add-confidence-layer"),
            texture_from_photo=config.get_property("texture-from-photo"),
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
    procedure.add_boolean_argument(
        "add-confidence-layer",
        "Add confidence _map as a layer",
        "Also add a hidden grey layer showing how sure the fill is (white = sure).",
        False,
        flags,
    )
    procedure.add_layer_return_value(
        "layer", "Layer", "The new layer holding the fill", False, flags
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
        return failure(procedure, str(error))
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


def failure(procedure: Gimp.Procedure, message: str) -> Gimp.ValueArray:
    """A failed call carrying the message: scripts read it from the return values (and
    `pdb.get_last_error()`), and GIMP shows it to the person for menu runs."""
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


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
    region = LayerRegion.of(source)
    hole = read_mask(image.get_selection(), region)
    pixel_layout.check_hole(hole, source.get_name())
    request_masks = {
        "avoid": read_optional_mask(image, options.avoid, "avoid", region),
        "use": read_optional_mask(image, options.use, "use", region),
    }
    pixels = read_pixels(source, region, layout)
    result = run_job(layout, region, pixels, hole, request_masks, options)
    added = add_result_layers(image, source, region, layout, result, options)
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
) -> dict[str, Any]:
    """Send the removal and wait for its result, reporting the daemon's stages as progress."""
    daemon_connection.import_client()  # says exactly what to install if vendor/ lacks it
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
) -> Gimp.Layer:
    shape = (result["width"], result["height"], result["channels"], result["dtype"])
    if shape != (region.width, region.height, layout.channels, layout.dtype):
        raise RemovalRefused(
            "The daemon answered with an image of another size or depth. Update the plug-in "
            "and the daemon to the same release (`iic-inpaint install-plugin gimp`)."
        )
    fill = pixel_layout.wire_to_native(result["pixels"], layout.dtype)
    pixel_layout.check_frame(fill, layout, region.width, region.height, "the daemon's result")
    image.undo_group_start()
    try:
        layer = add_layer_above(image, source, region, FILL_LAYER_NAME, layout.model)
        write_clipped_to_selection(layer, region, layout.babl_format, fill)
        if options.add_confidence_layer and result["confidence"] is not None:
            confidence = add_layer_above(image, layer, region, CONFIDENCE_LAYER_NAME, layout.model)
            write_clipped_to_selection(
                confidence, region, pixel_layout.CONFIDENCE_BABL_FORMAT, result["confidence"]
            )
            confidence.set_visible(False)  # the fill stays in view; the map is one click away
    finally:
        image.undo_group_end()
    return layer


def add_layer_above(
    image: Gimp.Image, below: Gimp.Layer, region: LayerRegion, name: str, model: str
) -> Gimp.Layer:
    """A transparent layer directly above `below`, at the same offsets; it takes the image's
    precision and base type (GIMP refuses a grey layer in an RGB image and vice versa)."""
    layer_type = Gimp.ImageType.RGBA_IMAGE if model == "rgb" else Gimp.ImageType.GRAYA_IMAGE
    layer = Gimp.Layer.new(
        image, name, region.width, region.height, layer_type, 100.0, Gimp.LayerMode.NORMAL
    )
    image.insert_layer(layer, below.get_parent(), image.get_item_position(below))
    layer.set_offsets(region.x, region.y)
    return layer


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
