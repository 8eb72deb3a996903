"""Messages to the user on the canvas, never in a modal box (it would block Krita)."""

from __future__ import annotations

import sys

from krita import Krita
from PyQt5.QtGui import QIcon

MESSAGE_DURATION_MS = 6000
# showFloatingMessage's priority: 1 = medium, shown over low-priority hints.
MESSAGE_PRIORITY = 1


def show_message(text: str) -> None:
    window = Krita.instance().activeWindow()
    view = window.activeView() if window is not None else None
    if view is not None:
        view.showFloatingMessage(text, QIcon(), MESSAGE_DURATION_MS, MESSAGE_PRIORITY)
    # Krita's stdout is ASCII under a C locale: a message must not fail for its "▸".
    encoding = sys.stdout.encoding or "ascii"
    line = f"IIC Inpaint: {text}".encode(encoding, "backslashreplace").decode(encoding)
    print(line, flush=True)
