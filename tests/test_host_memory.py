"""host_memory.keep_freed_memory: glibc keeps NumPy's freed large arrays, so a step that
makes the same temporaries again takes no page faults; GPUGRAD_KEEP_HOST_MEMORY=1 makes it
at import.  Each case runs in a fresh process (the setting is process-wide)."""

import subprocess
import sys

import pytest

PROBE = """
import resource, sys, numpy
import gpugrad
from gpugrad import host_memory
if sys.argv[1] == "call":
    assert host_memory.keep_freed_memory() and host_memory.keep_freed_memory()  # idempotent
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():  # six 4 MiB temporaries made, written and freed, as a training step's
    arrays = [numpy.ones(1 << 20, numpy.float32) for _ in range(6)]
    return sum(float(a[-1]) for a in arrays)
for _ in range(3):
    step()
before = faults()
for _ in range(20):
    step()
print(host_memory.keeps_freed_memory(), (faults() - before) // 20)
"""


def _probe(mode: str, env_value=None):
    env = {"GPUGRAD_KEEP_HOST_MEMORY": env_value} if env_value is not None else {}
    import os

    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_kept_memory_comes_back_without_page_faults():
    kept, faults = _probe("call")
    assert kept and faults < 100  # 24 MiB is 6,144 pages: reused, not faulted again
    default_kept, default_faults = _probe("none")
    assert not default_kept and default_faults > 1000  # glibc's default hands it back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_the_environment_variable_keeps_it_at_import():
    assert _probe("none", "1")[0]
    assert not _probe("none", "0")[0]
