"""IIC Inpaint's "Remove object" plug-in for Krita 5.

The network packages (iic_client, pyzmq, msgpack) come from this folder's `vendor/`, put
there by `iic-inpaint install-plugin krita`; when they are missing the action only says
what to run.
"""

from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita

from .action_file import install_action_file
from .plugin_ids import DOCKER_ID
from .vendored_packages import add_vendor_dir_to_path, missing_packages_message

add_vendor_dir_to_path()
install_action_file()

try:
    from .docker import RemoveObjectDocker
    from .extension import RemoveObjectExtension
except ImportError as import_error:
    from .missing_packages import MissingPackagesExtension

    Krita.instance().addExtension(
        MissingPackagesExtension(Krita.instance(), missing_packages_message(import_error))
    )
else:
    Krita.instance().addExtension(RemoveObjectExtension(Krita.instance()))
    Krita.instance().addDockWidgetFactory(
        DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, RemoveObjectDocker)
    )
