// The one doctest main shared by every kvshare test executable (library kvshare_doctest_main), so that
// each test does not recompile doctest's implementation.
//
// Compiled a second time with KVSHARE_DOCTEST_CUDA_MAIN=1 (library kvshare_doctest_cuda_main) for the
// CUDA tests: when no CUDA device can be used, it returns 77 before running anything, which ctest
// reports as SKIPPED (kvshare_add_cuda_test sets SKIP_RETURN_CODE 77).
#if defined(KVSHARE_DOCTEST_CUDA_MAIN)

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cuda_runtime_api.h>

#include <cstdio>

int main(int argc, char** argv) {
    int devices = 0;
    const cudaError_t status = cudaGetDeviceCount(&devices);
    if (status != cudaSuccess || devices == 0) {
        std::fprintf(stderr, "kvshare: no usable CUDA device (%s); skipping (exit 77)\n",
                     status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
        return 77;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
        std::fprintf(stderr, "kvshare: CUDA device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    }
    doctest::Context context(argc, argv);
    return context.run();
}

#else

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#endif
