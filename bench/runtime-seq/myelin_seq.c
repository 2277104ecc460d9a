/*
 * myelin_seq.c — Myelin's side of the sequence benchmark (bench/runtime-seq/run.sh), one thread:
 * an LSTM step at batch 1 with the state kept in the context (myelin_step), and greedy
 * generation from a decoder-only Transformer with its key/value cache (one step per token).
 *
 *   myelin_seq lstm lstm.myelin REPS
 *   myelin_seq generate transformer.myelin TOKENS ROUNDS
 */
#define _POSIX_C_SOURCE 199309L
#include <myelin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static myelin_context *open_model(const char *path, myelin_model **model) {
    char message[512];
    myelin_context *ctx = NULL;
    if (myelin_model_load_file_ex(path, model, message, sizeof message) != MYELIN_OK) {
        fprintf(stderr, "%s\n", message);
        exit(1);
    }
    if (myelin_context_create(*model, 1, &ctx) != MYELIN_OK) { fprintf(stderr, "no context\n"); exit(1); }
    return ctx;
}

static void step(myelin_context *ctx, const void *x, void *y) {
    const void *in[1] = {x};
    void *out[1] = {y};
    myelin_status s = myelin_step(ctx, 1, 1, in, out);
    if (s != MYELIN_OK) { fprintf(stderr, "myelin_step: %s\n", myelin_status_string(s)); exit(1); }
}

static void bench_lstm(const char *path, int reps) {
    enum { H = 256 };
    myelin_model *model;
    myelin_context *ctx = open_model(path, &model);
    static float x[H], y[H];
    for (int i = 0; i < H; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    double *t = malloc(sizeof(double) * (size_t)reps);
    int warm = reps / 10 < 20 ? 20 : reps / 10;
    size_t steps = 0, capacity = 0, state = 0;
    myelin_model_stream_info(model, &steps, &capacity, &state);
    for (int i = -warm; i < reps; i++) {
        double t0 = now_us();
        step(ctx, x, y);
        double t1 = now_us();
        if (i >= 0) t[i] = t1 - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    printf("RESULT myelin lstm256_step batch 1 median_us %.2f p10_us %.2f p90_us %.2f (state %zu bytes, y[0] %.5f)\n",
           t[reps / 2], t[reps / 10], t[reps * 9 / 10], state, (double)y[0]);
    free(t);
    myelin_context_free(ctx);
    myelin_model_free(model);
}

static void bench_generate(const char *path, int count, int rounds) {
    myelin_model *model;
    myelin_context *ctx = open_model(path, &model);
    myelin_value_info out;
    myelin_model_output_info(model, 0, &out);
    int vocabulary = (int)out.dims[1];
    float *logits = malloc(sizeof(float) * (size_t)vocabulary);
    int32_t *tokens = calloc((size_t)count + 1, sizeof(int32_t));
    double *rate = malloc(sizeof(double) * (size_t)rounds);
    for (int r = 0; r < rounds; r++) {
        myelin_context_reset(ctx);
        double t0 = now_us();
        for (int n = 1; n <= count; n++) {
            step(ctx, &tokens[n - 1], logits);
            int best = 0;
            for (int v = 1; v < vocabulary; v++) if (logits[v] > logits[best]) best = v;
            tokens[n] = best;
        }
        rate[r] = count * 1e6 / (now_us() - t0);
    }
    qsort(rate, (size_t)rounds, sizeof(double), cmp_d);
    printf("RESULT myelin transformer_generate %d tokens median_tokens_per_s %.1f (key/value cache); tokens:", count, rate[rounds / 2]);
    for (int i = 1; i <= 16 && i <= count; i++) printf(" %d", tokens[i]);
    printf("\n");
    free(rate); free(tokens); free(logits);
    myelin_context_free(ctx);
    myelin_model_free(model);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "lstm") == 0) {
        bench_lstm(argv[2], argc > 3 ? atoi(argv[3]) : 2000);
    } else if (argc >= 5 && strcmp(argv[1], "generate") == 0) {
        bench_generate(argv[2], atoi(argv[3]), atoi(argv[4]));
    } else {
        fprintf(stderr, "usage: %s lstm MODEL.myelin REPS | %s generate MODEL.myelin TOKENS ROUNDS\n", argv[0], argv[0]);
        return 2;
    }
    return 0;
}
