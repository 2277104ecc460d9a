/*
 * two_inputs — run a model with several inputs from C: the two-input Fashion-MNIST model of
 * examples/graph-models (inputs "image", 784 pixels in [0, 1], and "side", the image's 28
 * column means; output "logits"), through the multi-input API.
 *
 *   two_inputs MODEL.myelin [FASHION_MNIST_DIR]
 *
 * Finds the inputs by name, prints what the model takes (shapes and the bundle's
 * input.preprocessing note), the arena a context needs, and the test accuracy.
 */
#include <myelin.h>

#include <stdio.h>
#include <stdlib.h>

#include "fashion_mnist.h"

static void print_value(const char *kind, const myelin_value_info *v) {
    printf("%s \"%s\": [", kind, v->name);
    for (size_t d = 0; d < v->rank; d++) printf("%s%lld", d ? ", " : "", (long long)v->dims[d]);
    printf("] per sample, %zu values\n", v->count);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.myelin [FASHION_MNIST_DIR]\n", argv[0]);
        return 2;
    }
    myelin_model *model = NULL;
    char why[1024];
    myelin_status st = myelin_model_load_file_ex(argv[1], &model, why, sizeof why);
    if (st != MYELIN_OK) {
        fprintf(stderr, "two_inputs: %s\n", why);  /* e.g. "model.myelin: No such file or directory" */
        return 1;
    }
    int status = 1;
    size_t n = 0, features = 0, image_index = 0, side_index = 0, logits_index = 0;
    float *images = NULL, *side = NULL, *logits = NULL;
    unsigned char *labels = NULL;
    myelin_context *ctx = NULL;
    myelin_value_info image, side_info, output;
    if (myelin_model_find_input(model, "image", &image_index) != MYELIN_OK
        || myelin_model_find_input(model, "side", &side_index) != MYELIN_OK
        || myelin_model_find_output(model, "logits", &logits_index) != MYELIN_OK
        || myelin_model_input_count(model) != 2 || myelin_model_output_count(model) != 1) {
        fprintf(stderr, "two_inputs: %s does not take \"image\" and \"side\" and give \"logits\"\n", argv[1]);
        goto done;
    }
    myelin_model_input_info(model, image_index, &image);
    myelin_model_input_info(model, side_index, &side_info);
    myelin_model_output_info(model, logits_index, &output);
    print_value("input ", &image);
    print_value("input ", &side_info);
    print_value("output", &output);
    const char *note = NULL;
    if (myelin_model_metadata(model, "input.preprocessing", &note) == MYELIN_OK) printf("inputs: %s\n", note);
    if (image.count != 784 || side_info.count != 28 || output.count != 10) {
        fprintf(stderr, "two_inputs: unexpected sizes\n");
        goto done;
    }

    if (fmnist_load_test(argc == 3 ? argv[2] : FASHION_MNIST_DEFAULT_DIR, &n, &features, &images, &labels) != 0) goto done;
    if (features != 784) { fprintf(stderr, "two_inputs: the images have %zu pixels, the model takes 28 x 28\n", features); goto done; }
    side = malloc(n * 28 * sizeof(float));
    logits = malloc(n * 10 * sizeof(float));
    if (!side || !logits) goto done;
    for (size_t i = 0; i < n; i++) {          /* the side vector: column means */
        for (size_t c = 0; c < 28; c++) {
            float sum = 0;
            for (size_t r = 0; r < 28; r++) sum += images[i * 784 + r * 28 + c];
            side[i * 28 + c] = sum / 28.0f;
        }
    }

    const size_t batch = 256;
    size_t arena = 0;
    myelin_context_arena_size(model, batch, &arena);
    printf("arena for batches of %zu: %zu bytes\n", batch, arena);
    if ((st = myelin_context_create(model, batch, &ctx)) != MYELIN_OK) {
        fprintf(stderr, "two_inputs: context: %s\n", myelin_status_string(st));
        goto done;
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i += batch) {
        size_t b = n - i < batch ? n - i : batch;
        const void *inputs[2];
        void *outputs[1] = {logits + i * 10};
        inputs[image_index] = images + i * 784;
        inputs[side_index] = side + i * 28;
        if ((st = myelin_run_multi(ctx, b, inputs, outputs)) != MYELIN_OK) {
            fprintf(stderr, "two_inputs: run: %s\n", myelin_status_string(st));
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < 10; k++) if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
        if (best == labels[i]) correct++;
    }
    printf("test accuracy %.4f (%zu/%zu)\n", (double)correct / (double)n, correct, n);
    status = 0;
done:
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(images);
    free(labels);
    free(side);
    free(logits);
    return status;
}
