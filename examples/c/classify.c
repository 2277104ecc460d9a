/*
 * classify — run a Myelin bundle on the Fashion-MNIST test set from C.
 *
 *   classify MODEL.myelin [DATA_DIR]
 *
 * DATA_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (default
 * /usr/share/datasets/fashion-mnist, from Debian's dataset-fashion-mnist). Prints the
 * model's metadata, the self-test result, accuracy over the whole test set (batches of
 * 256), accuracy per class, and the mean latency of a batch-1 call. The input's shape and
 * dtype come from the model (myelin_model_input_info): it must take one f32 input with as
 * many elements as an image has pixels, prepared as its "input.preprocessing" metadata says
 * (Myelin's Fashion-MNIST models: pixels / 255).
 */
#define _POSIX_C_SOURCE 199309L
#include <myelin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "fashion_mnist.h"

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++) if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.myelin [FASHION_MNIST_DIR]\n", argv[0]);
        return 2;
    }
    const char *dir = argc == 3 ? argv[2] : FASHION_MNIST_DEFAULT_DIR;

    myelin_model *model = NULL;
    char why[1024];
    myelin_status st = myelin_model_load_file_ex(argv[1], &model, why, sizeof why);
    if (st != MYELIN_OK) {
        fprintf(stderr, "classify: %s\n", why);  /* e.g. "model.myelin: No such file or directory" */
        return 1;
    }
    static const char *precisions[] = {"?", "f32", "f16", "int8"};
    myelin_precision precision = myelin_model_precision(model);
    printf("libmyelin %s, model %s (%s)\n", myelin_version(), argv[1],
           precisions[precision >= 1 && precision <= 3 ? precision : 0]);
    const char *value = NULL;
    if (myelin_model_metadata(model, "dataset", &value) == MYELIN_OK) printf("trained on %s", value);
    if (myelin_model_metadata(model, "test_accuracy", &value) == MYELIN_OK) printf(", float test accuracy %s", value);
    printf("\nself-test: %s\n", myelin_status_string(myelin_model_selftest(model)));

    /* What the model takes, from the bundle itself. */
    myelin_value_info input;
    if (myelin_model_input_count(model) != 1 || myelin_model_output_count(model) != 1
        || myelin_model_input_info(model, 0, &input) != MYELIN_OK || input.dtype != MYELIN_DTYPE_F32) {
        fprintf(stderr, "classify: the model must take one f32 input and give one output\n");
        myelin_model_free(model);
        return 1;
    }
    printf("input \"%s\": f32 [", input.name);
    for (size_t d = 0; d < input.rank; d++) printf("%s%lld", d ? ", " : "", (long long)input.dims[d]);
    printf("] per sample");
    if (myelin_model_metadata(model, "input.preprocessing", &value) == MYELIN_OK) printf(" (%s)", value);
    printf("\n");

    size_t n = 0, features = 0;
    size_t classes = myelin_model_num_classes(model);
    int status = 1;
    float *inputs = NULL, *scores = NULL;
    unsigned char *labels = NULL;
    myelin_context *ctx = NULL;
    if (fmnist_load_test(dir, &n, &features, &inputs, &labels) != 0) goto done;
    if (classes == 0 || classes > 256) { fprintf(stderr, "classify: %zu classes, at most 256 supported\n", classes); goto done; }
    if (features != input.count) {
        fprintf(stderr, "classify: the model takes %zu inputs, images have %zu pixels\n", input.count, features);
        goto done;
    }

    scores = malloc(n * classes * sizeof(float));
    if (!scores) goto done;

    const size_t batch = 256;
    if ((st = myelin_context_create(model, batch, &ctx)) != MYELIN_OK) {
        fprintf(stderr, "classify: context: %s\n", myelin_status_string(st));
        goto done;
    }
    double t0 = now_seconds();
    for (size_t i = 0; i < n; i += batch) {
        size_t b = n - i < batch ? n - i : batch;
        if ((st = myelin_run(ctx, inputs + i * features, b, scores + i * classes)) != MYELIN_OK) {
            fprintf(stderr, "classify: run: %s\n", myelin_status_string(st));
            goto done;
        }
    }
    double batched = now_seconds() - t0;

    size_t correct = 0, per_class[256] = {0}, per_class_total[256] = {0};
    for (size_t i = 0; i < n; i++) {
        size_t label = labels[i], guess = argmax(scores + i * classes, classes);
        if (label < 256) { per_class_total[label]++; if (guess == label) per_class[label]++; }
        if (guess == label) correct++;
    }
    printf("test accuracy %.4f (%zu/%zu), %.0f samples/s in batches of %zu\n",
           (double)correct / (double)n, correct, n, (double)n / batched, batch);
    for (size_t c = 0; c < classes && c < 256; c++) {
        const char *name = myelin_model_class_label(model, c);
        printf("  %-12s %.4f\n", name ? name : "?", per_class_total[c] ? (double)per_class[c] / (double)per_class_total[c] : 0.0);
    }

    /* Latency of single-sample calls: warm up, then time many calls over the test set. */
    float out[256];
    const size_t calls = 2000, warmup = 200;
    for (size_t i = 0; i < warmup; i++) myelin_run(ctx, inputs + (i % n) * features, 1, out);
    t0 = now_seconds();
    for (size_t i = 0; i < calls; i++) myelin_run(ctx, inputs + (i % n) * features, 1, out);
    printf("batch-1 latency %.2f us (mean of %zu calls)\n", (now_seconds() - t0) / (double)calls * 1e6, calls);
    status = 0;

done:
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(inputs);
    free(scores);
    free(labels);
    return status;
}
