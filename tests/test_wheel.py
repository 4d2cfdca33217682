"""The package as a user installs it: a built wheel (and an editable install) outside the repo.

Nothing is downloaded: pip builds with the setuptools already installed (--no-build-isolation,
--no-index) and the fresh venvs see the installed dependencies (--system-site-packages) but
not the repository (no PYTHONPATH; every command runs from a folder outside it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_LABEL = (
    ROOT / "data" / "spl" / "0e3ad0ba-2114-498a-8849-911bbfe9173a_v1.xml"
)  # 16 paragraphs, 4 classes
PIP_OFFLINE = ("--no-deps", "--no-index", "--no-build-isolation", "--quiet")

pytestmark = pytest.mark.slow


def _run(args, cwd, timeout=120):
    """Run a command outside the repository with no PYTHONPATH; fail the test on non-zero."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def _source_copy(tmp_path: Path) -> Path:
    """The files a wheel is built from, copied so the build leaves nothing in the repository."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("adme", "sql"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    return src


def _venv(path: Path) -> Path:
    """A fresh venv seeing the installed dependencies; returns its bin folder."""
    _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", path], path.parent
    )
    return path / "bin"


def _fetch_and_report(bin_dir: Path, workdir: Path) -> str:
    """`adme fetch` one shipped label then `adme report class_balance`, run from WORKDIR."""
    workdir.mkdir()
    db = workdir / "adme.duckdb"
    fetched = _run([bin_dir / "adme", "fetch", "--from", SHIPPED_LABEL, "--db", db], workdir)
    assert "fetched 1," in fetched and "paragraphs added 16" in fetched, fetched
    return _run([bin_dir / "adme", "report", "class_balance", "--db", db, "-f", "csv"], workdir)


def _assert_class_balance(csv_text: str) -> None:
    """The shipped label's paragraphs by rule label (so the schema and the report SQL ran)."""
    rows = dict(line.split(",")[:2] for line in csv_text.strip().splitlines()[1:])
    assert rows == {"other": "7", "absorption": "5", "unlabelled": "3", "distribution": "1"}


def test_wheel_ships_sql_and_runs_fetch_and_report_outside_the_repo(tmp_path):
    src = _source_copy(tmp_path)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", src, "-w", dist, *PIP_OFFLINE], tmp_path)
    (wheel,) = dist.glob("adme-*.whl")
    bin_dir = _venv(tmp_path / "venv")
    python = bin_dir / "python"
    _run([python, "-m", "pip", "install", "--ignore-installed", *PIP_OFFLINE, wheel], tmp_path)
    shutil.rmtree(src)  # the installed wheel must not lean on the files it was built from
    where = _run(
        [python, "-c", "import adme.store as s; print(s.__file__); print(s.sql_dir())"], tmp_path
    ).split()
    assert all(str(tmp_path / "venv") in w for w in where), where
    _assert_class_balance(_fetch_and_report(bin_dir, tmp_path / "elsewhere"))


def test_editable_install_reads_the_checkout_sql(tmp_path):
    src = _source_copy(tmp_path)
    bin_dir = _venv(tmp_path / "venv")
    python = bin_dir / "python"
    _run([python, "-m", "pip", "install", "--ignore-installed", *PIP_OFFLINE, "-e", src], tmp_path)
    where = _run([python, "-c", "import adme.store as s; print(s.sql_dir())"], tmp_path).strip()
    assert where == str(src / "sql")
    _assert_class_balance(_fetch_and_report(bin_dir, tmp_path / "elsewhere"))
