#!/bin/bash
# run_in_gui.sh KEY... - run run_scenarios.py in GIMP's GUI (under Xvfb) instead of
# gimp-console, answering each "Remove Object" dialog with Alt+KEY (o = OK, c = Cancel), or
# pressing Ctrl+Z in an image window when run_scenarios.py asks (KEY "undo").
# Runs inside the editors root; env as for run_scenarios.py. Exit status: GIMP's, or 1 when
# a dialog never came.
set -u
here=$(dirname "$0")
Xvfb :7 -screen 0 1280x1024x24 -nolisten tcp -nolisten local > /tmp/xvfb.log 2>&1 &
for _ in $(seq 100); do [ -e /tmp/.X11-unix/X7 ] && break; sleep 0.1; done
export DISPLAY=:7 GDK_CORE_DEVICE_EVENTS=1  # see press_dialog_buttons.py
python3 "$here/press_dialog_buttons.py" "Remove Object" 240 "$@" &
presser=$!
gimp-3.0 --no-splash --quit -d -f --batch-interpreter python-fu-eval \
  -b "exec(open(\"$here/run_scenarios.py\").read())" &
gimp=$!
# A presser that gave up leaves GIMP waiting on a dialog: end it now, not at the watchdog.
if ! wait "$presser"; then
  echo "run_in_gui.sh: the dialog presser failed; stopping GIMP" >&2
  kill "$gimp"
  exit 1
fi
wait "$gimp"
