/*
 * libFuzzer harness for the bundle loader of the Embedded-Swift runtime (built with
 * `swiftc -sanitize=fuzzer,address` by fuzz/build.sh, so the Swift code is instrumented).
 *
 * Each input: myelin_model_load_memory; on success every query of the C API, the
 * self-test, and a context run on zero inputs. While the input loads, the harness tracks
 * the heap (sanitizer allocation hooks) and aborts if the load's peak exceeds
 * 64 MiB + 2 x the sections' declared decoded size (issue 9's bound).
 *
 * The custom mutator repairs what a plain byte mutation breaks: it decodes a section
 * (inflating it), mutates the decoded bytes, and writes the bundle again with correct
 * sizes, offsets and CRCs (sometimes deflated again, sometimes stored); or it mutates the
 * raw file and then repairs the checksums; now and then it leaves a raw mutation as it is,
 * so the CRC checks themselves stay covered. MYELIN_FUZZ_RAW=1 turns it off (plain
 * libFuzzer mutations, to compare coverage).
 *
 * Built twice (fuzz/build.sh): bundle_fuzzer with AddressSanitizer, and bundle_fuzzer_fast
 * (MYELIN_FUZZ_FAST: coverage only, no heap tracking; for throughput in long runs).
 *
 * Environment: MYELIN_FUZZ_BUDGET_MB (myelin_set_memory_budget, default 512),
 * MYELIN_FUZZ_RAW.
 */
#include <myelin.h>
#if !MYELIN_FUZZ_FAST
#include <sanitizer/allocator_interface.h>
#endif
#include <stdio.h>

#include "bundle_format.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ---- Heap tracking during a load ---------------------------------------------------- */

static volatile int tracking = 0;
static long long heap_now = 0, heap_peak = 0;

#if !MYELIN_FUZZ_FAST
static void on_malloc(const volatile void *p, size_t size) {
    (void)p;
    if (!tracking) return;
    heap_now += (long long)size;
    if (heap_now > heap_peak) heap_peak = heap_now;
}

static void on_free(const volatile void *p) {
    if (!tracking || !p) return;
    heap_now -= (long long)__sanitizer_get_allocated_size((const void *)p);
}
#endif

static int raw_mode = 0;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *budget = getenv("MYELIN_FUZZ_BUDGET_MB");
    myelin_set_memory_budget((size_t)(budget ? atoll(budget) : 512) << 20);
    raw_mode = getenv("MYELIN_FUZZ_RAW") != NULL && strcmp(getenv("MYELIN_FUZZ_RAW"), "1") == 0;
#if !MYELIN_FUZZ_FAST
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
    return 0;
}

/* Every read-only query of a loaded model; the results must be consistent. */
static void query(const myelin_model *m) {
    size_t inputs = myelin_model_input_count(m), outputs = myelin_model_output_count(m);
    if (inputs < 1 || outputs < 1) abort();
    for (size_t pass = 0; pass < 2; pass++) {
        size_t n = pass ? outputs : inputs;
        for (size_t i = 0; i <= n; i++) {
            myelin_value_info info;
            myelin_status s = pass ? myelin_model_output_info(m, i, &info) : myelin_model_input_info(m, i, &info);
            if ((s == MYELIN_OK) != (i < n)) abort();
            if (s != MYELIN_OK) continue;
            size_t index = 99;
            s = pass ? myelin_model_find_output(m, info.name, &index) : myelin_model_find_input(m, info.name, &index);
            if (s != MYELIN_OK || index > i) abort();   /* names may repeat: the first one is found */
            if (info.rank > MYELIN_MAX_RANK) abort();
        }
    }
    int64_t dims[MYELIN_MAX_RANK];
    size_t rank;
    (void)myelin_model_input_shape(m, dims, MYELIN_MAX_RANK, &rank);
    (void)myelin_model_output_shape(m, dims, MYELIN_MAX_RANK, &rank);
    (void)myelin_model_input_size(m);
    (void)myelin_model_output_size(m);
    /* Labels: none, or one per class. */
    size_t classes = myelin_model_num_classes(m);
    int labelled = myelin_model_class_label(m, 0) != NULL;
    for (size_t i = 0; i <= classes && i < 4096; i++) {
        const char *label = myelin_model_class_label(m, i);
        if ((label != NULL) != (labelled && i < classes)) abort();
        if (label) (void)strlen(label);
    }
    (void)myelin_model_precision(m);
    size_t count = myelin_model_metadata_count(m);
    for (size_t i = 0; i <= count; i++) {
        const char *key = NULL, *value = NULL;
        myelin_status s = myelin_model_metadata_at(m, i, &key, &value);
        if ((s == MYELIN_OK) != (i < count)) abort();
        if (s != MYELIN_OK) continue;
        const char *again = NULL;
        if (myelin_model_metadata(m, key, &again) != MYELIN_OK || strcmp(again, value) != 0) abort();
    }
}

