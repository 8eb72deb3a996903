"""Runs inside Krita (kritarunner) for tests/test_krita_plugin.py; not collected by pytest.

    kritarunner -s iic_krita_driver -f kritarunner_main SPEC.json

For each scenario of SPEC it opens or builds a document, makes the selection, runs the
installed plug-in's own controller (what the "Remove object" action calls) inside a Qt
event loop until it is idle again, and writes what happened: the layer stack, the user
message, the request the plug-in sent to the daemon, and the raw bytes of the source layer
before/after and of the new layers. The test on the host checks all of it.
kritarunner exits 0 whatever happens, hence os._exit(3) on a crash of the driver itself.
"""

import json
import os
import sys
import traceback
from pathlib import Path

import iic_remove_object
import numpy as np
from iic_remove_object.document_access import store_region
from krita import Krita, Selection
from PyQt5.QtCore import QByteArray, QEventLoop, QObject, QTimer, pyqtSignal

SCENARIO_TIMEOUT_MS = 180_000
CANCEL_DELAY_MS = 300


class SubmitSpy(QObject):
    """Records what the plug-in hands to the real client; the request still goes out.

    The plug-in submits from its worker thread: `submitted` carries the news to the GUI
    thread (a queued signal), where `on_submitted` may touch the document."""

    submitted = pyqtSignal()

    def __init__(self):
        super().__init__()
        self.requests = []
        self.on_submitted = None  # called on the GUI thread once the daemon accepted a job
        self.submitted.connect(lambda: self.on_submitted and self.on_submitted())
        from iic_client import DaemonClient

        original = DaemonClient.submit
        spy = self

        def submit(client, request):
            spy.requests.append(request)
            job = original(client, request)
            spy.submitted.emit()
            return job

        DaemonClient.submit = submit


def krita_samples(rgba8, model, depth):
    """The test image (H,W,4 uint8 RGBA) as Krita stores it in `model`/`depth`."""
    if model == "GRAYA":
        pixels = rgba8[..., [0, 3]]
    elif model == "CMYKA":
        pixels = np.concatenate(
            [255 - rgba8[..., :3], np.zeros_like(rgba8[..., :1]), rgba8[..., 3:]], -1
        )
    elif depth in ("U8", "U16"):
        pixels = rgba8[..., [2, 1, 0, 3]]  # Krita's BGRA
    else:
        pixels = rgba8
    if depth == "U8":
        return pixels.astype(np.uint8)
    if depth == "U16":
        return pixels.astype(np.uint16) * 257
    return (pixels.astype(np.float32) / 255.0).astype(np.float16 if depth == "F16" else np.float32)


