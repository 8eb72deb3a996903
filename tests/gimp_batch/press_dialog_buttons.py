"""Answer GIMP dialogs under Xvfb by their buttons' mnemonics, for tests/test_gimp_plugin.py.

    python3 press_dialog_buttons.py TITLE TIMEOUT_S KEY [KEY ...]

For each KEY (e.g. "o" for _OK, "c" for _Cancel) waits for a top-level window named TITLE,
focuses it and sends Alt+KEY, then waits for the window to go. The KEY "undo" instead waits
for run_scenarios.py to write UNDO_REQUEST (the text its image window's title contains),
sends Ctrl+Z to that window and deletes the file. Needs only libX11 (ctypes): the
root has no xdotool or XTest. GTK only takes these synthetic events when GIMP runs with
GDK_CORE_DEVICE_EVENTS=1 (core X events instead of XInput2). Exits 1 on a timeout.
"""

import ctypes
import os
import sys
import time

Window = ctypes.c_ulong
KEY_PRESS, KEY_RELEASE = 2, 3
KEY_PRESS_MASK, KEY_RELEASE_MASK = 1, 2
CONTROL_MASK, MOD1_MASK = 4, 8  # Ctrl, Alt
UNDO_KEY = "undo"
UNDO_REQUEST = "/tmp/iic-gimp-undo-request"  # as in run_scenarios.py
REVERT_TO_PARENT = 2
POLL_S = 0.2
SETTLE_S = 1.0  # let GTK finish mapping the dialog before it gets keys
MAX_TITLE_BYTES = 4096


class XKeyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("root", Window),
        ("subwindow", Window),
        ("time", ctypes.c_ulong),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("x_root", ctypes.c_int),
        ("y_root", ctypes.c_int),
        ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint),
        ("same_screen", ctypes.c_int),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xkey", XKeyEvent), ("pad", ctypes.c_long * 24)]


# Xlib's default error handler ends the process. A window can go between XQueryTree and
# the reading of its title (GIMP's splash or a plug-in's window closing): a BadWindow then
# killed this presser, no key came, and GIMP waited on its dialog until the test's watchdog
# (300 s) — the GUI test's hang. Such a window is simply not the one wanted.
X_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
IGNORE_X_ERRORS = X_ERROR_HANDLER(lambda display, error: 0)  # kept alive for Xlib


def load_xlib():
    xlib = ctypes.cdll.LoadLibrary("libX11.so.6")
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSetErrorHandler.argtypes = [X_ERROR_HANDLER]
    xlib.XSetErrorHandler(IGNORE_X_ERRORS)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = Window
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XQueryTree.argtypes = [
        ctypes.c_void_p,
        Window,
        ctypes.POINTER(Window),
        ctypes.POINTER(Window),
        ctypes.POINTER(ctypes.POINTER(Window)),
        ctypes.POINTER(ctypes.c_uint),
    ]
    xlib.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XGetWindowProperty.argtypes = [
        ctypes.c_void_p,
        Window,
        ctypes.c_ulong,
        ctypes.c_long,
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
    ]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    xlib.XSetInputFocus.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_ulong]
    xlib.XStringToKeysym.restype = ctypes.c_ulong
    xlib.XStringToKeysym.argtypes = [ctypes.c_char_p]
    xlib.XKeysymToKeycode.restype = ctypes.c_ubyte
    xlib.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XSendEvent.argtypes = [
        ctypes.c_void_p,
        Window,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(XEvent),
    ]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return xlib


def top_level_windows(xlib, display):
    """(window, title) of each top-level window; the title as UTF-8 bytes."""
    root, parent = Window(), Window()
    children, count = ctypes.POINTER(Window)(), ctypes.c_uint()
    xlib.XQueryTree(
        display,
        xlib.XDefaultRootWindow(display),
        ctypes.byref(root),
        ctypes.byref(parent),
        ctypes.byref(children),
        ctypes.byref(count),
    )
    return [(children[i], window_title(xlib, display, children[i])) for i in range(count.value)]


