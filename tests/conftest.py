"""Shared pytest setup: real-kernel scenario fixtures and the ``root`` marker.

Tests marked ``@pytest.mark.root`` skip with a reason unless run as root; the scenario helpers
in :mod:`kernel_scenarios` additionally skip when the machine lacks /dev/kmsg, loop devices,
FUSE or an mkfs. CI runs as root, so there they all run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ has no __init__.py; make "import kernel_scenarios" work whatever the rootdir/importmode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import kernel_scenarios as ks

REAL_DATA = Path(__file__).resolve().parent / "data" / "real"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mounts, /dev/kmsg writes)")


@pytest.fixture
def kmsg_tail() -> Iterator[ks.KmsgTail]:
    """A /dev/kmsg reader positioned at the end: sees only records logged during the test."""
    with ks.KmsgTail() as tail:
        yield tail


@pytest.fixture
def ext4_fs() -> Iterator[ks.LoopFilesystem]:
    """A fresh loop-mounted ext4 with errors=remount-ro."""
    with ks.loop_filesystem("ext4", "errors=remount-ro") as fs:
        yield fs


@pytest.fixture
def real_data_dir() -> Path:
    """tests/data/real: kernel logs captured from real failures (see its README.md)."""
    return REAL_DATA
