/* Streaming from C (myelin_step and friends) on the character-level language models the
 * Swift tests export (Tests/MyelinTests/SequenceRuntimeTests.swift, testSequenceFixturesAreCurrent):
 * an LSTM and a decoder-only Transformer, with the Swift model's logits for two token
 * sequences. Whole-sequence runs, one step at a time, and chunks of steps all give the Swift
 * logits; misuse gets a status and leaves the stream as it was. */
#define _GNU_SOURCE
#include <math.h>
#include <myelin.h>

#include "test_support.h"

/* myelin_step, myelin_run_multi and myelin_context_reset allocate nothing: the C allocator is
 * interposed (as in test_noalloc.c) and counted around them. */
extern void *__libc_malloc(size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static int counting = 0;
static size_t calls = 0;

static void note(void) { if (counting) calls++; }

void *malloc(size_t size) { note(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { note(); return __libc_calloc(count, size); }
void *realloc(void *p, size_t size) { note(); return __libc_realloc(p, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    note();
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

enum { BATCH = 2 };

static int close_to(const float *got, const float *expected, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - expected[i]);
        if (!(d <= 1e-5f + 1e-5f * fabsf(expected[i]))) {
            fprintf(stderr, "element %zu: %g, expected %g\n", i, (double)got[i], (double)expected[i]);
            return 0;
        }
    }
    return 1;
}

/* Steps t ..< t+k of both samples of a [BATCH, T, width] array, packed [BATCH, k, width]. */
static void rows(const void *all, size_t element, size_t steps, size_t width, size_t t, size_t k, void *out) {
    for (size_t b = 0; b < BATCH; b++) {
        memcpy((char *)out + b * k * width * element, (const char *)all + (b * steps + t) * width * element, k * width * element);
    }
}

static void check_model(const char *dir, const char *name, const char *expected_name) {
    char path[4096];
    fixture_path(path, sizeof path, dir, name);
    myelin_model *model;
    CHECK_STATUS(myelin_model_load_file(path, &model), MYELIN_OK);
    if (!model) return;
    size_t size;
    int32_t *tokens = (int32_t *)read_file(dir, "char-lm.tokens", &size);
    float *expected = (float *)read_file(dir, expected_name, &size);

    size_t steps = 0, capacity = 0, state = 0;
    /* The interposition sees the runtime's allocations (the stream analysis allocates). */
    calls = 0;
    counting = 1;
    CHECK_STATUS(myelin_model_stream_info(model, &steps, &capacity, &state), MYELIN_OK);
    counting = 0;
    CHECK(calls > 0);
    calls = 0;
    CHECK(myelin_model_output_is_sequence(model, 0) == 1);
    CHECK(myelin_model_output_is_sequence(model, 1) == 0);
    myelin_value_info out;
    CHECK_STATUS(myelin_model_output_info(model, 0, &out), MYELIN_OK);
    size_t vocabulary = (size_t)out.dims[1];
    CHECK(size == BATCH * steps * vocabulary * sizeof(float));
    CHECK(state > 0);
    const char *characters = NULL;
    CHECK_STATUS(myelin_model_metadata(model, "vocabulary.characters", &characters), MYELIN_OK);
    CHECK(characters != NULL && strlen(characters) == vocabulary);

    myelin_context *ctx;
    CHECK_STATUS(myelin_context_create(model, BATCH, &ctx), MYELIN_OK);
    size_t bytes = 0;
    CHECK_STATUS(myelin_context_state_size(ctx, &bytes), MYELIN_OK);
    CHECK(bytes >= BATCH * state);
    float *logits = malloc(BATCH * steps * vocabulary * sizeof(float));
    int32_t *chunk = malloc(BATCH * steps * sizeof(int32_t));

    /* Whole sequences. */
    const void *in[1] = {tokens};
    void *outs[1] = {logits};
    counting = 1;
    CHECK_STATUS(myelin_run_multi(ctx, BATCH, in, outs), MYELIN_OK);
    counting = 0;
    CHECK(close_to(logits, expected, BATCH * steps * vocabulary));
    CHECK(myelin_context_position(ctx) == 0);

    /* One step at a time, then chunks of 2, 3, 1 (as many as fit in T). */
    size_t chunkings[2][3] = {{1, 0, 0}, {2, 3, 1}};
    for (int c = 0; c < 2; c++) {
        CHECK_STATUS(myelin_context_reset(ctx), MYELIN_OK);
        size_t t = 0, i = 0;
        while (t < steps) {
            size_t k = c == 0 ? 1 : chunkings[1][i++ % 3];
            if (k > steps - t) k = steps - t;
            float want[BATCH * 8 * 64];
            rows(tokens, sizeof(int32_t), steps, 1, t, k, chunk);
            rows(expected, sizeof(float), steps, vocabulary, t, k, want);
            in[0] = chunk;
            counting = 1;
            CHECK_STATUS(myelin_step(ctx, BATCH, k, in, outs), MYELIN_OK);
            counting = 0;
            CHECK(close_to(logits, want, BATCH * k * vocabulary));
            t += k;
            CHECK(myelin_context_position(ctx) == t);
        }
    }

    CHECK(calls == 0);

    /* Misuse: a status, and the stream continues untouched. */
    CHECK_STATUS(myelin_context_reset(ctx), MYELIN_OK);
    rows(tokens, sizeof(int32_t), steps, 1, 0, 1, chunk);
    in[0] = chunk;
    CHECK_STATUS(myelin_step(ctx, BATCH, 1, in, outs), MYELIN_OK);
    CHECK_STATUS(myelin_step(NULL, BATCH, 1, in, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_step(ctx, BATCH, 1, NULL, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_step(ctx, BATCH, 1, in, NULL), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_step(ctx, BATCH, 0, in, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_step(ctx, 1, 1, in, outs), MYELIN_ERR_INVALID_ARGUMENT);          /* another batch mid-stream */
    CHECK_STATUS(myelin_step(ctx, BATCH + 1, 1, in, outs), MYELIN_ERR_INVALID_ARGUMENT);  /* above max_batch */
    CHECK_STATUS(myelin_step(ctx, BATCH, steps + 1, in, outs), MYELIN_ERR_LIMIT_EXCEEDED);
    int32_t bad[BATCH] = {0, (int32_t)vocabulary};
    const void *bad_in[1] = {bad};
    CHECK_STATUS(myelin_step(ctx, BATCH, 1, bad_in, outs), MYELIN_ERR_INVALID_ARGUMENT);
    bad[1] = -5;
    CHECK_STATUS(myelin_step(ctx, BATCH, 1, bad_in, outs), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK(myelin_context_position(ctx) == 1);
    rows(tokens, sizeof(int32_t), steps, 1, 1, steps - 1, chunk);
    CHECK_STATUS(myelin_step(ctx, BATCH, steps - 1, in, outs), MYELIN_OK);
    float *want = malloc(BATCH * steps * vocabulary * sizeof(float));
    rows(expected, sizeof(float), steps, vocabulary, 1, steps - 1, want);
    CHECK(close_to(logits, want, BATCH * (steps - 1) * vocabulary));
    if (capacity > 0) {
        CHECK(capacity == steps);
        CHECK_STATUS(myelin_step(ctx, BATCH, 1, in, outs), MYELIN_ERR_LIMIT_EXCEEDED);
    }
    /* The single-input float API refuses a token model. */
    CHECK_STATUS(myelin_run(ctx, logits, 1, logits), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_context_reset(NULL), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK(myelin_context_position(NULL) == 0);
    CHECK_STATUS(myelin_context_state_size(NULL, &bytes), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(myelin_model_stream_info(model, NULL, &capacity, &state), MYELIN_ERR_INVALID_ARGUMENT);

    free(want);
    free(chunk);
    free(logits);
    free(tokens);
    free(expected);
    myelin_context_free(ctx);
    myelin_model_free(model);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "Tests/MyelinTests/Fixtures/bundles";
    check_model(dir, "char-lstm.myelin", "char-lstm.expected");
    check_model(dir, "char-transformer.myelin", "char-transformer.expected");
    /* A classifier of feature vectors has no time axis to stream: myelin_step says so. */
    char path[4096];
    fixture_path(path, sizeof path, dir, "tiny-f32.myelin");
    myelin_model *model;
    CHECK_STATUS(myelin_model_load_file(path, &model), MYELIN_OK);
    if (model) {
        size_t steps, capacity, state;
        CHECK_STATUS(myelin_model_stream_info(model, &steps, &capacity, &state), MYELIN_ERR_UNSUPPORTED);
        CHECK(state == 0);
        myelin_context *ctx;
        CHECK_STATUS(myelin_context_create(model, 1, &ctx), MYELIN_OK);
        float x[1] = {0}, y[1];
        const void *in[1] = {x};
        void *out[1] = {y};
        CHECK_STATUS(myelin_step(ctx, 1, 1, in, out), MYELIN_ERR_UNSUPPORTED);
        myelin_context_free(ctx);
        myelin_model_free(model);
    }
    return finish("stream");
}
