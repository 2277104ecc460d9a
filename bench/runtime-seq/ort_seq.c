/*
 * ort_seq.c — ONNX Runtime's side of the sequence benchmark (bench/runtime-seq/run.sh), through
 * its C API with one thread: an LSTM step with the state passed in and out of every call, and
 * greedy generation re-feeding the whole context each step (ORT keeps no state).
 *
 *   ort_seq lstm lstm.onnx REPS
 *   ort_seq generate transformer.onnx TOKENS ROUNDS VOCABULARY
 *
 * Extends ../shared/anchors/ort_c/ort_bench.c (whose OrtApi slot table and probes it reuses)
 * to several inputs and int64 token inputs. Env ORT_LIB: libonnxruntime.so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- minimal own declarations ------------------------------------------ */
typedef struct OrtStatus OrtStatus;     /* all opaque */
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtValue OrtValue;
typedef struct OrtTypeInfo OrtTypeInfo;
typedef struct OrtTensorInfo OrtTensorInfo; /* tensor type-and-shape info */
typedef struct OrtAllocatorHdr OrtAllocatorHdr;

typedef struct {
    const void *(*GetApi)(uint32_t version);
    const char *(*GetVersionString)(void);
} ApiBase;
typedef const ApiBase *(*GetApiBaseFn)(void);

typedef void (*anyfn)(void);
static const anyfn *T; /* the OrtApi table */

/* slot indices */
enum {
    I_CreateStatus = 0, I_GetErrorCode = 1, I_GetErrorMessage = 2, I_CreateEnv = 3,
    I_CreateSession = 7, I_Run = 9, I_CreateSessionOptions = 10,
    I_SetSessionExecutionMode = 13, I_SetSessionGraphOptimizationLevel = 23,
    I_SetIntraOpNumThreads = 24, I_SetInterOpNumThreads = 25,
    I_SessionGetInputCount = 30, I_SessionGetOutputCount = 31,
    I_SessionGetInputTypeInfo = 33, I_SessionGetInputName = 36, I_SessionGetOutputName = 37,
    I_CreateTensorWithDataAsOrtValue = 49, I_GetTensorMutableData = 51,
    I_CastTypeInfoToTensorInfo = 55, I_GetDimensionsCount = 61, I_GetDimensions = 62,
    I_GetTensorTypeAndShape = 65, I_CreateCpuMemoryInfo = 69,
    I_AllocatorFree = 76, I_GetAllocatorWithDefaultOptions = 78,
    I_ReleaseEnv = 92, I_ReleaseStatus = 93, I_ReleaseMemoryInfo = 94, I_ReleaseSession = 95,
    I_ReleaseValue = 96, I_ReleaseTypeInfo = 98, I_ReleaseTensorInfo = 99,
    I_ReleaseSessionOptions = 100, I_GetAvailableProviders = 125, I_ReleaseAvailableProviders = 126
};
#define REQ_API_VERSION 13u /* all slots above exist in API v13 */

/* enum values */
#define LOG_WARNING 2
#define EXEC_SEQUENTIAL 0
#define OPT_ENABLE_ALL 99
#define ALLOC_ARENA 1
#define MEMTYPE_DEFAULT 0
#define ELEM_FLOAT 1

/* signatures */
typedef OrtStatus *(*CreateStatus_t)(int code, const char *msg);
typedef int (*GetErrorCode_t)(const OrtStatus *);
typedef const char *(*GetErrorMessage_t)(const OrtStatus *);
typedef OrtStatus *(*CreateEnv_t)(int level, const char *logid, OrtEnv **out);
typedef OrtStatus *(*CreateSession_t)(const OrtEnv *, const char *path, const OrtSessionOptions *, OrtSession **);
typedef OrtStatus *(*Run_t)(OrtSession *, const void *run_opts, const char *const *in_names,
                            const OrtValue *const *inputs, size_t n_in, const char *const *out_names,
                            size_t n_out, OrtValue **outputs);
typedef OrtStatus *(*CreateSessionOptions_t)(OrtSessionOptions **);
typedef OrtStatus *(*SetOptInt_t)(OrtSessionOptions *, int);
typedef OrtStatus *(*SessionGetCount_t)(const OrtSession *, size_t *);
typedef OrtStatus *(*SessionGetTypeInfo_t)(const OrtSession *, size_t, OrtTypeInfo **);
typedef OrtStatus *(*SessionGetName_t)(const OrtSession *, size_t, OrtAllocatorHdr *, char **);
typedef OrtStatus *(*CreateTensorWithData_t)(const OrtMemoryInfo *, void *data, size_t bytes, const int64_t *shape,
                                             size_t ndim, int elem_type, OrtValue **out);
