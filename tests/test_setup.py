"""The set-up `make` builds: what every Python of the project's environment starts with."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_venv_starts_every_python_with_passive_openmp_waiting():
    """Spinning OpenMP threads make torch ~3x slower on a shared CPU, and the setting only
    works if it is in the environment before torch loads: `make setup` writes a .pth file so
    that it is, even in a script or notebook that imports torch first."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not running in the project's .venv (make setup writes the .pth file there)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", "import torch, os; print(os.environ.get('OMP_WAIT_POLICY'))"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == "PASSIVE"


def test_the_gpu_check_script_parses_and_names_its_stages():
    """Fails if scripts/device_check.sh (run by hand on a lent GPU machine) is not valid bash or
    lost one of its three stages: CUDA against the CPU, the bench, a paper-preset reproduction."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "device_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "tests/test_cuda.py" in text and "els bench --device cuda" in text and "'paper'" in text
