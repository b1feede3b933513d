# fake_gpu.sh — sourced by the GPU integration tests after tests/integration/lib.sh.
#   fake_gpu_setup   puts the CUDA test doubles where programs look for NVIDIA's libraries:
#                    $MF_TMP/fakegpu/{libcuda.so.1,libcudart.so.12,libnvidia-ml.so.1} on
#                    LD_LIBRARY_PATH, and FAKE_CUDART naming the runtime double.
# The doubles are configured with FAKE_CUDA_DEVICES and FAKE_CUDA_MEM (see tests/lib/fake_cuda.c).
fake_gpu_setup() {
    local d=$MF_TMP/fakegpu
    for l in fake_cuda fake_cudart fake_nvml; do
        [ -f "$MF_TLIB/$l.so" ] || skip "test double $MF_TLIB/$l.so not built (make test-bins)"
    done
    [ -x "$MF_PROGS/cuda_alloc" ] || skip "test programs not built (make test-bins)"
    mkdir -p "$d"
    ln -sf "$MF_TLIB/fake_cuda.so" "$d/libcuda.so.1"
    ln -sf "$MF_TLIB/fake_cudart.so" "$d/libcudart.so.12"
    ln -sf "$MF_TLIB/fake_nvml.so" "$d/libnvidia-ml.so.1"
    export LD_LIBRARY_PATH=$d FAKE_CUDART=$d/libcudart.so.12 FAKE_CUDA_MEM=${FAKE_CUDA_MEM:-1G}
}
