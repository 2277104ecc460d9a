/*
 * The C API contract on the fixture bundles (Tests/MyelinTests/Fixtures/bundles, written by
 * BundleFixtureTests.swift): loading from file and memory, introspection, metadata,
 * self-test, argument checks, and outputs equal to the Swift reference executor's
 * (tiny-*.expected) for every batch size, bit for bit.
 *
 *   test_api FIXTURE_DIR
 */
#include <myelin.h>

#include "test_support.h"

enum { INPUTS = 6, OUTPUTS = 4, SAMPLES = 13 };

/* The struct the library fills field by field: its layout is part of the ABI (64-bit). */
typedef char value_info_is_80_bytes[sizeof(void *) != 8 || sizeof(myelin_value_info) == 80 ? 1 : -1];

/* Graph introspection, arena sizing and myelin_run_multi on a one-input, one-output model. */
static void check_graph_api(myelin_model *model, const float *inputs, const float *expected) {
    CHECK(myelin_model_input_count(model) == 1);
    CHECK(myelin_model_output_count(model) == 1);
    CHECK(myelin_model_input_count(NULL) == 0);
    myelin_value_info info;
    CHECK_STATUS(myelin_model_input_info(model, 0, &info), MYELIN_OK);
    CHECK(info.name && strcmp(info.name, "input") == 0);
    CHECK(info.dtype == MYELIN_DTYPE_F32 && info.rank == 1 && info.dims[0] == INPUTS && info.dims[1] == 0 && info.count == INPUTS);
    CHECK(info.scale == 0 && info.zero_point == 0);
    CHECK_STATUS(myelin_model_output_info(model, 0, &info), MYELIN_OK);
    CHECK(info.dtype == MYELIN_DTYPE_F32 && info.rank == 1 && info.count == OUTPUTS);
    const char *output_name = info.name;
    CHECK_STATUS(myelin_model_input_info(model, 1, &info), MYELIN_ERR_NOT_FOUND);
    CHECK_STATUS(myelin_model_output_info(model, 1, &info), MYELIN_ERR_NOT_FOUND);
    CHECK_STATUS(myelin_model_input_info(model, 0, NULL), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_model_input_info(NULL, 0, &info), MYELIN_ERR_INVALID_ARGUMENT);
    size_t index = 99;
    CHECK_STATUS(myelin_model_find_input(model, "input", &index), MYELIN_OK);
    CHECK(index == 0);
    index = 99;
    CHECK_STATUS(myelin_model_find_output(model, output_name, &index), MYELIN_OK);
    CHECK(index == 0);
    index = 99;
    CHECK_STATUS(myelin_model_find_input(model, output_name, &index), MYELIN_ERR_NOT_FOUND);
    CHECK_STATUS(myelin_model_find_input(model, "", &index), MYELIN_ERR_NOT_FOUND);
    CHECK(index == 99);
    CHECK_STATUS(myelin_model_find_input(model, NULL, &index), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_model_find_output(model, "input", NULL), MYELIN_ERR_INVALID_ARGUMENT);

    size_t small = 0, large = 0;
    CHECK_STATUS(myelin_context_arena_size(model, 1, &small), MYELIN_OK);
    CHECK_STATUS(myelin_context_arena_size(model, SAMPLES, &large), MYELIN_OK);
    CHECK(small > 0 && large > small);
    CHECK_STATUS(myelin_context_arena_size(model, 0, &small), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_context_arena_size(model, (size_t)1 << 21, &small), MYELIN_ERR_LIMIT_EXCEEDED);
    CHECK_STATUS(myelin_context_arena_size(NULL, 1, &small), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_context_arena_size(model, 1, NULL), MYELIN_ERR_INVALID_ARGUMENT);

    myelin_context *ctx = NULL;
    CHECK_STATUS(myelin_context_create(model, SAMPLES, &ctx), MYELIN_OK);
    float out[SAMPLES * OUTPUTS];
    memset(out, 0xFF, sizeof out);
    const void *ins[1] = {inputs};
    void *outs[1] = {out};
    CHECK_STATUS(myelin_run_multi(ctx, SAMPLES, ins, outs), MYELIN_OK);
    CHECK(memcmp(out, expected, sizeof out) == 0);
    const void *no_input[1] = {NULL};
    CHECK_STATUS(myelin_run_multi(ctx, SAMPLES, no_input, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_run_multi(ctx, SAMPLES, NULL, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_run_multi(ctx, SAMPLES + 1, ins, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_run_multi(NULL, 1, ins, outs), MYELIN_ERR_INVALID_ARGUMENT);
    myelin_context_free(ctx);
}

static void check_version_and_strings(void) {
    CHECK(strcmp(myelin_version(), MYELIN_VERSION_STRING) == 0);
    for (int s = 0; s <= 13; s++) CHECK(myelin_status_string((myelin_status)s) != NULL);
    CHECK(strcmp(myelin_status_string(MYELIN_OK), "ok") == 0);
    CHECK(strcmp(myelin_status_string(MYELIN_ERR_CHECKSUM), "checksum mismatch") == 0);
    CHECK(strcmp(myelin_status_string((myelin_status)999), "unknown status") == 0);
}

static void check_arguments(const char *dir) {
    myelin_model *model = (myelin_model *)&model;  /* must be reset to NULL on failure */
    CHECK_STATUS(myelin_model_load_file(NULL, &model), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK(model == NULL);
    CHECK_STATUS(myelin_model_load_file("/nonexistent/model.myelin", &model), MYELIN_ERR_IO);
    CHECK_STATUS(myelin_model_load_file(dir, &model), MYELIN_ERR_IO);  /* a directory */
    CHECK_STATUS(myelin_model_load_memory(NULL, 10, &model), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_model_load_memory("x", 1, NULL), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_model_load_memory("", 0, &model), MYELIN_ERR_NOT_A_BUNDLE);
    CHECK(model == NULL);
    myelin_model_free(NULL);
    myelin_context_free(NULL);
    CHECK(myelin_model_input_size(NULL) == 0);
    CHECK(myelin_model_class_label(NULL, 0) == NULL);
    CHECK((int)myelin_model_precision(NULL) == 0);
    myelin_context *ctx = NULL;
    CHECK_STATUS(myelin_context_create(NULL, 1, &ctx), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_model_selftest(NULL), MYELIN_ERR_INVALID_ARGUMENT);
    float x = 0;
    CHECK_STATUS(myelin_run(NULL, &x, 1, &x), MYELIN_ERR_INVALID_ARGUMENT);
}

static void check_model(const char *dir, const char *name, myelin_precision precision, const float *inputs) {
    char file[4096], expected_name[256];
    fixture_path(file, sizeof file, dir, name);
    snprintf(expected_name, sizeof expected_name, "%.*s.expected", (int)(strlen(name) - strlen(".myelin")), name);
    size_t expected_size = 0;
    float *expected = (float *)read_file(dir, expected_name, &expected_size);
    CHECK(expected_size == SAMPLES * OUTPUTS * sizeof(float));

    myelin_model *model = NULL;
    CHECK_STATUS(myelin_model_load_file(file, &model), MYELIN_OK);
    if (!model) { free(expected); return; }

    /* Introspection */
    CHECK(myelin_model_input_size(model) == INPUTS);
    CHECK(myelin_model_output_size(model) == OUTPUTS);
    CHECK(myelin_model_num_classes(model) == OUTPUTS);
    CHECK(myelin_model_precision(model) == precision);
    int64_t dims[4] = {0};
    size_t rank = 0;
    CHECK_STATUS(myelin_model_input_shape(model, dims, 4, &rank), MYELIN_OK);
    CHECK(rank == 1 && dims[0] == INPUTS);
    CHECK_STATUS(myelin_model_output_shape(model, dims, 4, &rank), MYELIN_OK);
    CHECK(rank == 1 && dims[0] == OUTPUTS);
    CHECK_STATUS(myelin_model_output_shape(model, dims, 0, &rank), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK(rank == 1);
    CHECK_STATUS(myelin_model_output_shape(model, dims, 4, NULL), MYELIN_ERR_INVALID_ARGUMENT);
    static const char *labels[OUTPUTS] = {"alpha", "beta", "gamma", "delta"};
    for (size_t i = 0; i < OUTPUTS; i++) {
        const char *l = myelin_model_class_label(model, i);
        CHECK(l && strcmp(l, labels[i]) == 0);
    }
    CHECK(myelin_model_class_label(model, OUTPUTS) == NULL);

    /* Metadata */
    const char *value = NULL, *key = NULL;
    CHECK_STATUS(myelin_model_metadata(model, "dataset", &value), MYELIN_OK);
    CHECK(value && strcmp(value, "synthetic fixture") == 0);
    CHECK_STATUS(myelin_model_metadata(model, "myelin.exporter", &value), MYELIN_OK);
    CHECK(value && strncmp(value, "Myelin ", 7) == 0);
    CHECK_STATUS(myelin_model_metadata(model, "no such key", &value), MYELIN_ERR_NOT_FOUND);
    CHECK(value == NULL);
    CHECK_STATUS(myelin_model_metadata(model, NULL, &value), MYELIN_ERR_INVALID_ARGUMENT);
    size_t count = myelin_model_metadata_count(model);
    CHECK(count >= 5);
    int found_precision = 0;
    for (size_t i = 0; i < count; i++) {
        CHECK_STATUS(myelin_model_metadata_at(model, i, &key, &value), MYELIN_OK);
        if (key && strcmp(key, "myelin.precision") == 0) found_precision = 1;
    }
    CHECK(found_precision);
    CHECK_STATUS(myelin_model_metadata_at(model, count, &key, &value), MYELIN_ERR_NOT_FOUND);
    CHECK(key == NULL && value == NULL);

    CHECK_STATUS(myelin_model_selftest(model), MYELIN_OK);
    check_graph_api(model, inputs, expected);

    /* Contexts and runs */
    myelin_context *ctx = NULL;
    CHECK_STATUS(myelin_context_create(model, 0, &ctx), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK(ctx == NULL);
    CHECK_STATUS(myelin_context_create(model, (size_t)1 << 21, &ctx), MYELIN_ERR_LIMIT_EXCEEDED);
    CHECK_STATUS(myelin_context_create(model, (size_t)-1, &ctx), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_context_create(model, SAMPLES, &ctx), MYELIN_OK);
    float out[SAMPLES * OUTPUTS];
    CHECK_STATUS(myelin_run(ctx, inputs, 0, out), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_run(ctx, inputs, SAMPLES + 1, out), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_run(ctx, NULL, 1, out), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_run(ctx, inputs, 1, NULL), MYELIN_ERR_INVALID_ARGUMENT);
    /* Every batch size, each starting at every offset that fits: equal to the reference. */
    for (size_t batch = 1; batch <= SAMPLES; batch++) {
        for (size_t start = 0; start + batch <= SAMPLES; start += batch) {
            memset(out, 0xFF, sizeof out);
            CHECK_STATUS(myelin_run(ctx, inputs + start * INPUTS, batch, out), MYELIN_OK);
            CHECK(memcmp(out, expected + start * OUTPUTS, batch * OUTPUTS * sizeof(float)) == 0);
        }
    }
    myelin_context_free(ctx);

    /* Loading from memory copies: the buffer is scrubbed and freed before running. */
    size_t size = 0;
    unsigned char *bytes = read_file(dir, name, &size);
    myelin_model *copy = NULL;
    CHECK_STATUS(myelin_model_load_memory(bytes, size, &copy), MYELIN_OK);
    memset(bytes, 0, size);
    free(bytes);
    if (copy) {
        CHECK_STATUS(myelin_context_create(copy, SAMPLES, &ctx), MYELIN_OK);
        CHECK_STATUS(myelin_run(ctx, inputs, SAMPLES, out), MYELIN_OK);
        CHECK(memcmp(out, expected, sizeof out) == 0);
        CHECK_STATUS(myelin_model_selftest(copy), MYELIN_OK);
        myelin_context_free(ctx);
        myelin_model_free(copy);
    }
    myelin_model_free(model);
    free(expected);
}

/* The DAG fixture (GraphRuntimeTests.dagBundle): inputs "a" [2, 3] and "b" [3, 2], outputs
 * "features" [3, 4] and "probs" [3, 4], run with myelin_run_multi; equal to the Swift
 * executor's outputs (dag.expected) bit for bit. */
static void check_dag(const char *dir) {
    enum { N = 3, A = 6, B = 6, F = 12, P = 12 };
    char file[4096];
    fixture_path(file, sizeof file, dir, "dag.myelin");
    size_t size = 0;
    float *inputs = (float *)read_file(dir, "dag-inputs.f32", &size);
    CHECK(size == N * (A + B) * sizeof(float));
    float *expected = (float *)read_file(dir, "dag.expected", &size);
    CHECK(size == N * (F + P) * sizeof(float));
    myelin_model *model = NULL;
    CHECK_STATUS(myelin_model_load_file(file, &model), MYELIN_OK);
    if (!model) { free(inputs); free(expected); return; }
    CHECK(myelin_model_input_count(model) == 2 && myelin_model_output_count(model) == 2);
    size_t index = 0;
    CHECK_STATUS(myelin_model_find_input(model, "b", &index), MYELIN_OK);
    CHECK(index == 1);
    CHECK_STATUS(myelin_model_find_output(model, "probs", &index), MYELIN_OK);
    CHECK(index == 1);
    CHECK_STATUS(myelin_model_find_output(model, "a", &index), MYELIN_ERR_NOT_FOUND);
    myelin_value_info info;
    CHECK_STATUS(myelin_model_input_info(model, 1, &info), MYELIN_OK);
    CHECK(strcmp(info.name, "b") == 0 && info.dtype == MYELIN_DTYPE_F32 && info.rank == 2 && info.dims[0] == 3 && info.dims[1] == 2 && info.count == B);
    CHECK_STATUS(myelin_model_output_info(model, 0, &info), MYELIN_OK);
    CHECK(strcmp(info.name, "features") == 0 && info.rank == 2 && info.dims[0] == 3 && info.dims[1] == 4 && info.count == F);
    const char *value = NULL;
    CHECK_STATUS(myelin_model_metadata(model, "input.preprocessing", &value), MYELIN_OK);
    CHECK_STATUS(myelin_model_selftest(model), MYELIN_OK);

    myelin_context *ctx = NULL;
    CHECK_STATUS(myelin_context_create(model, N, &ctx), MYELIN_OK);
    float a[N * A], b[N * B], features[N * F], probs[N * P];
    memcpy(a, inputs, sizeof a);
    memcpy(b, inputs + N * A, sizeof b);
    for (size_t batch = 1; batch <= N; batch++) {
        memset(features, 0xFF, sizeof features);
        memset(probs, 0xFF, sizeof probs);
        const void *ins[2] = {a, b};
        void *outs[2] = {features, probs};
        CHECK_STATUS(myelin_run_multi(ctx, batch, ins, outs), MYELIN_OK);
        CHECK(memcmp(features, expected, batch * F * sizeof(float)) == 0);
        CHECK(memcmp(probs, expected + N * F, batch * P * sizeof(float)) == 0);
    }
    /* The single-input call refuses a model with two inputs. */
    CHECK_STATUS(myelin_run(ctx, a, 1, features), MYELIN_ERR_INVALID_ARGUMENT);
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(inputs);
    free(expected);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]); return 2; }
    const char *dir = argv[1];
    size_t size = 0;
    float *inputs = (float *)read_file(dir, "tiny-inputs.f32", &size);
    CHECK(size == SAMPLES * INPUTS * sizeof(float));
    check_version_and_strings();
    check_arguments(dir);
    check_model(dir, "tiny-f32.myelin", MYELIN_PRECISION_F32, inputs);
    check_model(dir, "tiny-f16.myelin", MYELIN_PRECISION_F16, inputs);
    check_model(dir, "tiny-int8.myelin", MYELIN_PRECISION_INT8, inputs);
    check_dag(dir);
    free(inputs);
    return finish("test_api");
}
