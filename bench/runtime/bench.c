/*
 * myelin_bench — the runtime's numbers for one bundle, measured the way
 * ../shared/anchors/ort_infer.py measures ONNX Runtime (one thread, Fashion-MNIST test
 * images, median of repeated timings):
 *
 *   myelin_bench MODEL.myelin [FASHION_MNIST_DIR]
 *
 * RESULT lines: bundle load time (file → ready model, median of 200), batch-1 latency
 * (median of 3000 calls on the first image), batch-256 throughput (median of 50 calls on
 * the first 256 images), test accuracy.
 */
#define _POSIX_C_SOURCE 199309L
#include <myelin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, compare_doubles);
    return v[n / 2];
}

/* The test images as floats in [0, 1] and the labels; returns the count, 0 on failure. */
static size_t load_test_set(const char *dir, size_t features, float **images, unsigned char **labels) {
    char path[4096];
    unsigned char header[16];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    gzFile f = gzopen(path, "rb");
    if (!f || gzread(f, header, 16) != 16) { fprintf(stderr, "myelin_bench: cannot read %s\n", path); if (f) gzclose(f); return 0; }
    size_t n = (size_t)header[4] << 24 | (size_t)header[5] << 16 | (size_t)header[6] << 8 | header[7];
    unsigned char *pixels = malloc(n * features);
    *images = malloc(n * features * sizeof(float));
    *labels = malloc(n);
    int ok = pixels && *images && *labels && gzread(f, pixels, (unsigned)(n * features)) == (int)(n * features);
    gzclose(f);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    f = gzopen(path, "rb");
    ok = ok && f && gzread(f, header, 8) == 8 && gzread(f, *labels, (unsigned)n) == (int)n;
    if (f) gzclose(f);
    if (ok) for (size_t i = 0; i < n * features; i++) (*images)[i] = (float)pixels[i] / 255.0f;
    free(pixels);
    return ok ? n : 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.myelin [FASHION_MNIST_DIR]\n", argv[0]);
        return 2;
    }
    const char *dir = argc == 3 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    static double times[3000];

    /* Load time, file → model (the file is in the page cache after the first load). */
    myelin_model *model = NULL;
    for (size_t i = 0; i < 200; i++) {
        double t0 = now_seconds();
        myelin_status st = myelin_model_load_file(argv[1], &model);
        times[i] = now_seconds() - t0;
        if (st != MYELIN_OK) { fprintf(stderr, "myelin_bench: %s: %s\n", argv[1], myelin_status_string(st)); return 1; }
        if (i + 1 < 200) myelin_model_free(model);
    }
    double load = median(times, 200);

    size_t features = myelin_model_input_size(model), classes = myelin_model_output_size(model);
    float *images = NULL;
    unsigned char *labels = NULL;
    size_t n = load_test_set(dir, features, &images, &labels);
    myelin_context *ctx = NULL;
    float *out = malloc(n * classes * sizeof(float));
    if (n < 256 || !out || myelin_context_create(model, 256, &ctx) != MYELIN_OK) return 1;

    for (size_t i = 0; i < 300; i++) myelin_run(ctx, images, 1, out);
    for (size_t i = 0; i < 3000; i++) {
        double t0 = now_seconds();
        myelin_run(ctx, images, 1, out);
        times[i] = now_seconds() - t0;
    }
    double latency = median(times, 3000);

    for (size_t i = 0; i < 5; i++) myelin_run(ctx, images, 256, out);
    for (size_t i = 0; i < 50; i++) {
        double t0 = now_seconds();
        myelin_run(ctx, images, 256, out);
        times[i] = now_seconds() - t0;
    }
    double b256 = median(times, 50);

    size_t correct = 0;
    for (size_t i = 0; i < n; i += 256) {
        size_t b = n - i < 256 ? n - i : 256;
        myelin_run(ctx, images + i * features, b, out + i * classes);
    }
    for (size_t i = 0; i < n; i++) {
        const float *s = out + i * classes;
        size_t best = 0;
        for (size_t c = 1; c < classes; c++) if (s[c] > s[best]) best = c;
        correct += best == labels[i];
    }
    static const char *precisions[] = {"?", "f32", "f16", "int8"};
    myelin_precision p = myelin_model_precision(model);
    printf("RESULT myelin_%s load_us %.1f lat_b1_us %.2f thr_b256_per_s %.0f acc %.4f\n",
           precisions[p >= 1 && p <= 3 ? p : 0], load * 1e6, latency * 1e6, 256.0 / b256, (double)correct / (double)n);
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(out);
    free(images);
    free(labels);
    return 0;
}
