/*
 * Damaged bundles give the documented status (docs/bundle-format.md, "Reader status for
 * malformed files") and never crash: every truncation, every single-byte corruption,
 * version changes, random bytes behind a valid magic, and the crafted files of
 * Fixtures/bundles/malformed (absurd dimensions, zlib bomb, huge claimed sizes, ...) listed
 * with their expected status in malformed/expected.txt.
 *
 *   test_malformed FIXTURE_DIR
 */
#include <myelin.h>
#include <zlib.h>

#include "test_support.h"

static myelin_status load(const unsigned char *bytes, size_t size) {
    myelin_model *model = NULL;
    myelin_status st = myelin_model_load_memory(bytes, size, &model);
    CHECK((st == MYELIN_OK) == (model != NULL));
    if (model) {
        /* Whatever loads must also run: zeros into every input, room for every output. */
        myelin_context *ctx = NULL;
        if (myelin_context_create(model, 2, &ctx) == MYELIN_OK) {
            static float buffers[32][2 * 4096];
            const void *ins[16];
            void *outs[16];
            size_t n_in = myelin_model_input_count(model), n_out = myelin_model_output_count(model), fits = 1;
            myelin_value_info info;
            for (size_t i = 0; i < n_in; i++) {
                fits &= myelin_model_input_info(model, i, &info) == MYELIN_OK && info.count <= 4096;
                memset(buffers[i], 0, sizeof buffers[i]);
                ins[i] = buffers[i];
            }
            for (size_t i = 0; i < n_out; i++) {
                fits &= myelin_model_output_info(model, i, &info) == MYELIN_OK && info.count <= 4096;
                outs[i] = buffers[16 + i];
            }
            if (fits) CHECK_STATUS(myelin_run_multi(ctx, 2, ins, outs), MYELIN_OK);
            myelin_context_free(ctx);
        }
        myelin_model_free(model);
    }
    return st;
}

static void rewrite_header_crc(unsigned char *b) {
    uint32_t sections = (uint32_t)b[24] | (uint32_t)b[25] << 8 | (uint32_t)b[26] << 16 | (uint32_t)b[27] << 24;
    uLong crc = crc32(0L, b, 28);
    crc = crc32(crc, b + 32, (uInt)(40 * sections));
    for (int i = 0; i < 4; i++) b[28 + i] = (unsigned char)(crc >> (8 * i));
}

static void check_bundle(const char *dir, const char *name) {
    size_t size = 0;
    unsigned char *good = read_file(dir, name, &size);
    unsigned char *b = malloc(size);
    CHECK_STATUS(load(good, size), MYELIN_OK);

    for (size_t len = 0; len < size; len++) {
        memcpy(b, good, len);
        myelin_status st = load(b, len);
        if (st != (len < 8 ? MYELIN_ERR_NOT_A_BUNDLE : MYELIN_ERR_CORRUPT)) {
            fprintf(stderr, "%s truncated to %zu bytes: %s\n", name, len, myelin_status_string(st));
            test_failures++;
        }
    }

    for (size_t i = 0; i < size; i++) {
        memcpy(b, good, size);
        b[i] ^= 0xFF;
        myelin_status st = load(b, size);
        myelin_status want = i < 8 ? MYELIN_ERR_NOT_A_BUNDLE : i < 10 ? MYELIN_ERR_UNSUPPORTED_VERSION
                           : i >= 32 ? MYELIN_ERR_CHECKSUM : st;
        if (st == MYELIN_OK || st != want) {
            fprintf(stderr, "%s with byte %zu flipped: %s\n", name, i, myelin_status_string(st));
            test_failures++;
        }
    }

    /* A newer minor version is readable; another major version is not. */
    memcpy(b, good, size);
    b[10] = 7;
    rewrite_header_crc(b);
    CHECK_STATUS(load(b, size), MYELIN_OK);
    for (unsigned char major = 1; major <= 3; major += 2) {
        memcpy(b, good, size);
        b[8] = major;
        rewrite_header_crc(b);
        CHECK_STATUS(load(b, size), MYELIN_ERR_UNSUPPORTED_VERSION);
    }

    /* Random bytes behind the magic (deterministic generator). */
    uint32_t state = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t len = 8 + (size_t)round % (size - 8);
        memcpy(b, good, 8);
        for (size_t i = 8; i < len; i++) { state = state * 1664525u + 1013904223u; b[i] = (unsigned char)(state >> 24); }
        CHECK(load(b, len) != MYELIN_OK);
    }
    free(b);
    free(good);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]); return 2; }
    const char *dir = argv[1];
    check_bundle(dir, "tiny-f32.myelin");
    check_bundle(dir, "tiny-int8.myelin");
    check_bundle(dir, "dag.myelin");

    char path[4096];
    fixture_path(path, sizeof path, dir, "malformed/expected.txt");
    FILE *list = fopen(path, "r");
    CHECK(list != NULL);
    char name[256];
    int expected, cases = 0;
    while (list && fscanf(list, "%255s %d", name, &expected) == 2) {
        char file[512];
        snprintf(file, sizeof file, "malformed/%s", name);
        size_t size = 0;
        unsigned char *bytes = read_file(dir, file, &size);
        myelin_status st = load(bytes, size);
        if ((int)st != expected) {
            fprintf(stderr, "%s: %s, expected %s\n", name, myelin_status_string(st), myelin_status_string((myelin_status)expected));
            test_failures++;
        }
        /* The same through the file loader. */
        char full[4096];
        fixture_path(full, sizeof full, dir, file);
        myelin_model *model = NULL;
        CHECK_STATUS(myelin_model_load_file(full, &model), (myelin_status)expected);
        myelin_model_free(model);
        free(bytes);
        cases++;
    }
    if (list) fclose(list);
    CHECK(cases >= 10);
    return finish("test_malformed");
}
