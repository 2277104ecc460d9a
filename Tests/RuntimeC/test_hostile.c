/*
 * Hostile bundles (issue 9), crafted from the fixture tiny-f32.myelin by replacing or adding
 * a section: metadata built to make duplicate-key detection quadratic (1,024 keys of 64 KiB
 * sharing all but their last bytes) loads in well under a second, and a duplicate among them
 * is still found; myelin_set_memory_budget refuses loads and contexts over the cap.
 *
 *   test_hostile FIXTURE_DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <myelin.h>
#include <zlib.h>

#include <time.h>

#include "test_support.h"

/* CPU seconds of this process: the work done, whatever other processes share the cores;
 * divided by MYELIN_TEST_TIME_SCALE (e.g. 100 under valgrind, scripts/runtime-valgrind.sh). */
static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    const char *scale = getenv("MYELIN_TEST_TIME_SCALE");
    double s = scale ? atof(scale) : 1;
    return ((double)t.tv_sec + 1e-9 * (double)t.tv_nsec) / (s >= 1 ? s : 1);
}

static uint64_t rd(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void wr(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#define FOURCC(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* A copy of the bundle `good` whose section `kind` is `payload` (stored, encoding 0), added
 * if the bundle has none; header, offsets and CRCs rewritten. Payloads 64-byte aligned. */
static unsigned char *with_section(const unsigned char *good, uint32_t kind, const unsigned char *payload, size_t payload_size,
                                   size_t *out_size) {
    uint32_t n = (uint32_t)rd(good + 24, 4), m = n, have = 0;
    for (uint32_t i = 0; i < n; i++) have |= rd(good + 32 + 40 * i, 4) == kind;
    if (!have) m++;
    size_t at = 32 + 40 * (size_t)m, total = at;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *e = good + 32 + 40 * i;
        if (rd(e, 4) != kind) total = (total + 63) / 64 * 64 + rd(e + 16, 8);
    }
    total = (total + 63) / 64 * 64 + payload_size;
    unsigned char *b = calloc(total, 1);
    memcpy(b, good, 32);
    wr(b + 16, total, 8);
    wr(b + 24, m, 4);
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *e = good + 32 + 40 * i;
        if (rd(e, 4) == kind) continue;
        unsigned char *f = b + 32 + 40 * j++;
        memcpy(f, e, 40);
        at = (at + 63) / 64 * 64;
        memcpy(b + at, good + rd(e + 8, 8), rd(e + 16, 8));
        wr(f + 8, at, 8);
        at += rd(e + 16, 8);
    }
    unsigned char *f = b + 32 + 40 * j;
    at = (at + 63) / 64 * 64;
    memcpy(b + at, payload, payload_size);
    wr(f, kind, 4);
    wr(f + 4, 0, 4);
    wr(f + 8, at, 8);
    wr(f + 16, payload_size, 8);
    wr(f + 24, payload_size, 8);
    wr(f + 32, crc32(0L, payload, (uInt)payload_size), 4);
    wr(f + 36, 0, 4);
    uLong crc = crc32(0L, b, 28);
    crc = crc32(crc, b + 32, (uInt)(40 * m));
    wr(b + 28, crc, 4);
    *out_size = total;
    return b;
}

static myelin_status load(const unsigned char *bytes, size_t size) {
    myelin_model *model = NULL;
    myelin_status st = myelin_model_load_memory(bytes, size, &model);
    CHECK((st == MYELIN_OK) == (model != NULL));
    myelin_model_free(model);
    return st;
}

/* META with `count` keys of `key_bytes` bytes equal but for their last 4 (hex of the index,
 * or of `duplicate_of` for the last key if >= 0) and empty values. */
static unsigned char *long_keys(size_t count, size_t key_bytes, long duplicate_of, size_t *size) {
    *size = 4 + count * (8 + key_bytes);
    unsigned char *m = malloc(*size), *p = m + 4;
    wr(m, count, 4);
    for (size_t i = 0; i < count; i++) {
        wr(p, key_bytes, 4);
        memset(p + 4, 'k', key_bytes);
        size_t id = i == count - 1 && duplicate_of >= 0 ? (size_t)duplicate_of : i;
        for (int d = 0; d < 4; d++) p[4 + key_bytes - 1 - d] = "0123456789abcdef"[(id >> (4 * d)) & 15];
        wr(p + 4 + key_bytes, 0, 4);
        p += 8 + key_bytes;
    }
    return m;
}

