/*
 * paired — CPU time per image of several libmyelin builds loaded into one process, calls
 * alternating between them in rounds (a shared, noisy machine moves separate runs by ±2–5%;
 * within one process, round by round, the ratio of two builds moves by about ±1%):
 *
 *   cc -O2 -I include bench/runtime-cnn/paired.c -o /tmp/paired -ldl
 *   cp <main>/.build-cmake/libmyelin.so.0.1.0 /tmp/a.so; cp .build-cmake/libmyelin.so.0.1.0 /tmp/b.so
 *   /tmp/paired MODEL.myelin BATCH CALLS ROUNDS /tmp/a.so /tmp/b.so [/tmp/a2.so ...]
 *
 * Each library must be a separate file (dlopen shares a path's handle); a second copy of the
 * first shows the noise. Per library: the median and minimum over the rounds of CPU time per
 * image (µs), and the median over the rounds of its time divided by the first library's.
 * Inputs are synthetic pixels in [0, 1], as in bench/runtime-cnn/loop.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <myelin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* The C API's functions, looked up in each library (myelin.h). */
typedef myelin_status (*load_t)(const char *, myelin_model **);
typedef myelin_status (*ctx_t)(const myelin_model *, size_t, myelin_context **);
typedef size_t (*size_tt)(const myelin_model *);
typedef myelin_status (*run_t)(myelin_context *, const float *, size_t, float *);
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
    if (argc < 6 || argc > 13) { fprintf(stderr, "usage: %s MODEL BATCH CALLS ROUNDS LIB... (1 to 8)\n", argv[0]); return 2; }
    size_t batch = atol(argv[2]), calls = atol(argv[3]), rounds = atol(argv[4]); int n = argc - 5;
    run_t run[8]; myelin_context *ctx[8]; float *x = 0, *y = 0;
    for (int i = 0; i < n; i++) {
        void *h = dlopen(argv[5 + i], RTLD_NOW | RTLD_LOCAL);
        if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
        load_t load = (load_t)dlsym(h, "myelin_model_load_file"); ctx_t mk = (ctx_t)dlsym(h, "myelin_context_create");
        size_tt ins = (size_tt)dlsym(h, "myelin_model_input_size"), outs = (size_tt)dlsym(h, "myelin_model_output_size");
        run[i] = (run_t)dlsym(h, "myelin_run");
        myelin_model *model;
        if (load(argv[1], &model) != MYELIN_OK || mk(model, batch, &ctx[i]) != MYELIN_OK) { fprintf(stderr, "load failed\n"); return 1; }
        if (!x) { x = malloc(batch * ins(model) * 4); y = malloc(batch * outs(model) * 4);
                  for (size_t k = 0; k < batch * ins(model); k++) x[k] = (float)(k * 7919 % 256) / 255.0f; }
        run[i](ctx[i], x, batch, y);
    }
    double *t = malloc(sizeof(double) * rounds * n), *r = malloc(sizeof(double) * rounds * n);
    for (size_t k = 0; k < rounds; k++)
        for (int i = 0; i < n; i++) {
            double t0 = cpu(); for (size_t c = 0; c < calls; c++) run[i](ctx[i], x, batch, y);
            t[i * rounds + k] = (cpu() - t0) / (calls * batch) * 1e6;
        }
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < rounds; k++) r[k] = t[i * rounds + k] / t[k];
        qsort(r, rounds, sizeof(double), cmp); double ratio = r[rounds / 2];
        qsort(t + i * rounds, rounds, sizeof(double), cmp);
        printf("%-40s median %.3f us  min %.3f  paired ratio to first %.4f\n", argv[5 + i], t[i * rounds + rounds / 2], t[i * rounds], ratio);
    }
    return 0;
}