typedef OrtStatus *(*GetTensorMutableData_t)(OrtValue *, void **);
typedef OrtStatus *(*CastTypeInfoToTensorInfo_t)(const OrtTypeInfo *, const OrtTensorInfo **);
typedef OrtStatus *(*GetDimensionsCount_t)(const OrtTensorInfo *, size_t *);
typedef OrtStatus *(*GetDimensions_t)(const OrtTensorInfo *, int64_t *, size_t);
typedef OrtStatus *(*GetTensorTypeAndShape_t)(const OrtValue *, OrtTensorInfo **);
typedef OrtStatus *(*CreateCpuMemoryInfo_t)(int alloc_type, int mem_type, OrtMemoryInfo **);
typedef OrtStatus *(*AllocatorFree_t)(OrtAllocatorHdr *, void *);
typedef OrtStatus *(*GetDefaultAllocator_t)(OrtAllocatorHdr **);
typedef void (*Release_t)(void *);
typedef OrtStatus *(*GetAvailableProviders_t)(char ***, int *);
typedef OrtStatus *(*ReleaseAvailableProviders_t)(char **, int);

#define F(type, idx) ((type)T[idx])
#define RELEASE(idx, p) (((Release_t)T[idx])((void *)(p)))

static void check(OrtStatus *st, const char *what) {
    if (!st) return;
    fprintf(stderr, "ORT error in %s (code %d): %s\n", what, F(GetErrorCode_t, I_GetErrorCode)(st),
            F(GetErrorMessage_t, I_GetErrorMessage)(st));
    RELEASE(I_ReleaseStatus, st);
    exit(1);
}
#define CHECK(call) check((call), #call)


#define ELEM_INT64 7

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static OrtSession *open_session(OrtEnv *env, const char *path) {
    OrtSessionOptions *so = NULL;
    CHECK(F(CreateSessionOptions_t, I_CreateSessionOptions)(&so));
    CHECK(F(SetOptInt_t, I_SetIntraOpNumThreads)(so, 1));
    CHECK(F(SetOptInt_t, I_SetInterOpNumThreads)(so, 1));
    CHECK(F(SetOptInt_t, I_SetSessionExecutionMode)(so, EXEC_SEQUENTIAL));
    CHECK(F(SetOptInt_t, I_SetSessionGraphOptimizationLevel)(so, OPT_ENABLE_ALL));
    OrtSession *sess = NULL;
    CHECK(F(CreateSession_t, I_CreateSession)(env, path, so, &sess));
    RELEASE(I_ReleaseSessionOptions, so);
    return sess;
}

/* LSTM one step at batch 1: x, h, c in; y, h', c' out (h and c shuttled through every call,
 * ping-pong between two preallocated pairs). Median µs per call. */
