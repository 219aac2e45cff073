"""The wheel a user installs holds every file the product reads at run time (issue 23, item 16)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, str]:
    out = tmp_path_factory.mktemp("wheel")
    # a copy, so that setuptools' build/ and egg-info land outside the work tree
    source = tmp_path_factory.mktemp("source") / "minutebook"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "docs"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (path,) = out.glob("minutebook-*.whl")
    return zipfile.ZipFile(path), build.stdout + build.stderr


def test_the_wheel_holds_migrations_templates_static_files_and_prices(wheel: tuple[zipfile.ZipFile, str]) -> None:
    names = set(wheel[0].namelist())
    for source in [*ROOT.glob("sql/*.sql"), *ROOT.glob("api/templates/*.html"), *ROOT.glob("api/static/*")]:
        assert f"minutebook/{source.relative_to(ROOT)}" in names, source
    assert "minutebook/cache/prices.json" in names
    assert "minutebook/py.typed" in names


def test_the_wheel_holds_no_tests_or_benchmarks(wheel: tuple[zipfile.ZipFile, str]) -> None:
    names = wheel[0].namelist()
    assert not [n for n in names if n.startswith(("minutebook/tests/", "minutebook/bench/"))]


def test_building_says_nothing_about_ignored_packages(wheel: tuple[zipfile.ZipFile, str]) -> None:
    assert "would be ignored" not in wheel[1]
    assert "absent from the `packages` configuration" not in wheel[1]
