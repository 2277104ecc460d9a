/*
 * Deterministic sweeps over real bundles, against the release runtime (libmyelin.a):
 *
 *   bundle_sweep flips [--quick] FILE...
 *     Every truncation of each bundle must be refused. Every single-byte change (all 255
 *     other values of every byte; --quick: the 8 single-bit flips) must be refused, or be
 *     harmless: the model then loads with the same signature as the original (inputs,
 *     outputs, labels, metadata, precision, and bit-identical outputs on fixed inputs).
 *     A change that loads with a different signature is "accepted-corrupt". Originals must
 *     load and pass their self-test.
 *
 *   bundle_sweep bound FILE_OR_DIR...
 *     Issue 9's bound: no input under 1 MB makes a load take more than 100 ms (best of 3,
 *     CPU time) or allocate at its peak more than 64 MiB + 2 x the declared decoded size
 *     of its sections. The heap is measured by interposing malloc and friends.
 *
 * Ends with one line "sweep: ... failures N" and exits 1 if N > 0.
 */
#define _GNU_SOURCE
#include <myelin.h>

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "bundle_format.h"

/* ---- Heap accounting: the executable's malloc family wraps glibc's ------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static long long heap_now = 0, heap_peak = 0;

static void *counted(void *p) {
    if (p) {
        heap_now += (long long)malloc_usable_size(p);
        if (heap_now > heap_peak) heap_peak = heap_now;
    }
    return p;
}
void *malloc(size_t n) { return counted(__libc_malloc(n)); }
void *calloc(size_t a, size_t b) { return counted(__libc_calloc(a, b)); }
void free(void *p) {
    if (p) heap_now -= (long long)malloc_usable_size(p);
    __libc_free(p);
}
void *realloc(void *p, size_t n) {
    long long before = p ? (long long)malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0) heap_now -= before;
    return counted(q);
}
void *memalign(size_t a, size_t n) { return counted(__libc_memalign(a, n)); }
void *aligned_alloc(size_t a, size_t n) { return counted(__libc_memalign(a, n)); }
int posix_memalign(void **out, size_t a, size_t n) {
    void *p = counted(__libc_memalign(a, n));
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

/* ---- Files -------------------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* ---- Signature of a loaded model ---------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}
static uint64_t fnv_str(uint64_t h, const char *s) { return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "\xff", 1); }

static uint64_t signature(const myelin_model *m) {
    uint64_t h = 0xCBF29CE484222325ull;
    size_t counts[2] = {myelin_model_input_count(m), myelin_model_output_count(m)};
    h = fnv(h, counts, sizeof counts);
    void **buffers[2] = {calloc(counts[0], sizeof(void *)), calloc(counts[1], sizeof(void *))};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < counts[pass]; i++) {
            myelin_value_info v;
            if ((pass ? myelin_model_output_info(m, i, &v) : myelin_model_input_info(m, i, &v)) != MYELIN_OK) return 0;
            h = fnv_str(h, v.name);
            h = fnv(h, &v.dtype, sizeof v.dtype);
            h = fnv(h, &v.rank, sizeof v.rank);
            h = fnv(h, v.dims, sizeof v.dims);
            h = fnv(h, &v.scale, sizeof v.scale);
            h = fnv(h, &v.zero_point, sizeof v.zero_point);
            size_t bytes = 2 * v.count * 4;
            uint8_t *b = calloc(bytes ? bytes : 1, 1);
            /* Fixed inputs: a byte pattern, as floats in [-2, 2) or as u8. */
            for (size_t e = 0; pass == 0 && e < 2 * v.count; e++) {
                if (v.dtype == MYELIN_DTYPE_F32) ((float *)b)[e] = (float)((e * 2654435761u) % 4096) / 1024.0f - 2.0f;
                else if (v.dtype == MYELIN_DTYPE_U8) b[e] = (uint8_t)(e * 37);
            }
            buffers[pass][i] = b;
        }
    }
    h = fnv(h, (int[]){(int)myelin_model_precision(m)}, sizeof(int));
    size_t classes = myelin_model_num_classes(m);
    for (size_t i = 0; i < classes; i++) h = fnv_str(h, myelin_model_class_label(m, i));
    size_t meta = myelin_model_metadata_count(m);
    for (size_t i = 0; i < meta; i++) {
        const char *k = NULL, *v = NULL;
        myelin_model_metadata_at(m, i, &k, &v);
        h = fnv_str(fnv_str(h, k), v);
    }
    myelin_context *c = NULL;
    myelin_status s = myelin_context_create(m, 2, &c);
    if (s == MYELIN_OK) s = myelin_run_multi(c, 2, (const void *const *)buffers[0], buffers[1]);
    h = fnv(h, &s, sizeof s);
    for (size_t i = 0; s == MYELIN_OK && i < counts[1]; i++) {
        myelin_value_info v;
        myelin_model_output_info(m, i, &v);
        h = fnv(h, buffers[1][i], 2 * v.count * (v.dtype == MYELIN_DTYPE_U8 ? 1 : 4));
    }
    myelin_context_free(c);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < counts[pass]; i++) free(buffers[pass][i]);
        free(buffers[pass]);
    }
    return h;
}