static void check_metadata(const unsigned char *good) {
    const uint32_t META = FOURCC('M', 'E', 'T', 'A');
    size_t meta_size, size;
    /* Sanity: a small crafted META is read back. */
    static const unsigned char small[] = {1, 0, 0, 0, 3, 0, 0, 0, 'k', 'e', 'y', 5, 0, 0, 0, 'v', 'a', 'l', 'u', 'e'};
    unsigned char *b = with_section(good, META, small, sizeof small, &size);
    myelin_model *model = NULL;
    CHECK_STATUS(myelin_model_load_memory(b, size, &model), MYELIN_OK);
    const char *value = NULL;
    CHECK_STATUS(myelin_model_metadata(model, "key", &value), MYELIN_OK);
    CHECK(value && strcmp(value, "value") == 0);
    CHECK(myelin_model_metadata_count(model) == 1);
    myelin_model_free(model);
    free(b);

    for (int dup = 0; dup < 2; dup++) {
        unsigned char *meta = long_keys(1024, 65536, dup ? 0 : -1, &meta_size);
        b = with_section(good, META, meta, meta_size, &size);
        double t0 = cpu_seconds();
        CHECK_STATUS(load(b, size), dup ? MYELIN_ERR_CORRUPT : MYELIN_OK);
        double t = cpu_seconds() - t0;
        printf("1024 keys of 64 KiB%s: %.3f s\n", dup ? " (one duplicate)" : "", t);
        CHECK(t < 1.0);
        free(b);
        free(meta);
    }
    /* More entries than the cap (1024). */
    unsigned char *meta = long_keys(1025, 8, -1, &meta_size);
    b = with_section(good, META, meta, meta_size, &size);
    CHECK_STATUS(load(b, size), MYELIN_ERR_LIMIT_EXCEEDED);
    free(b);
    free(meta);
}

/* myelin_set_memory_budget: loads and contexts over the cap are refused before allocating. */
static void check_budget(const unsigned char *good, size_t size) {
    CHECK(myelin_set_memory_budget(64) == 0);
    CHECK_STATUS(load(good, size), MYELIN_ERR_LIMIT_EXCEEDED);
    CHECK(myelin_set_memory_budget(0) == 64);
    myelin_model *model = NULL;
    CHECK_STATUS(myelin_model_load_memory(good, size, &model), MYELIN_OK);
    size_t arena = 0;
    CHECK_STATUS(myelin_context_arena_size(model, 1000, &arena), MYELIN_OK);
    myelin_context *ctx = NULL;
    myelin_set_memory_budget(arena - 1);
    CHECK_STATUS(myelin_context_create(model, 1000, &ctx), MYELIN_ERR_LIMIT_EXCEEDED);
    CHECK(ctx == NULL);
    CHECK_STATUS(myelin_model_selftest(model), MYELIN_OK);  /* a context for a few vectors fits */
    myelin_set_memory_budget(arena + 65536);
    CHECK_STATUS(myelin_context_create(model, 1000, &ctx), MYELIN_OK);
    myelin_context_free(ctx);
    myelin_model_free(model);

    /* 64 MiB of metadata under a 32 MiB cap: refused from the section table. */
    size_t meta_size, big_size;
    unsigned char *meta = long_keys(1024, 65536, -1, &meta_size);
    unsigned char *b = with_section(good, FOURCC('M', 'E', 'T', 'A'), meta, meta_size, &big_size);
    myelin_set_memory_budget((size_t)32 << 20);
    double t0 = cpu_seconds();
    CHECK_STATUS(load(b, big_size), MYELIN_ERR_LIMIT_EXCEEDED);
    CHECK(cpu_seconds() - t0 < 0.5);
    myelin_set_memory_budget((size_t)256 << 20);
    CHECK_STATUS(load(b, big_size), MYELIN_OK);
    myelin_set_memory_budget(0);
    free(b);
    free(meta);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]); return 2; }
    size_t size = 0;
    unsigned char *good = read_file(argv[1], "tiny-f32.myelin", &size);
    CHECK_STATUS(load(good, size), MYELIN_OK);
    check_metadata(good);
    check_budget(good, size);
    free(good);
    return finish("test_hostile");
}
