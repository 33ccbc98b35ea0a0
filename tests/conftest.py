"""Setup for the whole test session: one JAX persistent compilation cache, shared and then thrown away.

Many tests compile the same small programs again: in-process tests that build the same tiny trainer
with a fresh closure, and the ``phalanx`` subprocesses that CLI, resume and fault tests start. JAX's
persistent cache keys a compiled program by its HLO, so each distinct program compiles once per
session. The cache lives in a temporary directory made by the first process of the session (the
only one, or pytest-xdist's controller); worker processes and every subprocess a test starts
inherit it through the environment. It never touches the user's own cache and is deleted when the
session ends. A loaded executable is the same compiled code, so results stay bit for bit the same
(the resume tests compare a resumed run with an uninterrupted one).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

_SESSION_CACHE = "PHALANX_TEST_JAX_CACHE"  # set by the process that made (and removes) the cache

if _SESSION_CACHE not in os.environ:
    _cache = tempfile.mkdtemp(prefix="phalanx-test-jax-cache-")
    os.environ[_SESSION_CACHE] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ[_SESSION_CACHE]
# Cache every program: most of these are small, and a second compile of even a small one costs more
# than reading it back.
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
# No size bound: a bound turns on JAX's file lock and a scan of every entry on each write, which made the
# suite under xdist half again as slow. Unlocked, two processes may write the same entry at once; a reader
# that meets a half-written one fails to deserialise it, warns and compiles the program itself.
# Test programs are small and run briefly, so compiling is most of their time: without LLVM's optimisations
# it is quicker (XLA's own HLO passes still run; a 2-worker run of 8 modules took 130 s instead of 162 s, and
# 118 s without LLVM's expensive passes too). Runs compared in a test compile alike; subprocesses inherit it.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
                               " --xla_llvm_disable_expensive_passes=true").strip()
if "jax" in sys.modules:  # a plugin imported JAX before this file: its settings are already read
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ[_SESSION_CACHE])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

