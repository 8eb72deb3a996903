"""Putting the action's `.action` file where Krita reads a script action's shortcut.

Krita 5.2 drops a shortcut set from code (QAction.setShortcut) as soon as a document opens,
and reads the shortcuts of script actions only from `.action` files in its resource folder's
`actions/`, once, at start-up (measured in 5.2.9). Krita's "Import Python Plugin from File"
puts `iic_remove_object.action` there from the zip; for every other install the plug-in
copies it there itself on each start, so the shortcut holds from the next start on.
"""

from __future__ import annotations

from pathlib import Path

from krita import Krita

from .plugin_ids import ACTION_ID, DEFAULT_SHORTCUT

ACTION_FILE = Path(__file__).resolve().parent / f"{ACTION_ID}.action"


def install_action_file() -> None:
    """Copy ACTION_FILE into `<resource folder>/actions/` unless the same file is there."""
    target = Path(Krita.instance().getAppDataLocation()) / "actions" / ACTION_FILE.name
    try:
        shipped = ACTION_FILE.read_bytes()
        if target.is_file() and target.read_bytes() == shipped:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shipped)
    except OSError as error:
        print(
            f"IIC Inpaint: could not copy {ACTION_FILE} to {target} ({error}); the shortcut "
            f"{DEFAULT_SHORTCUT} may not hold once an image is open.",
            flush=True,
        )
