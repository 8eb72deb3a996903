# Run by GIMP 3's python-fu-eval batch interpreter inside the editors root, from
# tests/test_gimp_plugin.py:
#   gimp-console-3.0 -i --quit -d -f --batch-interpreter python-fu-eval \
#       -b 'exec(open("/tests/gimp_batch/run_scenarios.py").read())'
# Env: IIC_GIMP_SCENARIOS, a JSON file {"report": path, "scenarios": [...]}. Each scenario loads
# an image, prepares it (offsets, mode, precision, selection, avoid/use channels), calls
# plug-in-iic-remove-object through the PDB like a script would, and records what it finds.
# The new layer's pixels are dumped raw for the test to compare; nothing is judged here.
# Under run_in_gui.sh a scenario may show its image (display) and have one Ctrl+Z pressed in
# its window after the call (undo_once): plug-ins have no PDB procedure to undo.
# An exception makes gimp-console exit 64.
import hashlib
import json
import os
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Babl", "0.1")
from gi.repository import Babl, Gegl, Gimp, Gio  # noqa: E402

PROCEDURE = "plug-in-iic-remove-object"
# Under run_in_gui.sh only: press_dialog_buttons.py presses Ctrl+Z in the image window whose
# title contains this file's text, then deletes the file.
UNDO_REQUEST = "/tmp/iic-gimp-undo-request"
UNDO_TIMEOUT_S = 60


def read_bytes(drawable, babl_format):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, babl_format, Gegl.AbyssPolicy.NONE))


def prepare_image(spec):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["image"]))
    source = image.get_layers()[0]
    offset_x, offset_y = spec.get("offset", (0, 0))
    if offset_x or offset_y:
        # a wider canvas moves the layer: it then lies at (offset_x, offset_y)
        image.resize(
            image.get_width() + offset_x, image.get_height() + offset_y, offset_x, offset_y
        )
    if spec.get("mode") == "gray":
        image.convert_grayscale()
    elif spec.get("mode") == "indexed":
        image.convert_indexed(
            Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 64, False, False, ""
        )
    if spec.get("precision"):
        image.convert_precision(getattr(Gimp.Precision, spec["precision"]))
    channels = {}  # procedure argument -> a channel saved from a rectangle selection
    for role in ("avoid", "use"):
        if spec.get(role):
            image.select_rectangle(Gimp.ChannelOps.REPLACE, *spec[role])
            channels[f"{role}-channel"] = Gimp.Selection.save(image)
    if spec.get("lock_content"):
        source.set_lock_content(True)
    if spec.get("layer_above"):
        above = Gimp.Layer.new(
            image, "Layer above", 8, 8, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL
        )
        image.insert_layer(above, None, 0)
    if spec["selection"]:
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *spec["selection"])
    else:
        Gimp.Selection.none(image)
    if spec.get("feather"):
        Gimp.Selection.feather(image, spec["feather"])
    return image, source, channels


def dump_selection(image, source, dump_path):
    """The selection under the source layer, one byte per pixel."""
    _, x, y = source.get_offsets()
    rect = Gegl.Rectangle.new(x, y, source.get_width(), source.get_height())
    data = image.get_selection().get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
    with open(dump_path, "wb") as stream:
        stream.write(bytes(data))


def run_procedure(image, source, channels, spec):
    pdb = Gimp.get_pdb()
    procedure = pdb.lookup_procedure(PROCEDURE)
    if procedure is None:
        raise RuntimeError(f"{PROCEDURE} is not registered: the plug-in was not installed")
    config = procedure.create_config()
    # INTERACTIVE shows the plug-in's dialog (answered by press_dialog_buttons.py)
    config.set_property("run-mode", getattr(Gimp.RunMode, spec.get("run_mode", "NONINTERACTIVE")))
    config.set_property("image", image)
    config.set_core_object_array("drawables", [source])
    for argument, channel in channels.items():
        config.set_property(argument, channel)
    config.set_property("iterations", spec.get("iterations", 4))
    config.set_property("add-confidence-layer", spec.get("confidence", False))
    config.set_property("texture-from-photo", spec.get("texture_from_photo", True))
    if spec.get("grow") is not None:  # else the procedure's default
        config.set_property("grow-selection", spec["grow"])
    if spec.get("result"):
        config.set_property("result", spec["result"])
    values = procedure.run(config)
    # the last error lasts only until the next PDB call: read it first
    last_error = pdb.get_last_error()
    status = values.index(0)
    second = values.index(1) if values.length() > 1 else None
    return status, second, last_error