/* One run on zero inputs with a context for 2 samples, if its arena is small (≤ 8 MiB). */
static void run_once(const myelin_model *m) {
    size_t arena = 0;
    if (myelin_context_arena_size(m, 2, &arena) != MYELIN_OK || arena > (8u << 20)) return;
    myelin_context *c = NULL;
    if (myelin_context_create(m, 2, &c) != MYELIN_OK) return;
    size_t inputs = myelin_model_input_count(m), outputs = myelin_model_output_count(m);
    void **in = calloc(inputs, sizeof *in), **out = calloc(outputs, sizeof *out);
    int ok = in && out;
    for (size_t pass = 0; pass < 2 && ok; pass++) {
        size_t n = pass ? outputs : inputs;
        for (size_t i = 0; i < n && ok; i++) {
            myelin_value_info info;
            if ((pass ? myelin_model_output_info(m, i, &info) : myelin_model_input_info(m, i, &info)) != MYELIN_OK) abort();
            size_t bytes = 2 * info.count * 4 + 64;
            if (info.count > (16u << 20)) { ok = 0; break; }
            void *buffer = calloc(bytes, 1);
            if (!buffer) { ok = 0; break; }
            (pass ? out : in)[i] = buffer;
        }
    }
    if (ok) {
        myelin_status s = myelin_run_multi(c, 2, (const void *const *)in, out);
        if (s != MYELIN_OK) abort();   /* a loaded model and a valid context must run */
    }
    for (size_t i = 0; in && i < inputs; i++) free(in[i]);
    for (size_t i = 0; out && i < outputs; i++) free(out[i]);
    free(in);
    free(out);
    myelin_context_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bf_table table;
    long long declared = bf_parse(data, size, &table) ? (long long)bf_declared_bytes(&table) : 0;
    myelin_model *m = NULL;
    heap_now = heap_peak = 0;
    tracking = 1;
    myelin_status s = myelin_model_load_memory(data, size, &m);
    tracking = 0;
    long long bound = (64ll << 20) + 2 * declared;
    if (heap_peak > bound) {
        fprintf(stderr, "load peak %lld bytes exceeds 64 MiB + 2 x %lld declared\n", heap_peak, declared);
        abort();
    }
    if (s != MYELIN_OK) {
        if (m != NULL) abort();
        return 0;
    }
    query(m);
    myelin_status t = myelin_model_selftest(m);
    if (t != MYELIN_OK && t != MYELIN_ERR_NOT_FOUND && t != MYELIN_ERR_SELFTEST_FAILED && t != MYELIN_ERR_LIMIT_EXCEEDED &&
        t != MYELIN_ERR_OUT_OF_MEMORY)
        abort();
    run_once(m);
    myelin_model_free(m);
    return 0;
}

/* ---- Repairing mutator -------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Decodes section `i`, mutates its decoded bytes and writes the bundle again (into `data`). */
static size_t mutate_section(uint8_t *data, size_t size, size_t max_size, const bf_table *t, uint32_t i) {
    size_t logical_size = 0;
    uint8_t *logical = bf_decode(data, &t->s[i], max_size, &logical_size);
    if (!logical) return 0;
    uint8_t *grown = realloc(logical, max_size);
    if (!grown) { free(logical); return 0; }
    logical = grown;
    logical_size = LLVMFuzzerMutate(logical, logical_size, max_size);
    /* Stored mostly (the next mutation is cheap), sometimes deflated (the decoders run). */
    uint32_t r = next_random() % 8, encoding = r < 5 ? 0 : r < 7 ? 1 : 2;
    size_t stored_size = 0;
    uint8_t *stored = bf_encode(logical, logical_size, encoding, &stored_size);
    if (encoding == 2 && logical_size % 4) encoding = 0;
    size_t result = 0;
    if (stored) {
        bf_section s[BF_MAX_SECTIONS];
        const uint8_t *payloads[BF_MAX_SECTIONS];
        for (uint32_t j = 0; j < t->count; j++) {
            s[j] = t->s[j];
            payloads[j] = data + t->s[j].offset;
        }
        s[i].encoding = encoding;
        s[i].stored = stored_size;
        s[i].size = logical_size;
        uint8_t header[16];
        memcpy(header, data, 16);
        uint8_t *out = malloc(max_size);
        if (out) {
            result = bf_assemble(header, t->count, s, payloads, out, max_size);
            if (result) memcpy(data, out, result);
            free(out);
        }
        free(stored);
    }
    free(logical);
    (void)size;
    return result;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    if (raw_mode) return LLVMFuzzerMutate(data, size, max_size);
    rng_state = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1;
    bf_table t;
    uint32_t choice = next_random() % 16;
    if (choice >= 3 && bf_parse(data, size, &t)) {
        size_t n = mutate_section(data, size, max_size, &t, next_random() % t.count);
        if (n) return n;
    }
    size_t n = LLVMFuzzerMutate(data, size, max_size);
    if (choice != 0) bf_repair_checksums(data, n);   /* choice 0: the raw mutation, CRCs as they fall */
    return n;
}
