"""Describe the machine a benchmark ran on (CPU model and cores, or the GPU), for results files."""
from __future__ import annotations

import os
import platform
import re
import subprocess


def describe() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        if m:
            cpu = m.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import torch

    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} using {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    else:
        text += "; no GPU"
    return text


def slug() -> str:
    import torch

    if torch.cuda.is_available():
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-")
    return f"cpu{os.cpu_count()}"
