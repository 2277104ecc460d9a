/*
 * One model shared by several threads, each with its own context: every thread's
 * outputs equal the single-threaded outputs bit for bit (the model is immutable after
 * loading; contexts hold all scratch memory).
 *
 *   test_threads FIXTURE_DIR
 */
#define _POSIX_C_SOURCE 200112L
#include <myelin.h>
#include <pthread.h>

#include "test_support.h"

enum { THREADS = 8, SAMPLES = 97, ROUNDS = 300 };

struct job {
    const myelin_model *model;
    const float *inputs;
    const float *expected;
    size_t in, out;
    int id;
    int mismatches;
};

static void *worker(void *arg) {
    struct job *job = arg;
    myelin_context *ctx = NULL;
    if (myelin_context_create(job->model, SAMPLES, &ctx) != MYELIN_OK) { job->mismatches = -1; return NULL; }
    float *out = malloc(SAMPLES * job->out * sizeof(float));
    for (int r = 0; r < ROUNDS && out; r++) {
        /* Different threads run different batch sizes and offsets at the same time. */
        size_t batch = 1 + (size_t)(r * 7 + job->id * 13) % SAMPLES;
        size_t start = (size_t)(r * 3 + job->id) % (SAMPLES - batch + 1);
        if (myelin_run(ctx, job->inputs + start * job->in, batch, out) != MYELIN_OK) { job->mismatches++; continue; }
        if (memcmp(out, job->expected + start * job->out, batch * job->out * sizeof(float)) != 0) job->mismatches++;
        if (r % 50 == 0 && myelin_model_selftest(job->model) != MYELIN_OK) job->mismatches++;
    }
    free(out);
    myelin_context_free(ctx);
    return NULL;
}

static void check_threads(const char *dir, const char *name) {
    char path[4096];
    fixture_path(path, sizeof path, dir, name);
    myelin_model *model = NULL;
    CHECK_STATUS(myelin_model_load_file(path, &model), MYELIN_OK);
    if (!model) return;
    size_t in = myelin_model_input_size(model), out = myelin_model_output_size(model);
    float *inputs = malloc(SAMPLES * in * sizeof(float)), *expected = malloc(SAMPLES * out * sizeof(float));
    uint32_t state = 7;
    for (size_t i = 0; i < SAMPLES * in; i++) {
        state = state * 1664525u + 1013904223u;
        inputs[i] = (float)(state >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    /* Single-threaded reference, one sample per call (the batch-1 path). */
    myelin_context *ctx = NULL;
    CHECK_STATUS(myelin_context_create(model, 1, &ctx), MYELIN_OK);
    for (size_t i = 0; i < SAMPLES; i++) CHECK_STATUS(myelin_run(ctx, inputs + i * in, 1, expected + i * out), MYELIN_OK);
    myelin_context_free(ctx);

    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){model, inputs, expected, in, out, t, 0};
        CHECK(pthread_create(&threads[t], NULL, worker, &jobs[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        if (jobs[t].mismatches != 0) {
            fprintf(stderr, "%s: thread %d: %d mismatching runs\n", name, t, jobs[t].mismatches);
            test_failures++;
        }
    }
    free(inputs);
    free(expected);
    myelin_model_free(model);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]); return 2; }
    check_threads(argv[1], "tiny-f32.myelin");
    check_threads(argv[1], "tiny-int8.myelin");
    return finish("test_threads");
}