def selection_digest(image):
    rect = Gegl.Rectangle.new(0, 0, image.get_width(), image.get_height())
    data = image.get_selection().get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
    return hashlib.sha256(bytes(data)).hexdigest()


def undo_once(image, source):
    """Have one Ctrl+Z pressed in the image's window; wait until the source's pixels change
    (or the time runs out). Returns whether they changed."""
    before = read_bytes(source, Babl.get_name(source.get_format()))
    with open(UNDO_REQUEST + ".part", "w", encoding="utf-8") as stream:
        # the image window's title, "[image] (imported)-ID.VIEW (RGB colour ...", has "-ID."
        stream.write(f"-{image.get_id()}.")
    os.rename(UNDO_REQUEST + ".part", UNDO_REQUEST)
    deadline = time.monotonic() + UNDO_TIMEOUT_S
    while time.monotonic() < deadline:
        pressed = not os.path.exists(UNDO_REQUEST)
        if pressed and read_bytes(source, Babl.get_name(source.get_format())) != before:
            return True
        time.sleep(0.2)
    return False


def layer_record(layer, dump_path, babl_format):
    _, x, y = layer.get_offsets()
    data = read_bytes(layer, babl_format)
    with open(dump_path, "wb") as stream:
        stream.write(data)
    return {
        "name": layer.get_name(),
        "visible": layer.get_visible(),
        "offsets": [x, y],
        "size": [layer.get_width(), layer.get_height()],
        "format": Babl.get_name(layer.get_format()),
        "dump": dump_path,
        "dump_format": babl_format,
    }


def run_scenario(spec, out_dir):
    image, source, channels = prepare_image(spec)
    display = Gimp.Display.new(image) if spec.get("display") else None
    layers_before = [layer.get_id() for layer in image.get_layers()]
    selection_before = selection_digest(image)
    channels_before = len(image.get_channels())
    source_before = hashlib.sha256(read_bytes(source, Babl.get_name(source.get_format())))
    if spec.get("feather"):
        dump_selection(image, source, os.path.join(out_dir, f"{spec['name']}-selection.raw"))
    for _ in range(spec.get("runs", 1) - 1):  # earlier removals from the same layer
        run_procedure(image, source, channels, spec)
    status, second, last_error = run_procedure(image, source, channels, spec)
    source_after = hashlib.sha256(read_bytes(source, Babl.get_name(source.get_format())))
    layers = image.get_layers()
    record = {
        "status": status.value_nick,
        "message": second if isinstance(second, str) else None,
        "last_error": last_error,
        "layer_names": [layer.get_name() for layer in layers],
        "layer_count_before": len(layers_before),
        "source_index": [layer.get_id() for layer in layers].index(source.get_id()),
        "source_offsets": list(source.get_offsets()[1:]),
        "source_unchanged": source_before.digest() == source_after.digest(),
        "image_precision": image.get_precision().value_nick,
        "new_layers": [],
    }
    if status == Gimp.PDBStatusType.SUCCESS:
        record["returned_layer_is_new"] = second.get_id() not in layers_before
        record["returned_layer_name"] = second.get_name()
    record["selection_unchanged"] = selection_digest(image) == selection_before
    record["channels_added"] = len(image.get_channels()) - channels_before
    if spec.get("dump_source"):
        dump = os.path.join(out_dir, f"{spec['name']}-source.raw")
        record["source_layer"] = layer_record(source, dump, spec["dump_format"])
    if spec.get("undo_once"):
        record["undone"] = undo_once(image, source)
        undone = hashlib.sha256(read_bytes(source, Babl.get_name(source.get_format())))
        record["source_restored_by_undo"] = undone.digest() == source_before.digest()
        record["layer_names_after_undo"] = [layer.get_name() for layer in image.get_layers()]
        record["selection_unchanged_after_undo"] = selection_digest(image) == selection_before
    for index, layer in enumerate(layers):
        if layer.get_id() not in layers_before:
            dump = os.path.join(out_dir, f"{spec['name']}-{index}.raw")
            record["new_layers"].append(layer_record(layer, dump, spec["dump_format"]))
    if display is not None:
        display.delete()  # which deletes its image too: an image with a display cannot be
    if image.is_valid():
        image.delete()
    return record


def main():
    # In the GUI too, every message GIMP would show a person goes to GIMP's output (the log)
    Gimp.message_set_handler(Gimp.MessageHandlerType.CONSOLE)
    with open(os.environ["IIC_GIMP_SCENARIOS"], encoding="utf-8") as stream:
        plan = json.load(stream)
    report = {spec["name"]: run_scenario(spec, plan["out_dir"]) for spec in plan["scenarios"]}
    with open(plan["report"], "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=1)


main()
