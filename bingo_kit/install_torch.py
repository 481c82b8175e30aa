"""Install PyTorch the way a school laptop can afford: the CPU-only build where one exists for this platform.

On Linux x86-64 the default PyTorch wheels from PyPI bundle CUDA: about 5 GB in the virtual environment, of
which a classroom laptop (no NVIDIA GPU) uses nothing. PyTorch's own CPU index serves builds of a few hundred
MB. On macOS, Windows and Linux ARM the PyPI wheels are already CPU-only, so there is nothing to choose.

Run by `make setup` before requirements.txt (`python bingo_kit/install_torch.py`); standard library only,
because nothing else is installed yet. When the CPU index cannot be reached (an offline mirror, a school
proxy that only allows PyPI), it says so and lets the next step install the default build from PyPI.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import time

CPU_INDEX = os.environ.get("BINGO_TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")
PACKAGES = ["torch", "torchvision"]
# torch and torchvision must be built for each other: a mismatched pair imports, then fails on first use
SMOKE_TEST = ("import torch, torchvision; "
              "torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5); print(torch.__version__)")
# give up on an unreachable index quickly: one try, a short wait per connection
QUICK_FAIL = ["--retries", "0", "--timeout", "15"]


def cpu_build_exists_for_this_platform() -> bool:
    return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")


def main() -> int:
    if importlib.util.find_spec("torch") is not None:
        print("PyTorch is already installed in this environment.")
        return 0
    if not cpu_build_exists_for_this_platform() or os.environ.get("BINGO_TORCH_CPU_INDEX") == "":
        print("PyTorch: the default build from PyPI is CPU-only on this platform; requirements.txt installs it.")
        return 0
    print(f"PyTorch: trying the CPU-only build ({CPU_INDEX}), a few hundred MB instead of about 5 GB ...",
          flush=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "pip", "install", "--index-url", CPU_INDEX, *QUICK_FAIL, *PACKAGES]
    installed = subprocess.run(command).returncode == 0
    works = installed and subprocess.run([sys.executable, "-c", SMOKE_TEST]).returncode == 0
    seconds = time.monotonic() - started
    if works:
        print(f"PyTorch: CPU-only build installed in {seconds:.0f} s.")
        return 0
    if installed:  # e.g. a local mirror paired a CPU torch with a torchvision built for another torch
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", *PACKAGES])
    print(f"PyTorch: the CPU-only build could not be installed ({seconds:.0f} s spent); the next step installs the "
          "default build from PyPI instead (larger, but it works the same on a CPU).", flush=True)
    return 0  # never fatal: the default build is the fallback


if __name__ == "__main__":
    raise SystemExit(main())
