// Kernel timeline of any CUDA process, for GPU machines without Nsight Systems. The CUDA driver
// loads this library through CUDA_INJECTION64_PATH and calls InitializeInjection(); CUPTI's
// activity API then records every kernel (CUDA graph nodes included), memset and CUDA runtime call,
// and at exit they are written to $SPARQ_TRACE, one per line: start ns, end ns, demangled name
// ("[api] cudaGraphLaunch" for a runtime call, timed on the host).
// Built by scripts/device/e2e-cuda.sh with -DKERNEL_RECORD / -DMEMSET_RECORD naming the newest
// record structs of the toolkit's CUPTI (their names carry a version that changes between releases).
#include <cupti.h>
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>

static FILE * trace_file;
static const size_t buffer_bytes = 16u << 20;

static void CUPTIAPI on_buffer_requested(uint8_t ** buffer, size_t * size, size_t * max_records) {
    *buffer      = (uint8_t *) aligned_alloc(8, buffer_bytes);
    *size        = buffer_bytes;
    *max_records = 0;
}

static void CUPTIAPI on_buffer_completed(CUcontext, uint32_t, uint8_t * buffer, size_t, size_t valid) {
    CUpti_Activity * record = nullptr;
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
        if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
            const auto * k = (const KERNEL_RECORD *) record;
            int    status    = 0;
            char * demangled = abi::__cxa_demangle(k->name, nullptr, nullptr, &status);
            fprintf(trace_file, "%llu\t%llu\t%s\n", (unsigned long long) k->start, (unsigned long long) k->end,
                    status == 0 ? demangled : k->name);
            free(demangled);
        } else if (record->kind == CUPTI_ACTIVITY_KIND_RUNTIME) {
            const auto * api  = (const CUpti_ActivityAPI *) record;
            const char * name = nullptr;
            if (cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, api->cbid, &name) != CUPTI_SUCCESS || name == nullptr) {
                name = "unknown";
            }
            fprintf(trace_file, "%llu\t%llu\t[api] %s\n", (unsigned long long) api->start, (unsigned long long) api->end, name);
        } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
            const auto * m = (const MEMSET_RECORD *) record;
            fprintf(trace_file, "%llu\t%llu\t[memset]\n", (unsigned long long) m->start, (unsigned long long) m->end);
        }
    }
    free(buffer);
}

// runs before the driver's own exit handlers (registered earlier), while the records can be flushed
static void write_at_exit() {
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    fclose(trace_file);
}

extern "C" int InitializeInjection() {
    const char * path = getenv("SPARQ_TRACE");
    trace_file = fopen(path != nullptr ? path : "kernel-trace.tsv", "w");
    if (trace_file == nullptr) {
        return 0;
    }
    if (cuptiActivityRegisterCallbacks(on_buffer_requested, on_buffer_completed) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME) != CUPTI_SUCCESS) {
        fprintf(stderr, "kernel-trace: CUPTI activity recording could not be enabled\n");
        return 0;
    }
    atexit(write_at_exit);
    return 1;
}