def build_document(scenario, rgba8):
    app = Krita.instance()
    app.setBatchmode(True)
    if scenario.get("size"):
        width, height = scenario["size"]
        rgba8 = np.tile(rgba8, (height // rgba8.shape[0] + 1, width // rgba8.shape[1] + 1, 1))
        rgba8 = np.ascontiguousarray(rgba8[:height, :width])
    height, width = rgba8.shape[:2]
    if scenario.get("open_png"):
        doc = app.openDocument(scenario["open_png"])
    else:
        doc = app.createDocument(
            width, height, scenario["name"], scenario["model"], scenario["depth"], "", 72.0
        )
    doc.setBatchmode(True)
    source = [n for n in doc.topLevelNodes() if n.type() == "paintlayer"][0]
    for x, y, w, h, *rgb in scenario.get("paint", []):  # rectangles of colour on the image
        rgba8 = rgba8.copy()
        rgba8[y : y + h, x : x + w, :3] = rgb
    if scenario.get("paint") or not scenario.get("open_png"):
        model, depth = source.colorModel(), source.colorDepth()
        samples = krita_samples(rgba8, model, depth)
        source.setPixelData(QByteArray(samples.tobytes()), 0, 0, width, height)
    if scenario.get("locked"):
        source.setLocked(True)
    if scenario.get("move_layer"):  # the layer's offset: its pixels shown moved by dx, dy
        source.move(*scenario["move_layer"])
    if scenario.get("layer_above"):
        top = doc.createNode("Layer above", "paintlayer")
        doc.rootNode().addChildNode(top, source)
    doc.waitForDone()
    return doc, source


def select(doc, rect, value=255):
    selection = Selection()
    selection.select(*rect, value)
    doc.setSelection(selection)
    doc.waitForDone()


def run_controller(controller, doc, node, want_confidence):
    controller.start(doc, node, want_confidence)
    if controller.busy:
        loop = QEventLoop()
        controller.busy_changed.connect(lambda busy: busy or loop.quit())
        QTimer.singleShot(SCENARIO_TIMEOUT_MS, loop.quit)
        loop.exec_()
    doc.waitForDone()


def layer_bytes(doc, node):
    return bytes(node.pixelData(0, 0, doc.width(), doc.height()))


def layer_file(scenario, node):
    """Where a layer's bytes go: the scenario's name and the layer's, as a file name."""
    return f"{scenario['name']}.{''.join(c if c.isalnum() else '_' for c in node.name())}"


def run_scenario(scenario, rgba8, out_dir, spy):
    from iic_remove_object import plugin_settings  # needs the vendor/ folder (iic_client)
    from iic_remove_object.document_access import ResultPlacement
    from iic_remove_object.remove_object import RemoveObjectController

    doc, source = build_document(scenario, rgba8)
    for kind, rect in scenario.get("regions", {}).items():  # "avoid" / "use" -> x, y, w, h
        select(doc, rect)
        store_region(doc, kind)
    if scenario.get("rect"):
        select(doc, scenario["rect"], scenario.get("selection_value", 255))
    before = layer_bytes(doc, source)
    controller = RemoveObjectController(connection_file=scenario.get("connection_file"))
    spy.requests.clear()
    if scenario.get("flag_when_submitted"):
        flag = out_dir / f"{scenario['name']}.submitted"
        spy.on_submitted = flag.touch
    if scenario.get("cancel_when_submitted"):
        spy.on_submitted = lambda: QTimer.singleShot(CANCEL_DELAY_MS, controller.cancel)
    if scenario.get("close_when_submitted"):
        spy.on_submitted = lambda: (doc.setModified(False), doc.close())
    plugin_settings.set_iic_inpaint_path(scenario.get("iic_inpaint_path", ""))
    plugin_settings.set_texture_from_photo(scenario.get("texture_from_photo", True))
    # 0 unless asked: most scenarios compare with the CLI, which grows nothing by default.
    plugin_settings.set_grow_px(scenario.get("grow_px", 0))
    plugin_settings.set_result_placement(ResultPlacement(scenario.get("placement", "new_layer")))
    progress = []
    controller.progress_changed.connect(lambda text, fraction: progress.append([text, fraction]))
    messages = []
    for _ in range(scenario.get("removals", 1)):
        run_controller(controller, doc, source, scenario.get("want_confidence", False))
        messages.append(controller.last_message)
    spy.on_submitted = None
    if scenario.get("close_when_submitted"):
        return {
            "message": controller.last_message,
            "busy_after": controller.busy,
            "requests": [describe(r) for r in spy.requests],
            "open_documents": len(Krita.instance().documents()),
        }
    prefix = out_dir / scenario["name"]
    (prefix.with_suffix(".source_before")).write_bytes(before)
    (prefix.with_suffix(".source_after")).write_bytes(layer_bytes(doc, source))
    projection = doc.pixelData(0, 0, doc.width(), doc.height())
    (prefix.with_suffix(".projection")).write_bytes(bytes(projection))
    layers = []
    for node in doc.topLevelNodes():
        layers.append(
            {
                "name": node.name(),
                "type": node.type(),
                "visible": node.visible(),
                "model": node.colorModel(),
                "depth": node.colorDepth(),
                "file": layer_file(scenario, node),
            }
        )
        (out_dir / layer_file(scenario, node)).write_bytes(layer_bytes(doc, node))
    report = {
        "progress": progress,
        "message": controller.last_message,
        "messages": messages,
        "layers": layers,
        "busy_after": controller.busy,
        "size": [doc.width(), doc.height()],
        "requests": [describe(r) for r in spy.requests],
    }
    for kind in ("avoid", "use"):
        sent = getattr(spy.requests[0], kind) if spy.requests else None
        if sent is not None:
            prefix.with_suffix(f".{kind}_sent").write_bytes(sent)
    doc.setModified(False)
    doc.close()
    return report


def describe(request):
    return {
        "width": request.width,
        "height": request.height,
        "channels": request.channels,
        "dtype": request.dtype,
        "pixels": len(request.pixels),
        "hole_selected": sum(1 for b in request.hole if b),
        "avoid": request.avoid is not None,
        "use": request.use is not None,
        "want_confidence": request.want_confidence,
        "texture": request.texture,
        "grow_px": request.grow_px,
    }


def missing_packages_main(args):
    """Import the plug-in without its vendor/ folder; report what the action would say."""
    import iic_remove_object  # noqa: F401  (registers the stand-in extension)
    from iic_remove_object.missing_packages import MissingPackagesExtension

    messages = [
        e.message for e in Krita.instance().extensions() if isinstance(e, MissingPackagesExtension)
    ]
    Path(args[0]).write_text(json.dumps({"messages": messages}))


def kritarunner_main(args):
    spec = json.loads(Path(args[0]).read_text())
    out_dir = Path(spec["out_dir"])
    rgba8 = np.load(spec["image_npy"])
    reports = {"plugin_file": iic_remove_object.__file__, "python": sys.version.split()[0]}
    try:
        spy = SubmitSpy()
        for scenario in spec["scenarios"]:
            reports[scenario["name"]] = run_scenario(scenario, rgba8, out_dir, spy)
    except Exception:
        reports["crash"] = traceback.format_exc()
    (out_dir / "report.json").write_text(json.dumps(reports, indent=1))
    sys.stdout.flush()
    if "crash" in reports:
        print(reports["crash"], file=sys.stderr, flush=True)
        os._exit(3)