/* ---- flips -------------------------------------------------------------------------- */

static long long failures = 0;

/* The control that shows the signature tells models apart: the bundle with one byte of a
 * decoded section changed (DATA's middle byte, else META's last) and every size and CRC
 * repaired must load with a different signature. */
static int control_detected(const uint8_t *good, size_t size, uint64_t want) {
    bf_table t;
    if (!bf_parse(good, size, &t)) return 0;
    static const uint32_t kinds[2] = {0x41544144u /* DATA */, 0x4154454Du /* META */};
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < t.count; i++) {
            if (t.s[i].kind != kinds[k]) continue;
            size_t n = 0;
            uint8_t *logical = bf_decode(good, &t.s[i], 1u << 30, &n);
            if (!logical || n == 0) { free(logical); continue; }
            logical[k == 0 ? n / 2 : n - 1] ^= 0x01;
            bf_section s[BF_MAX_SECTIONS];
            const uint8_t *payloads[BF_MAX_SECTIONS];
            for (uint32_t j = 0; j < t.count; j++) { s[j] = t.s[j]; payloads[j] = good + t.s[j].offset; }
            s[i].encoding = 0;
            s[i].stored = s[i].size = n;
            payloads[i] = logical;
            size_t cap = size + n + 64 * BF_MAX_SECTIONS;
            uint8_t *out = malloc(cap);
            size_t total = bf_assemble(good, t.count, s, payloads, out, cap);
            myelin_model *m = NULL;
            int detected = total && myelin_model_load_memory(out, total, &m) == MYELIN_OK && signature(m) != want;
            myelin_model_free(m);
            free(out);
            free(logical);
            if (detected) return 1;
        }
    }
    return 0;
}

static void sweep(const char *path, int quick, long long totals[6]) {
    size_t size = 0;
    uint8_t *good = read_file(path, &size);
    myelin_model *m = NULL;
    if (!good || myelin_model_load_memory(good, size, &m) != MYELIN_OK) {
        printf("FAIL %s: the original does not load\n", path);
        failures++;
        free(good);
        return;
    }
    myelin_status st = myelin_model_selftest(m);
    if (st != MYELIN_OK && st != MYELIN_ERR_NOT_FOUND) {
        printf("FAIL %s: the original's self-test gives %s\n", path, myelin_status_string(st));
        failures++;
    }
    uint64_t want = signature(m);
    myelin_model_free(m);
    if (!control_detected(good, size, want)) {
        printf("FAIL %s: a repaired one-byte change of DATA or META is not told apart (the check would miss corruption)\n", path);
        failures++;
    }
    long long truncations = 0, truncations_accepted = 0, flips = 0, checksum = 0, refused = 0, harmless = 0, corrupt = 0;
    for (size_t n = 0; n < size; n++) {
        truncations++;
        if (myelin_model_load_memory(good, n, &m) == MYELIN_OK) {
            truncations_accepted++;
            printf("FAIL %s: truncated to %zu bytes loads\n", path, n);
            myelin_model_free(m);
        }
    }
    uint8_t *b = malloc(size);
    memcpy(b, good, size);
    for (size_t i = 0; i < size; i++) {
        for (int v = 1; v < 256; v++) {
            uint8_t x = quick ? (uint8_t)(1u << (v - 1)) : (uint8_t)v;
            if (quick && v > 8) break;
            b[i] = good[i] ^ x;
            flips++;
            myelin_status s = myelin_model_load_memory(b, size, &m);
            if (s == MYELIN_ERR_CHECKSUM) checksum++;
            else if (s != MYELIN_OK) refused++;
            else {
                if (signature(m) == want) harmless++;
                else {
                    corrupt++;
                    printf("FAIL %s: byte %zu ^ 0x%02x loads as a different model\n", path, i, x);
                }
                myelin_model_free(m);
            }
        }
        b[i] = good[i];
    }
    free(b);
    free(good);
    failures += truncations_accepted + corrupt;
    printf("%s: %lld truncations (%lld accepted), %lld byte changes: %lld checksum, %lld other refusal, %lld harmless, "
           "%lld accepted-corrupt\n", path, truncations, truncations_accepted, flips, checksum, refused, harmless, corrupt);
    long long add[6] = {truncations, truncations_accepted, flips, checksum + refused, harmless, corrupt};
    for (int k = 0; k < 6; k++) totals[k] += add[k];
}

