"""The one-way import rule of docs/ARCHITECTURE.md, read from the source: each part of seg_perception
imports only parts below it, rclpy only under ros/, and nothing imports training/."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seg_perception"
#: Bottom to top; a part may import the parts of lower layers (and itself), never those of its own or higher.
LAYERS = [
    {"labels", "size", "files", "models", "navigation"},
    {"metrics", "checkpoint", "frame_confidence"},
    {"reports", "inference"},
    {"node"},
    {"bags"},
    {"predict", "ros"},
]
LAYER = {part: index for index, parts in enumerate(LAYERS) for part in parts}
ROS_MODULES = {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "nav_msgs", "geometry_msgs", "vision_msgs",
               "rcl_interfaces", "builtin_interfaces"}


def part_of(path: Path) -> str:
    """seg_perception/<part>/... or seg_perception/<part>.py -> <part>."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports(path: Path) -> list[str]:
    """Absolute names of what ``path`` imports (relative imports resolved)."""
    module = ["seg_perception", *path.relative_to(PACKAGE).with_suffix("").parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module[:len(module) - node.level] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names += [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
    return names


SOURCES = sorted(path for path in PACKAGE.rglob("*.py") if path.name != "__init__.py" or path.parent != PACKAGE)


def test_every_part_has_a_layer():
    assert {part_of(path) for path in SOURCES} == set(LAYER)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down(path):
    part = part_of(path)
    for name in imports(path):
        top, *rest = name.split(".")
        assert top != "training", f"{name}: the runtime package never imports training/"
        if top in ROS_MODULES:
            assert part == "ros", f"{name}: only seg_perception/ros/ imports ROS"
        if top == "seg_perception" and rest and rest[0] != part:
            target = rest[0]
            assert LAYER[target] < LAYER[part], f"{part} imports {name}, which is not below it"
