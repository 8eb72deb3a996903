"""The data flows one way (STYLE.md): plug-in → client → daemon → engine → networks. These
checks read the imports of every module, so a shortcut across the layers fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The networks may use each other, their config, and the patch replacement of Eq. 5–6 that
# the guided upsampler is trained through; tiling and every other inference step live above.
NETWORK_IMPORTS = ("iic_engine.networks", "iic_engine.model_config", "iic_engine.patch_replacement")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("path", _modules("iic_engine/networks"), ids=lambda p: p.name)
def test_a_network_module_holds_the_network_only(path: Path) -> None:
    engine = {name for name in _imports(path) if _within(name, ("iic_engine",))}
    assert all(_within(name, NETWORK_IMPORTS) for name in engine), engine


def _forbidden(path: Path, prefixes: tuple[str, ...]) -> set[str]:
    return {name for name in _imports(path) if _within(name, prefixes)}


def test_inference_never_imports_training_or_evaluation() -> None:
    for path in _modules("iic_engine"):
        if path.relative_to(ROOT / "iic_engine").parts[0] in ("training", "evaluation"):
            continue
        bad = _forbidden(path, ("iic_engine.training", "iic_engine.evaluation"))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_client_needs_no_engine_torch_or_numpy() -> None:
    for path in _modules("iic_client"):
        bad = _forbidden(path, ("iic_engine", "backend", "torch", "numpy", "iic_cli"))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_engine_knows_nothing_of_the_daemon_the_client_or_the_editors() -> None:
    for path in _modules("iic_engine"):
        bad = _forbidden(path, ("backend", "iic_client", "iic_cli", "zmq", "krita", "gi"))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_daemon_knows_the_engine_through_its_public_entry_point_only() -> None:
    for path in _modules("backend"):
        deep = {name for name in _imports(path) if name.startswith("iic_engine.")}
        assert not deep, f"{path.relative_to(ROOT)} imports {deep}"
