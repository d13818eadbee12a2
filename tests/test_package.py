"""Packaging: the sub-packages live under `earlyexp`, never as top-level modules."""
from __future__ import annotations

import subprocess
import sys


def run(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)


def test_import_paths(tmp_path):
    ok = run("import earlyexp.envs, earlyexp.agents, earlyexp.experience, earlyexp.training",
             tmp_path)
    assert ok.returncode == 0, ok.stderr
    for leaked in ("envs", "agents", "experience", "training"):
        result = run(f"import {leaked}", tmp_path)
        assert result.returncode != 0, f"`import {leaked}` must not work after install"


def test_console_script_help():
    bin_dir = __import__("pathlib").Path(sys.executable).parent
    out = subprocess.run([bin_dir / "earlyexp", "help"], capture_output=True, text=True)
    assert out.returncode == 0 and "collect" in out.stdout
