"""Brian2 code-generation targets: C++ standalone, CUDA standalone and runtime.

One function, :func:`activate`, selects a target before a network is built.
Standalone targets write a project directory, compile it once and re-run the
binary with new values (``device.run(run_args=...)``); the runtime target
generates Cython and runs inside this process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

DEVICES = ("cpu", "cuda", "runtime")


def _curand_dirs(build_dir: Path) -> tuple[str, str]:
    """Return (include dir, library dir) of cuRAND from the nvidia-curand wheel.

    The wheel ships ``libcurand.so.10`` without the ``libcurand.so`` link that
    ``-lcurand`` needs, so a link is made inside the build directory.
    """
    import importlib.util

    candidates = []
    for pkg in ("nvidia.cu13", "nvidia.curand"):
        try:
            spec = importlib.util.find_spec(pkg)
        except ModuleNotFoundError:
            spec = None
        if spec is not None and spec.submodule_search_locations:
            candidates.extend(Path(p) for p in spec.submodule_search_locations)
    for root in candidates:
        include = root / "include"
        libs = sorted((root / "lib").glob("libcurand.so*"))
        if (include / "curand.h").exists() and libs:
            link_dir = build_dir / "_curand_lib"
            link_dir.mkdir(parents=True, exist_ok=True)
            link = link_dir / "libcurand.so"
            if not link.exists():
                link.symlink_to(libs[0])
            return str(include), str(link_dir)
    cuda_home = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))
    if (cuda_home / "include" / "curand.h").exists():
        return str(cuda_home / "include"), str(cuda_home / "lib64")
    raise RuntimeError(
        "cuRAND headers not found: install the test extra (pip install "
        "'hebbsim[test]', which brings nvidia-curand) or set CUDA_HOME to a CUDA "
        "toolkit that has include/curand.h"
    )


def activate(
    device: str,
    *,
    directory: str | os.PathLike[str],
    threads: int | None = None,
    compute_capability: float | None = None,
) -> None:
    """Select the Brian2 target for the next network.

    Parameters
    ----------
    device : {"cpu", "cuda", "runtime"}
        ``"cpu"``: C++ standalone; ``"cuda"``: brian2cuda's CUDA standalone;
        ``"runtime"``: Cython code run inside this process (interactive work).
    directory : path
        Project directory of a standalone build.
    threads : int, optional
        OpenMP threads of the C++ standalone target (``None`` or 0: one thread,
        no OpenMP).
    compute_capability : float, optional
        CUDA target architecture when no GPU is present to detect it (e.g. 9.0).
        Given, it also switches off GPU detection, so the CUDA code can be
        generated and compiled on a machine without a GPU.

    Raises
    ------
    ValueError
        For an unknown device or a negative thread count.
    """
    import brian2

    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if threads is not None and threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads!r}")

    # A previous standalone build in this process leaves its device active;
    # reinit gives every build a clean slate.
    brian2.device.reinit()
    brian2.prefs.reset_to_defaults()
    brian2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O3", "-march=native"]
    if device == "runtime":
        brian2.set_device("runtime")
        brian2.prefs.codegen.target = "cython"
        return
    directory = Path(directory)
    if device == "cpu":
        brian2.prefs.devices.cpp_standalone.openmp_threads = int(threads or 0)
        if threads and threads > 1:
            logger.warning(
                "threads=%d: OpenMP runs this network slower than one thread "
                "(per-step barriers, results/benchmarks.md); use threads=0",
                threads,
            )
        # FIXME: OpenMP does not pay at this grain. Each time step runs ~10
        # parallel regions of ~1 us of work each, and their barriers cost more:
        # K = 2000 ran at 326 presentations/s with two threads against 660 with
        # one (idle machine; 11/s with OMP_WAIT_POLICY=PASSIVE, 5/s with spinning
        # threads under load). Fusing the per-step work into one region, or
        # parallelising over independent presentations, would fix it.
        brian2.set_device(
            "cpp_standalone", directory=str(directory), build_on_run=False
        )
        return

    # CUDA standalone. Importing brian2cuda registers the device.
    import brian2cuda  # noqa: F401

    backend = brian2.prefs.devices.cuda_standalone.cuda_backend
    if compute_capability is not None:
        backend.detect_gpus = False
        backend.gpu_id = 0
        backend.compute_capability = float(compute_capability)
        backend.cuda_runtime_version = 13.0
    # nvcc 13 needs C++17, brian2cuda's makefile still asks for C++11; the later
    # flag wins.
    backend.extra_compile_args_nvcc = ["-w", "-use_fast_math", "-std=c++17"]
    brian2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O3", "-std=c++17"]
    include, libdir = _curand_dirs(directory)
    brian2.prefs.codegen.cpp.include_dirs = [include]
    brian2.prefs.codegen.cpp.library_dirs = [libdir]
    brian2.prefs.codegen.cpp.runtime_library_dirs = [libdir]
    brian2.set_device("cuda_standalone", directory=str(directory), build_on_run=False)
    logger.debug("cuda_standalone with cuRAND from %s", libdir)
