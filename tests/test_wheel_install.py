"""The released package works with no source checkout, as a photographer installs it.

`python -m build` makes the sdist and builds the wheel from it; the wheel goes into a fresh
venv (torch pinned as in scripts/setup_venv.sh) in a temporary folder outside the checkout,
whose user folders (HOME, XDG_*) are that folder's own. From there `iic-inpaint
install-plugin gimp|krita --dest DIR` installs both plug-ins, the real GIMP 3 of the editors
root registers the procedure from DIR, and `iic-inpaint serve` plus `iic-inpaint remove
--daemon` remove the people from the README's example photo exactly as the checkout does.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from editors_root import in_editors, root_platform_tag, root_python_version, skip_reason
from PIL import Image
from shared_files import REPO

from iic_cli.plugin_installer import EDITOR_PLUGINS
from iic_client.connection_file import read_connection_file

pytestmark = pytest.mark.slow

# As scripts/setup_venv.sh and the README: the CPU wheel on disk, never a bare `torch`.
TORCH_REQUIREMENT = "torch==2.13.0"
PHOTO, HOLE = REPO / "examples" / "beach.jpg", REPO / "examples" / "beach_mask.png"
GIMP_PROCEDURE = "plug-in-iic-remove-object"
GIMP_MENU = "<Image>/Filters/Enhance"
GIMP_TIMEOUT_S = 300
DAEMON_START_TIMEOUT_S = 120
# What the GIMP of the editors root reports about the procedure, through its PDB.
GIMP_QUERY = """
import json
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp
pdb = Gimp.get_pdb()
found = {{"exists": bool(pdb.procedure_exists("{name}"))}}
if found["exists"]:
    procedure = pdb.lookup_procedure("{name}")
    found["menu_paths"] = list(procedure.get_menu_paths())
    found["menu_label"] = procedure.get_menu_label()
open("/w/procedure.json", "w").write(json.dumps(found))
"""
_GIMP_SKIP_REASON = skip_reason("gimp-console-3.0")


@dataclass(frozen=True)
class Release:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installation:
    """A fresh venv holding only the wheel and its dependencies, in a folder of its own."""

    folder: Path  # the working directory, HOME and XDG_* folders of every command run
    venv: Path
    env: dict[str, str]

    @property
    def program(self) -> Path:
        return self.venv / "bin" / "iic-inpaint"

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.program), *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = out.glob("iic_inpaint-*.tar.gz")
    (wheel,) = out.glob("iic_inpaint-*.whl")
    return Release(sdist, wheel)


def _user_environment(folder: Path, venv: Path) -> dict[str, str]:
    runtime = folder / "run"
    runtime.mkdir(mode=0o700)  # the client accepts only a private XDG_RUNTIME_DIR
    # nothing of this session's Python or user folders leaks in
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "XDG_", "VIRTUAL_ENV"))
    }
    return {
        **env,
        "HOME": str(folder),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_RUNTIME_DIR": str(runtime),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        # one torch thread for the daemon and the checkout's CLI alike: the CI machine has
        # two cores shared with other work
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="module")
def installed(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Installation:
    folder = tmp_path_factory.mktemp("wheel-user")
    assert not folder.resolve().is_relative_to(REPO.resolve())
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    installing = subprocess.run(
        [*pip, TORCH_REQUIREMENT, str(release.wheel)], capture_output=True, text=True
    )
    assert installing.returncode == 0, installing.stderr[-3000:]
    return Installation(folder, venv, _user_environment(folder, venv))


def _editor_python() -> tuple[str, str]:
    """The Python version and platform tag the plug-ins are installed for: the editors
    root's where it exists (GIMP there runs the plug-in), else this machine's."""
    if _GIMP_SKIP_REASON is None:
        return root_python_version(), root_platform_tag()
    return (
        f"{sys.version_info.major}.{sys.version_info.minor}",
        f"manylinux_2_28_{platform.machine()}",
    )


@pytest.fixture(scope="module")
def plugin_dirs(installed: Installation) -> dict[str, Path]:
    """Each editor's --dest, filled by the installed `iic-inpaint install-plugin`."""
    python_version, platform_tag = _editor_python()
    dirs = {
        "gimp": installed.folder / "gimp-profile" / "plug-ins",
        "krita": installed.folder / "krita-plugins",
    }
    for editor, dest in dirs.items():
        completed = installed.run(
            "install-plugin",
            editor,
            "--dest",
            str(dest),
            "--python-version",
            python_version,
            "--platform",
            platform_tag,
        )
        assert completed.returncode == 0, completed.stderr
        assert f"Installed the {editor} plug-in in {dest / EDITOR_PLUGINS[editor].folder}" in (
            completed.stdout
        )
    return dirs


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installation) -> None:
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import iic_cli; print(iic_cli.__file__)"],
        cwd=installed.folder,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.venv)


