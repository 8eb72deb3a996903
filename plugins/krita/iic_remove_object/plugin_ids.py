"""Names Krita knows the plug-in by: action, menu, shortcut, docker."""

ACTION_ID = "iic_remove_object"
ACTION_TEXT = "Remove object"
ACTION_MENU = "tools/scripts"
DEFAULT_SHORTCUT = "Ctrl+Alt+R"
DOCKER_ID = "iic_remove_object_docker"
DOCKER_TITLE = "Remove object"
