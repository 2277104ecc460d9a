/*
 * loop — CPU time per image of libmyelin on a bundle, robust to a loaded machine (wall-clock
 * medians of a long batch-256 call count the time other processes held the core):
 *
 *   loop MODEL.myelin BATCH REPS      → RESULT myelin_cpu batch B per_image_cpu_us X images_per_cpu_s Y
 *
 * Inputs are synthetic pixels in [0, 1] (speed does not depend on them); one warm-up call.
 */
#define _POSIX_C_SOURCE 199309L
#include <myelin.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s MODEL.myelin BATCH REPS\n", argv[0]); return 2; }
    myelin_model *model = NULL;
    myelin_context *ctx = NULL;
    size_t batch = (size_t)atol(argv[2]), reps = (size_t)atol(argv[3]);
    myelin_status st = myelin_model_load_file(argv[1], &model);
    if (st == MYELIN_OK) st = myelin_context_create(model, batch, &ctx);
    if (st != MYELIN_OK) { fprintf(stderr, "loop: %s\n", myelin_status_string(st)); return 1; }
    size_t in = myelin_model_input_size(model), out = myelin_model_output_size(model);
    float *x = malloc(batch * in * sizeof(float)), *y = malloc(batch * out * sizeof(float));
    if (!x || !y) return 1;
    for (size_t i = 0; i < batch * in; i++) x[i] = (float)(i * 7919 % 256) / 255.0f;
    myelin_run(ctx, x, batch, y);
    double t0 = cpu_seconds();
    for (size_t r = 0; r < reps; r++) myelin_run(ctx, x, batch, y);
    double per = (cpu_seconds() - t0) / (double)(reps * batch);
    printf("RESULT myelin_cpu batch %zu per_image_cpu_us %.2f images_per_cpu_s %.0f\n", batch, per * 1e6, 1.0 / per);
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(x);
    free(y);
    return 0;
}
