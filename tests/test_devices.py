"""Device targets: OpenMP threads agree with one thread; CUDA builds without a GPU.

The CUDA test generates the brian2cuda project and compiles it with nvcc for
compute capability 9.0 (Hopper), which takes minutes on two cores: it is marked
slow, and CI runs it. Running the compiled program needs a GPU; where none is
present that part is skipped with the reason.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

from hebbsim.models.params import LayerParams
from hebbsim.simulator.layer import BrianLayer

K, N = 10, 12


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(2)
    return rng.random((3, N)) * (rng.random((3, N)) > 0.3)


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(4).normal(size=(K, N))


def _gpu_present() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def test_openmp_threads_give_the_same_weights_as_one_thread(images, weights, tmp_path):
    params = LayerParams(K=K, k=2, settle_tau=60.0)
    order = np.array([0, 1, 2])
    results = []
    for threads in (0, 2):
        layer = BrianLayer(
            params,
            images,
            n_presentations=3,
            threads=threads,
            directory=tmp_path / f"omp{threads}",
        )
        results.append(layer.present(weights, order, eta_start=0.01, eta_end=0.0))
    (W1, log1), (W2, log2) = results

    np.testing.assert_allclose(W2, W1, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(log1.unit, log2.unit)


@pytest.fixture(scope="module")
def cuda_layer(images, tmp_path_factory):
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc (CUDA 13) not found: cannot compile the CUDA target")
    params = LayerParams(K=K, k=2, settle_tau=60.0)
    directory = tmp_path_factory.mktemp("cuda") / "project"
    gpu = _gpu_present()
    layer = BrianLayer(
        params,
        images,
        n_presentations=3,
        device="cuda",
        directory=directory,
        compute_capability=None if gpu else 9.0,
    )
    return layer, directory, gpu


@pytest.mark.slow
def test_cuda_standalone_generates_and_compiles_without_a_gpu(cuda_layer):
    layer, directory, gpu = cuda_layer

    binary = directory / "main"
    assert binary.exists() and os.access(binary, os.X_OK)
    kernels = sorted(p.name for p in (directory / "code_objects").glob("*.cu"))

    # Brian2 numbers code objects (_1, _2 ...) when a process builds several.
    def has(prefix: str) -> bool:
        return any(name.startswith(prefix) for name in kernels)

    assert has("synapses_post_codeobject"), kernels  # plasticity
    assert has("hidden_stateupdater_codeobject"), kernels
    assert has("to_pool_summed_variable_total_post_codeobject"), kernels
    if not gpu:
        assert "-arch=sm_90" in (directory / "makefile").read_text()


@pytest.mark.slow
def test_cuda_run_equals_cpu_run(cuda_layer, images, weights, tmp_path):
    layer, _, gpu = cuda_layer
    if not gpu:
        pytest.skip("compiled for sm_90; running it needs a GPU, none is present")
    order = np.array([0, 1, 2])
    W_cuda, _ = layer.present(weights, order, eta_start=0.01, eta_end=0.0)
    cpu = BrianLayer(
        layer.params, images, n_presentations=3, directory=tmp_path / "cpu"
    )
    W_cpu, _ = cpu.present(weights, order, eta_start=0.01, eta_end=0.0)
    np.testing.assert_allclose(W_cuda, W_cpu, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_runtime_device_gives_the_cpu_weights(images, weights, tmp_path):
    # Brian2's runtime target (Cython, in-process) runs the reference
    # formulation; it must end where the C++ standalone build ends.
    params = LayerParams(K=K, k=2, settle_tau=60.0)
    order = np.array([0, 1, 2])
    cpu = BrianLayer(params, images, n_presentations=3, directory=tmp_path / "cpu")
    W_cpu, log_cpu = cpu.present(weights, order, eta_start=0.01, eta_end=0.0)

    runtime = BrianLayer(params, images, n_presentations=3, device="runtime")
    W_rt, log_rt = runtime.present(weights, order, eta_start=0.01, eta_end=0.0)

    np.testing.assert_allclose(W_rt, W_cpu, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(log_rt.unit, log_cpu.unit)