def window_title(xlib, display, window):
    """_NET_WM_NAME, else WM_NAME: XFetchName misses titles outside Latin-1, as an image
    window's, which ends in " – GIMP" (an en dash)."""
    utf8 = xlib.XInternAtom(display, b"UTF8_STRING", 0)
    kind, size, items, remaining = (
        ctypes.c_ulong(),
        ctypes.c_int(),
        ctypes.c_ulong(),
        ctypes.c_ulong(),
    )
    data = ctypes.POINTER(ctypes.c_ubyte)()
    status = xlib.XGetWindowProperty(
        display,
        window,
        xlib.XInternAtom(display, b"_NET_WM_NAME", 0),
        0,
        MAX_TITLE_BYTES // 4,
        0,
        utf8,
        ctypes.byref(kind),
        ctypes.byref(size),
        ctypes.byref(items),
        ctypes.byref(remaining),
        ctypes.byref(data),
    )
    if status == 0 and data:
        title = ctypes.string_at(data, items.value)
        xlib.XFree(data)
        if title:
            return title
    name = ctypes.c_char_p()
    return name.value if xlib.XFetchName(display, window, ctypes.byref(name)) else b""


def find_window(xlib, display, title, whole=True):
    wanted = title.encode()
    for window, name in top_level_windows(xlib, display):
        if name == wanted if whole else wanted in name:
            return window
    return None


def wait_for(predicate, deadline, what):
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"press_dialog_buttons: timed out waiting for {what}")
        time.sleep(POLL_S)


def press(xlib, display, window, key, modifiers):
    xlib.XSetInputFocus(display, window, REVERT_TO_PARENT, 0)
    xlib.XSync(display, 0)
    keycode = xlib.XKeysymToKeycode(display, xlib.XStringToKeysym(key.encode()))
    root = xlib.XDefaultRootWindow(display)
    for kind, mask in ((KEY_PRESS, KEY_PRESS_MASK), (KEY_RELEASE, KEY_RELEASE_MASK)):
        event = XEvent()
        event.xkey = XKeyEvent(
            type=kind,
            send_event=1,
            display=display,
            window=window,
            root=root,
            x=1,
            y=1,
            x_root=1,
            y_root=1,
            state=modifiers,
            keycode=keycode,
            same_screen=1,
        )
        xlib.XSendEvent(display, window, 1, mask, ctypes.byref(event))
        xlib.XSync(display, 0)


def main():
    title, timeout_s, keys = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    xlib = load_xlib()
    display = xlib.XOpenDisplay(None)
    if not display:
        sys.exit("press_dialog_buttons: cannot open the display")
    deadline = time.monotonic() + timeout_s
    for key in keys:
        if key == UNDO_KEY:
            press_undo(xlib, display, deadline)
            continue
        dialog = None
        while dialog is None:  # a dialog that went while settling is waited for again
            wait_for(lambda: find_window(xlib, display, title), deadline, f"the {title!r} dialog")
            time.sleep(SETTLE_S)
            dialog = find_window(xlib, display, title)
        press(xlib, display, dialog, key, MOD1_MASK)
        print(f"pressed Alt+{key} in {title!r}", flush=True)
        wait_for(lambda: not find_window(xlib, display, title), deadline, "the dialog to close")


def press_undo(xlib, display, deadline):
    wait_for(lambda: os.path.exists(UNDO_REQUEST), deadline, "a request to undo")
    with open(UNDO_REQUEST, encoding="utf-8") as stream:
        title_part = stream.read()
    wait_for(
        lambda: find_window(xlib, display, title_part, whole=False),
        deadline,
        f"an image window titled with {title_part!r}",
    )
    press(xlib, display, find_window(xlib, display, title_part, whole=False), "z", CONTROL_MASK)
    print(f"pressed Ctrl+Z in the window titled with {title_part!r}", flush=True)
    os.remove(UNDO_REQUEST)


main()
