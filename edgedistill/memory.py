"""Peak resident memory of this process, for the benchmark workers (standard library only)."""

from __future__ import annotations

import resource


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started.

    ru_maxrss survives execve, so a worker started by a big parent (``edgedistill run`` holds models
    in memory) would report the parent's peak; VmHWM belongs to the new address space only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
