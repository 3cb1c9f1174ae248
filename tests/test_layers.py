"""The layer map of docs/architecture.md, checked: imports point down, the pure core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bridge"

# Lower numbers are lower layers. A module may import its own folder and any lower layer.
PURE = ("bridge.core", "bridge.text", "bridge.qwen.protocol", "bridge.qwen.events")
PURE += ("bridge.qwen.config", "bridge.qwen.models", "bridge.qwen.regions")
RANKS: tuple[tuple[str, int], ...] = (
    *((name, 0) for name in PURE),
    ("bridge.logs", 0),  # redaction and structlog helpers; configured only by entry points
    ("bridge.qwen", 1),
    ("bridge.adapters.openai_client", 1),  # the openai factory, also used by bridge.local
    ("bridge.adapters", 2),
    ("bridge.local", 2),
    ("bridge.pipeline", 3),
    ("bridge.integrations", 4),  # adapters for other frameworks (Pipecat, LiveKit)
    # The test kit re-exports the emulator (bridge.local) and its pytest plugin builds a
    # TTSTarget (bridge.pipeline) for users' tests; nothing of bridge imports it.
    ("bridge.testing", 4),
    ("bridge.server", 4),
    ("bridge.commands", 5),
    ("bridge.cli", 6),
    ("bridge.__main__", 7),
    ("bridge", 7),  # the public surface re-exports everything
)
IO_LIBRARIES = ("anyio", "websockets", "openai", "httpx", "socket", "asyncio")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> tuple[str, int]:
    for prefix, rank in RANKS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, rank
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    folder, rank = _layer(module)
    for name in _imports(path):
        if name != "bridge" and not name.startswith("bridge."):
            continue
        if name == "bridge" and module != "bridge":
            raise AssertionError(f"{module} imports the public surface 'bridge' (import upward)")
        target_folder, target_rank = _layer(name)
        assert target_rank < rank or target_folder == folder or target_rank == 0, (
            f"{module} (layer {folder}) imports {name} (layer {target_folder}): upward or sideways"
        )


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _layer(_module_name(p))[0] in PURE], ids=_module_name
)
def test_pure_core_does_no_io(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in IO_LIBRARIES, f"{_module_name(path)} imports {name}"


def test_nothing_of_bridge_imports_the_test_kit() -> None:
    for path in MODULES:
        module = _module_name(path)
        if _layer(module)[0] == "bridge.testing":
            continue
        for name in _imports(path):
            assert not name.startswith("bridge.testing"), f"{module} imports {name}"
