"""Running real editors in the trixie root of ../shared/editors against a daemon on the host.

Shared by the editor plug-in tests: where the root is, why a test must skip, running a command
inside it, the root's Python (for the installer's wheels), and the daemon's connection file
as a process inside the root must see it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from shared_files import SHARED

EDITORS_DIR = Path(os.environ.get("IIC_EDITORS_DIR", SHARED / "editors"))
EDITORS_ROOT = Path(os.environ.get("EDITORS_ROOT", "/opt/editors-trixie"))
IN_EDITORS = EDITORS_DIR / "in-editors.sh"
# The client's default connection-file folder for root inside the root (XDG_RUNTIME_DIR).
ROOT_CONNECTION_DIR = "/run/user/0/iic-inpaint"


def skip_reason(editor_program: str) -> str | None:
    """Why tests of `editor_program` (a file under the root's /usr/bin) cannot run here."""
    if not (EDITORS_ROOT / "usr/bin" / editor_program).exists():
        return (
            f"no {editor_program} in an editors root at {EDITORS_ROOT}: build it with "
            "`sudo shared/editors/setup-trixie-editors.sh` (see shared/editors/README.md)"
        )
    if not IN_EDITORS.exists():
        return f"{IN_EDITORS} is missing (set IIC_EDITORS_DIR)"
    if os.geteuid() != 0:
        return "in-editors.sh needs root (chroot and namespaces)"
    return None


def in_editors(
    binds: dict[Path, str],
    env: dict[str, str],
    command: list[str],
    log: Path,
    timeout_s: float,
) -> subprocess.CompletedProcess[bytes]:
    """Run `command` in the root with `binds` (host → inside) and `env`, output to `log`."""
    args = [str(IN_EDITORS)]
    for host, inside in binds.items():
        args += ["-b", f"{host}:{inside}"]
    for name, value in env.items():
        args += ["-e", f"{name}={value}"]
    with log.open("wb") as output:
        # SIGKILL on timeout: in-editors.sh holds SIGTERM back until its command ends
        return subprocess.run(
            [*args, "timeout", "-s", "KILL", str(int(timeout_s)), *command],
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=timeout_s + 30,
        )


def root_python_version() -> str:
    found = subprocess.run(
        [str(IN_EDITORS), "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def root_platform_tag() -> str:
    # Debian trixie has glibc 2.41: any manylinux_2_28 wheel (and older, pip expands) runs.
    return f"manylinux_2_28_{platform.machine()}"


def root_connection_dir(connection_file: Path, directory: Path) -> Path:
    """A folder holding the daemon's connection file as a process in the root must see it.

    in-editors.sh runs the editor in its own PID namespace, where the daemon's PID does not
    exist and the client would call the daemon stopped; PID 1 there is the namespace's init,
    alive for the whole run. Everything else (endpoint, secret) is the daemon's own."""
    info = json.loads(connection_file.read_text(encoding="utf-8"))
    info["pid"] = 1
    directory.mkdir(mode=0o700)
    target = directory / connection_file.name
    target.write_text(json.dumps(info), encoding="utf-8")
    target.chmod(0o600)
    return directory