static void bench_lstm(OrtEnv *env, const char *path, int reps) {
    enum { H = 256 };
    OrtSession *sess = open_session(env, path);
    OrtMemoryInfo *mi = NULL;
    CHECK(F(CreateCpuMemoryInfo_t, I_CreateCpuMemoryInfo)(ALLOC_ARENA, MEMTYPE_DEFAULT, &mi));
    static float x[H], y[H], h[2][H], c[2][H];
    for (int i = 0; i < H; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    int64_t shape[3] = {1, 1, H};
    OrtValue *xv, *yv, *hv[2], *cv[2];
    CHECK(F(CreateTensorWithData_t, I_CreateTensorWithDataAsOrtValue)(mi, x, sizeof x, shape, 3, ELEM_FLOAT, &xv));
    CHECK(F(CreateTensorWithData_t, I_CreateTensorWithDataAsOrtValue)(mi, y, sizeof y, shape, 3, ELEM_FLOAT, &yv));
    for (int k = 0; k < 2; k++) {
        CHECK(F(CreateTensorWithData_t, I_CreateTensorWithDataAsOrtValue)(mi, h[k], sizeof h[k], shape, 3, ELEM_FLOAT, &hv[k]));
        CHECK(F(CreateTensorWithData_t, I_CreateTensorWithDataAsOrtValue)(mi, c[k], sizeof c[k], shape, 3, ELEM_FLOAT, &cv[k]));
    }
    const char *in_names[3] = {"x", "h0", "c0"}, *out_names[3] = {"y", "hn", "cn"};
    Run_t run = F(Run_t, I_Run);
    double *t = malloc(sizeof(double) * reps);
    int warm = reps / 10 < 20 ? 20 : reps / 10;
    for (int i = -warm; i < reps; i++) {
        int a = (i + warm) & 1;
        const OrtValue *ins[3] = {xv, hv[a], cv[a]};
        OrtValue *outs[3] = {yv, hv[1 - a], cv[1 - a]};
        double t0 = now_us();
        check(run(sess, NULL, in_names, ins, 3, out_names, 3, outs), "Run");
        double t1 = now_us();
        if (i >= 0) t[i] = t1 - t0;
    }
    qsort(t, reps, sizeof(double), cmp_d);
    printf("RESULT ort lstm256_step batch 1 median_us %.2f p10_us %.2f p90_us %.2f (y[0] %.5f)\n", t[reps / 2], t[reps / 10],
           t[reps * 9 / 10], (double)y[0]);
    free(t);
    RELEASE(I_ReleaseValue, xv); RELEASE(I_ReleaseValue, yv);
    for (int k = 0; k < 2; k++) { RELEASE(I_ReleaseValue, hv[k]); RELEASE(I_ReleaseValue, cv[k]); }
    RELEASE(I_ReleaseMemoryInfo, mi);
    RELEASE(I_ReleaseSession, sess);
}

/* Greedy generation of `count` tokens after token 0, stateless: every step re-feeds the whole
 * context [1, L] and reads the last row of the logits. Median tokens/s over `rounds`. */
static void bench_generate(OrtEnv *env, const char *path, int count, int rounds, int vocabulary) {
    OrtSession *sess = open_session(env, path);
    OrtMemoryInfo *mi = NULL;
    CHECK(F(CreateCpuMemoryInfo_t, I_CreateCpuMemoryInfo)(ALLOC_ARENA, MEMTYPE_DEFAULT, &mi));
    int64_t *tokens = calloc((size_t)count + 1, sizeof(int64_t));
    float *logits = malloc(sizeof(float) * (size_t)(count + 1) * (size_t)vocabulary);
    const char *in_names[1] = {"tokens"}, *out_names[1] = {"logits"};
    Run_t run = F(Run_t, I_Run);
    double *rate = malloc(sizeof(double) * (size_t)rounds);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_us();
        for (int n = 1; n <= count; n++) {
            int64_t shape[2] = {1, n}, oshape[3] = {1, n, vocabulary};
            OrtValue *tv, *lv;
            CHECK(F(CreateTensorWithData_t, I_CreateTensorWithDataAsOrtValue)(mi, tokens, sizeof(int64_t) * (size_t)n, shape, 2, ELEM_INT64, &tv));
            CHECK(F(CreateTensorWithData_t, I_CreateTensorWithDataAsOrtValue)(mi, logits, sizeof(float) * (size_t)n * (size_t)vocabulary, oshape, 3, ELEM_FLOAT, &lv));
            const OrtValue *ins[1] = {tv};
            OrtValue *outs[1] = {lv};
            check(run(sess, NULL, in_names, ins, 1, out_names, 1, outs), "Run");
            const float *last = logits + (size_t)(n - 1) * (size_t)vocabulary;
            int best = 0;
            for (int v = 1; v < vocabulary; v++) if (last[v] > last[best]) best = v;
            tokens[n] = best;
            RELEASE(I_ReleaseValue, tv);
            RELEASE(I_ReleaseValue, lv);
        }
        rate[r] = count * 1e6 / (now_us() - t0);
    }
    qsort(rate, (size_t)rounds, sizeof(double), cmp_d);
    printf("RESULT ort transformer_generate %d tokens median_tokens_per_s %.1f (re-feeding the context); tokens:", count, rate[rounds / 2]);
    for (int i = 1; i <= 16 && i <= count; i++) printf(" %lld", (long long)tokens[i]);
    printf("\n");
    free(rate); free(tokens); free(logits);
    RELEASE(I_ReleaseMemoryInfo, mi);
    RELEASE(I_ReleaseSession, sess);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s lstm MODEL.onnx REPS | %s generate MODEL.onnx TOKENS ROUNDS VOCABULARY\n", argv[0], argv[0]);
        return 2;
    }
    const char *lib = getenv("ORT_LIB");
    if (!lib) lib = "/tmp/anchors/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0";
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    GetApiBaseFn gab = (GetApiBaseFn)dlsym(h, "OrtGetApiBase");
    if (!gab) { fprintf(stderr, "dlsym OrtGetApiBase: %s\n", dlerror()); return 1; }
    const ApiBase *base = gab();
    T = (const anyfn *)base->GetApi(REQ_API_VERSION);
    if (!T) { fprintf(stderr, "GetApi(%u) returned NULL\n", REQ_API_VERSION); return 1; }
    OrtStatus *s = F(CreateStatus_t, I_CreateStatus)(2, "abi-probe-42");
    if (F(GetErrorCode_t, I_GetErrorCode)(s) != 2 || strcmp(F(GetErrorMessage_t, I_GetErrorMessage)(s), "abi-probe-42") != 0) {
        fprintf(stderr, "ORT API table probe failed\n");
        return 1;
    }
    RELEASE(I_ReleaseStatus, s);
    OrtEnv *env = NULL;
    CHECK(F(CreateEnv_t, I_CreateEnv)(LOG_WARNING, "ort_seq", &env));
    if (strcmp(argv[1], "lstm") == 0) {
        bench_lstm(env, argv[2], argc > 3 ? atoi(argv[3]) : 2000);
    } else if (strcmp(argv[1], "generate") == 0 && argc > 5) {
        bench_generate(env, argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    RELEASE(I_ReleaseEnv, env);
    return 0;
}
