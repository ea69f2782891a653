"""Where Backbone Lens keeps its files, and which device it computes on."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

CACHE_ENV = "BACKBONE_LENS_CACHE"


def cache_root() -> Path:
    """The cache folder: ``$BACKBONE_LENS_CACHE`` or ``~/.cache/backbone-lens``."""
    env = os.environ.get(CACHE_ENV)
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "backbone-lens"
    return root


def default_device() -> torch.device:
    """CUDA when available, else CPU (``BACKBONE_LENS_DEVICE`` overrides)."""
    env = os.environ.get("BACKBONE_LENS_DEVICE")
    if env:
        return resolve_device(env, source="BACKBONE_LENS_DEVICE")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(spec: str | torch.device | None, *, source: str = "--device") -> torch.device:
    """The device ``spec`` names (None: :func:`default_device`), checked against what this machine has: an
    unknown name, a CUDA device on a machine without one (or past its count) or an absent MPS is one sentence."""
    from core.foundation.errors import BackboneLensError

    if spec is None:
        return default_device()
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise BackboneLensError(f"{source} {spec!r} is not a device name; use cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise BackboneLensError(f"{source} asks for {spec}, but this machine has no CUDA GPU that torch can use; "
                                    "use cpu.")
        if dev.index is not None and dev.index >= n:
            raise BackboneLensError(f"{source} asks for {spec}, but this machine has {n} CUDA device"
                                    f"{'s' if n != 1 else ''} (cuda:0{f' to cuda:{n - 1}' if n > 1 else ''}).")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise BackboneLensError(f"{source} asks for mps, but this machine has no Apple GPU; use cpu.")
    elif dev.type != "cpu":
        raise BackboneLensError(f"{source} {spec!r}: Backbone Lens runs on cpu, cuda or mps, not {dev.type}.")
    return dev


# ----------------------------------------------------------------------------- CPU threads

THREADS_ENV = "BACKBONE_LENS_THREADS"


@dataclass(frozen=True)
class ThreadChoice:
    """How many intra-op threads torch gets for a training run, and why: ``n`` threads; ``cores`` physical cores
    this process may use; ``busy`` cores kept busy by other processes when measured (None: not measured);
    ``source`` "requested" (``--threads`` or the setting), "env" (``$BACKBONE_LENS_THREADS``) or "auto"."""

    n: int
    cores: int
    busy: float | None
    source: str

    def describe(self) -> str:
        """One line for progress and records: "1 thread of 2 physical cores, 1.0 busy with other work"."""
        what = f"{self.n} thread{'s' if self.n != 1 else ''}"
        if self.source != "auto":
            return f"{what}, {'set by ' + THREADS_ENV if self.source == 'env' else 'as asked'}"
        busy = "" if self.busy is None else f", {self.busy:.1f} busy with other work"
        return f"{what} of {self.cores} physical core{'s' if self.cores != 1 else ''}{busy}"

    def to_json(self) -> dict:
        return {"threads": self.n, "physical_cores": self.cores, "busy_cores": self.busy, "source": self.source,
                "line": self.describe()}


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads of one core count once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = list(range(os.cpu_count() or 1))
    cores = set()
    for c in cpus:
        try:
            sib = Path(f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list").read_text().strip()
        except OSError:
            sib = str(c)
        cores.add(sib)
    return max(1, len(cores))


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            vals = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0.0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user
    return total - idle, total


def busy_cores(window: float = 0.25) -> float | None:
    """Cores kept busy by *other* processes: the machine's CPU use over ``window`` seconds while this process
    sleeps (/proc/stat), else the 1-minute load average; None when neither can be read."""
    a = _cpu_times()
    if a is not None:
        mine0 = time.process_time()
        time.sleep(window)
        b = _cpu_times()
        mine = time.process_time() - mine0
        if b is not None and b[1] > a[1]:
            n_cpu = os.cpu_count() or 1
            share = (b[0] - a[0]) / (b[1] - a[1])
            return max(0.0, share * n_cpu - mine / window)
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def choose_threads(requested: int | None = None) -> ThreadChoice:
    """Intra-op threads for training: ``requested`` when given (≥ 1), else ``$BACKBONE_LENS_THREADS`` (the
    setting), else the physical cores minus those other processes keep busy (at least 1). On a loaded machine more threads than
    free cores make torch's threads wait for each other: fine-tuning ran 4–16× slower with the default."""
    from core.foundation.errors import BackboneLensError

    cores = physical_cores()
    if requested is not None:
        if int(requested) < 1:
            raise BackboneLensError(f"The number of threads must be at least 1, got {requested}.")
        return ThreadChoice(int(requested), cores, None, "requested")
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise BackboneLensError(f"{THREADS_ENV}={env!r} is not a number of threads (a whole number ≥ 1).")
        return ThreadChoice(int(env), cores, None, "env")
    busy = busy_cores()
    free = cores if busy is None else cores - int(round(busy))
    return ThreadChoice(max(1, min(cores, free)), cores, None if busy is None else round(busy, 2), "auto")


_ANALYSIS_THREADS: dict[str, Any] = {}


def use_analysis_threads(max_age: float = 30.0) -> ThreadChoice:
    """Give torch the intra-op threads :func:`choose_threads` picks (the setting, else the physical cores other
    processes leave free) for the analyses of this process, re-measured at most every ``max_age`` seconds. On a
    loaded 2-core machine torch's default of one thread per core made a tiny model's attack 12× slower (61 s
    against 4.9 s with one thread): its threads wait for each other while other processes hold the cores."""
    now = time.monotonic()
    env = os.environ.get(THREADS_ENV, "").strip()
    last = _ANALYSIS_THREADS.get("choice")
    if last is None or now - _ANALYSIS_THREADS["at"] > max_age or _ANALYSIS_THREADS.get("env") != env:
        last = choose_threads(None)
        _ANALYSIS_THREADS.update(choice=last, at=now, env=env)
    if torch.get_num_threads() != last.n:
        torch.set_num_threads(last.n)
    return last


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