def test_the_sdist_carries_the_plugins_and_the_weights_the_wheel_is_built_from(
    release: Release,
) -> None:
    with tarfile.open(release.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    with zipfile.ZipFile(release.wheel) as wheel:
        wheel_names = set(wheel.namelist())
    for source in _plugin_source_files():
        relative = source.relative_to(REPO).as_posix()
        assert relative in names, relative
        assert f"iic_cli/editor_plugins/{relative.removeprefix('plugins/')}" in wheel_names
    weights = "iic_engine/weights/iic_inpaint.safetensors"
    assert weights in names and weights in wheel_names


def _plugin_source_files() -> list[Path]:
    return [
        path
        for path in sorted((REPO / "plugins").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and "vendor" not in path.parts
    ]


@pytest.mark.parametrize("editor", sorted(EDITOR_PLUGINS))
def test_install_plugin_from_the_wheel_copies_the_plugin_and_vendors_its_packages(
    plugin_dirs: dict[str, Path], editor: str
) -> None:
    plugin = EDITOR_PLUGINS[editor]
    source = REPO / "plugins" / editor
    installed = plugin_dirs[editor] / plugin.folder
    for path in _plugin_source_files():
        if path.is_relative_to(source / plugin.folder):
            copy = installed / path.relative_to(source / plugin.folder)
            assert copy.read_bytes() == path.read_bytes(), copy
    for name in plugin.companion_files:
        assert (plugin_dirs[editor] / name).read_bytes() == (source / name).read_bytes()
    for name in plugin.executable:
        assert (installed / name).stat().st_mode & 0o111 == 0o111, name
    for package in ("iic_client", "zmq", "msgpack"):
        assert (installed / "vendor" / package / "__init__.py").is_file(), package


def test_the_installed_plugins_start_the_wheels_own_daemon(
    installed: Installation, plugin_dirs: dict[str, Path]
) -> None:
    gimp_settings = plugin_dirs["gimp"] / EDITOR_PLUGINS["gimp"].folder / "settings.json"
    assert json.loads(gimp_settings.read_text()) == {"iic_inpaint_path": str(installed.program)}
    kritarc = (installed.folder / "config" / "kritarc").read_text()
    assert "[python]\nenable_iic_remove_object=true\n" in kritarc
    assert f"[iic_remove_object]\niic_inpaint_path={installed.program}\n" in kritarc


@pytest.mark.editors
@pytest.mark.skipif(_GIMP_SKIP_REASON is not None, reason=str(_GIMP_SKIP_REASON))
def test_gimp_registers_the_procedure_from_the_installed_folder(
    installed: Installation, plugin_dirs: dict[str, Path]
) -> None:
    work = installed.folder / "gimp-work"
    work.mkdir()
    (work / "query.py").write_text(GIMP_QUERY.format(name=GIMP_PROCEDURE))
    command = ["gimp-console-3.0", "-i", "--quit", "-d", "-f"]
    command += ["--batch-interpreter", "python-fu-eval", "-b", 'exec(open("/w/query.py").read())']
    binds = {plugin_dirs["gimp"].parent: "/gimp", work: "/w"}
    completed = in_editors(
        binds, {"GIMP3_DIRECTORY": "/gimp"}, command, work / "gimp.log", GIMP_TIMEOUT_S
    )
    log = (work / "gimp.log").read_text(errors="replace")
    assert completed.returncode == 0, log[-4000:]
    found = json.loads((work / "procedure.json").read_text())
    assert found["exists"], log[-4000:]
    assert found["menu_paths"] == [GIMP_MENU]
    assert found["menu_label"] == "Remove _Object…"


@pytest.fixture(scope="module")
def wheel_daemon(installed: Installation) -> Iterator[subprocess.Popen[bytes]]:
    """`iic-inpaint serve` of the installed wheel, with the engine's default limits (as
    `remove` uses them), found through the user's default connection file."""
    log = installed.folder / "serve-output.txt"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(installed.program), "serve", "--device", "cpu", "--engine-limits", "{}"],
            cwd=installed.folder,
            env=installed.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    connection_file = Path(installed.env["XDG_RUNTIME_DIR"]) / "iic-inpaint" / "daemon.json"
    try:
        _wait_for_daemon(process, connection_file, log)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_daemon(process: subprocess.Popen[bytes], connection_file: Path, log: Path) -> None:
    deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if read_connection_file(connection_file).pid == process.pid:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the daemon did not start:\n{log.read_text()}")


def test_serve_and_remove_from_the_wheel_fill_the_photo_as_the_checkout_does(
    installed: Installation, wheel_daemon: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # decoded once, here: the two environments' Pillow might decode the JPEG differently
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    photo_png = tmp_path / "beach.png"
    Image.fromarray(photo).save(photo_png)
    out = installed.folder / "beach-removed.png"
    removed = installed.run("remove", str(photo_png), str(HOLE), str(out), "--daemon")
    assert removed.returncode == 0, removed.stderr
    expected = tmp_path / "beach-removed-by-the-checkout.png"
    command = [sys.executable, "-m", "iic_cli.main", "remove", str(photo_png), str(HOLE)]
    subprocess.run(
        [*command, str(expected), "--device", "cpu"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=True,
        capture_output=True,
    )
    hole = np.asarray(Image.open(HOLE).convert("L")) > 0
    result = np.asarray(Image.open(out))
    np.testing.assert_array_equal(result, np.asarray(Image.open(expected)))
    np.testing.assert_array_equal(result[~hole], photo[~hole])
    assert np.abs(result[hole].astype(int) - photo[hole]).mean() > 10, "the people are still there"