/* ---- bound -------------------------------------------------------------------------- */

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long long bound_files = 0, bound_loaded = 0;
static double worst_ms = 0, worst_ratio = 0;
static char worst_ms_path[1024], worst_ratio_path[1024];

static void bound_one(const char *path) {
    size_t size = 0;
    uint8_t *b = read_file(path, &size);
    if (!b || size >= (1u << 20)) { free(b); return; }
    bf_table t;
    long long declared = bf_parse(b, size, &t) ? (long long)bf_declared_bytes(&t) : 0;
    double best = 1e9;
    long long peak = 0;
    for (int r = 0; r < 3; r++) {
        myelin_model *m = NULL;
        long long base = heap_now;
        heap_peak = heap_now;
        double t0 = cpu_seconds();
        myelin_status s = myelin_model_load_memory(b, size, &m);
        double dt = cpu_seconds() - t0;
        if (dt < best) best = dt;
        if (heap_peak - base > peak) peak = heap_peak - base;
        if (r == 0 && s == MYELIN_OK) bound_loaded++;
        myelin_model_free(m);
        if (best < 0.01) break;   /* fast enough: no need to repeat */
    }
    bound_files++;
    double ms = 1000 * best, limit = (double)(64ll << 20) + 2.0 * (double)declared;
    double ratio = (double)peak / limit;
    if (ms > worst_ms) { worst_ms = ms; snprintf(worst_ms_path, sizeof worst_ms_path, "%s", path); }
    if (ratio > worst_ratio) { worst_ratio = ratio; snprintf(worst_ratio_path, sizeof worst_ratio_path, "%s", path); }
    if (ms > 100) { printf("FAIL %s: load takes %.1f ms of CPU\n", path, ms); failures++; }
    if (ratio > 1) { printf("FAIL %s: load peak %lld bytes > 64 MiB + 2 x %lld declared\n", path, peak, declared); failures++; }
    free(b);
}

static void bound_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) { bound_one(path); return; }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char child[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        bound_path(child);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bundle_sweep flips [--quick] FILE... | bound FILE_OR_DIR...\n");
        return 2;
    }
    if (strcmp(argv[1], "flips") == 0) {
        int quick = strcmp(argv[2], "--quick") == 0;
        long long totals[6] = {0};
        for (int i = 2 + quick; i < argc; i++) sweep(argv[i], quick, totals);
        printf("sweep: %d bundles, %lld truncations (%lld accepted), %lld byte changes (%lld refused, %lld harmless, "
               "%lld accepted-corrupt), failures %lld\n", argc - 2 - quick, totals[0], totals[1], totals[2], totals[3], totals[4],
               totals[5], failures);
    } else if (strcmp(argv[1], "bound") == 0) {
        for (int i = 2; i < argc; i++) bound_path(argv[i]);
        printf("sweep bound: %lld files under 1 MB (%lld load), slowest load %.2f ms (%s), highest peak %.4f of the bound (%s), "
               "failures %lld\n", bound_files, bound_loaded, worst_ms, worst_ms_path, worst_ratio, worst_ratio_path, failures);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    return failures > 0;
}
