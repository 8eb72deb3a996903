"""The "Remove object" docker: run/cancel with progress, avoid/use regions, options."""

from __future__ import annotations

from collections.abc import Callable

from krita import DockWidget, Document, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from iic_client import AUTO_GROW
from iic_client.protocol import MAX_GROW_PX
from iic_client.selection_growth import AUTO_GROW_SHARE, MIN_AUTO_GROW_PX

from . import plugin_settings
from .document_access import (
    PluginRefusal,
    ResultPlacement,
    clear_region,
    find_node,
    node_id,
    region_bounds,
    show_region,
    store_region,
)
from .extension import remove_object_in_active_document, shared_controller
from .floating_message import show_message
from .plugin_ids import DOCKER_TITLE

PROGRESS_STEPS = 1000
PLACEMENT_CHOICES = {
    ResultPlacement.NEW_LAYER: "New layer above",
    ResultPlacement.HEAL_IN_PLACE: "Heal in place (merged into the layer)",
}
AUTO_GROW_TEXT = (
    f"Auto: {AUTO_GROW_SHARE:.2%} of the image's long side, at least {MIN_AUTO_GROW_PX} px. "
    "Growing covers the object's soft fringe, which a selection usually misses."
)
REGION_HINTS = {
    "avoid": "Never copy texture from here",
    "use": "Copy texture only from here",
}


class RegionRow(QWidget):
    """Store / show / clear one region kind ("avoid" or "use") of the active document."""

    def __init__(self, kind: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.kind = kind
        self.state = QLabel(self)
        self.state.setToolTip(REGION_HINTS[kind])
        buttons = [
            ("Set from selection", self._store),
            ("Show", self._show),
            ("Clear", self._clear),
        ]
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(f"{kind.capitalize()} region:", self))
        layout.addWidget(self.state, 1)
        for text, slot in buttons:
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            layout.addWidget(button)
        self.refresh()

    def refresh(self) -> None:
        doc = Krita.instance().activeDocument()
        bounds = region_bounds(doc, self.kind) if doc is not None else None
        self.state.setText(
            "not set"
            if bounds is None
            else f"{bounds.width}×{bounds.height} at {bounds.x},{bounds.y}"
        )

    def _store(self) -> None:
        self._change_regions(lambda doc: store_region(doc, self.kind))

    def _show(self) -> None:
        doc = Krita.instance().activeDocument()
        if doc is None or not show_region(doc, self.kind):
            show_message(f"No {self.kind} region is set for this image.")

    def _clear(self) -> None:
        self._change_regions(lambda doc: clear_region(doc, self.kind))

    def _change_regions(self, change: Callable[[Document], None]) -> None:
        doc = Krita.instance().activeDocument()
        if doc is None:
            return
        active = doc.activeNode()
        active_id = node_id(active) if active is not None else None
        try:
            change(doc)
        except PluginRefusal as refusal:
            show_message(str(refusal))
        self.refresh()
        if active_id is not None:
            # Krita activates an added (or a neighbouring, removed) node from its event loop,
            # after this slot returns; give the user's layer back then, so the next Remove
            # object works on it.
            QTimer.singleShot(0, lambda: _activate(doc, active_id))


def _activate(doc: Document, wanted_id: str) -> None:
    node = find_node(doc, wanted_id)
    if node is not None:  # it may have been the region just cleared
        doc.setActiveNode(node)


class RemoveObjectDocker(DockWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(DOCKER_TITLE)
        controller = shared_controller()
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addLayout(self._run_row(body))
        self.status = QLabel("Select the object, then Remove object.", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.regions = [RegionRow("avoid", body), RegionRow("use", body)]
        for row in self.regions:
            layout.addWidget(row)
        self.confidence = QCheckBox("Add confidence map (hidden layer)", body)
        self.confidence.setChecked(plugin_settings.want_confidence())
        self.confidence.toggled.connect(plugin_settings.set_want_confidence)
        layout.addWidget(self.confidence)
        self.texture = QCheckBox("Borrow texture from the photo", body)
        self.texture.setToolTip(
            "On: the fill's grain is copied from the photo around it, guided by the model. "
            "Off: the model's own fill, smoother."
        )
        self.texture.setChecked(plugin_settings.texture_from_photo())
        self.texture.toggled.connect(plugin_settings.set_texture_from_photo)
        layout.addWidget(self.texture)
        layout.addLayout(self._settings_grid(body))
        grow_hint = QLabel(AUTO_GROW_TEXT, body)
        grow_hint.setWordWrap(True)
        layout.addWidget(grow_hint)
        layout.addStretch(1)
        self.setWidget(body)
        controller.busy_changed.connect(self._on_busy)
        controller.progress_changed.connect(self._on_progress)
        controller.message.connect(self.status.setText)
        self._on_busy(controller.busy)

    def _run_row(self, body: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        self.run_button = QPushButton("Remove object", body)
        self.run_button.clicked.connect(remove_object_in_active_document)
        self.progress = QProgressBar(body)
        self.progress.setRange(0, PROGRESS_STEPS)
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.clicked.connect(shared_controller().cancel)
        for widget in (self.run_button, self.progress, self.cancel_button):
            row.addWidget(widget)
        return row

    def _settings_grid(self, body: QWidget) -> QGridLayout:
        grid = QGridLayout()
        rows = [
            ("Grow selection by:", self._grow_box(body)),
            ("Result goes to:", self._placement_box(body)),
            ("iic-inpaint program:", self._program_field(body)),
        ]
        for row, (label, widget) in enumerate(rows):
            grid.addWidget(QLabel(label, body), row, 0)
            grid.addWidget(widget, row, 1)
        return grid

    def _grow_box(self, body: QWidget) -> QSpinBox:
        self.grow = QSpinBox(body)
        self.grow.setRange(AUTO_GROW, MAX_GROW_PX)
        self.grow.setSpecialValueText("Auto")  # shown at the minimum, AUTO_GROW
        self.grow.setSuffix(" px")
        self.grow.setToolTip(AUTO_GROW_TEXT)
        self.grow.setValue(plugin_settings.grow_px())
        self.grow.valueChanged.connect(plugin_settings.set_grow_px)
        return self.grow

    def _placement_box(self, body: QWidget) -> QComboBox:
        self.placement = QComboBox(body)
        self.placement.addItems(PLACEMENT_CHOICES.values())
        self.placement.setToolTip(
            "Heal in place merges the new layer into yours: one Edit ▸ Undo takes the fill "
            "out of your layer again."
        )
        self.placement.setCurrentIndex(
            list(PLACEMENT_CHOICES).index(plugin_settings.result_placement())
        )
        self.placement.currentIndexChanged.connect(
            lambda index: plugin_settings.set_result_placement(list(PLACEMENT_CHOICES)[index])
        )
        return self.placement

    def _program_field(self, body: QWidget) -> QLineEdit:
        self.program = QLineEdit(plugin_settings.iic_inpaint_path(), body)
        self.program.setPlaceholderText("e.g. /home/me/.local/bin/iic-inpaint")
        self.program.setToolTip(
            "When no daemon runs, the plug-in starts `iic-inpaint serve` from here."
        )
        self.program.editingFinished.connect(
            lambda: plugin_settings.set_iic_inpaint_path(self.program.text())
        )
        return self.program

    def _on_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setValue(0)
        for row in self.regions:
            row.refresh()

    def _on_progress(self, text: str, fraction: float) -> None:
        self.status.setText(text)
        self.progress.setValue(round(fraction * PROGRESS_STEPS))

    def canvasChanged(self, canvas: object) -> None:
        for row in self.regions:
            row.refresh()
