"""Names Krita knows the plug-in by: action, menu, shortcut, docker."""

ACTION_ID = "iic_remove_object"
ACTION_TEXT = "Remove object"
ACTION_MENU = "tools/scripts"
# Free in all of Krita 5.2's shortcut schemes (Ctrl+Alt+R aligns text in the text tool).
DEFAULT_SHORTCUT = "Ctrl+Alt+Shift+R"
DOCKER_ID = "iic_remove_object_docker"
DOCKER_TITLE = "Remove object"
