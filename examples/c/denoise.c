/*
 * denoise — clean corrupted Fashion-MNIST test images with a Myelin denoising autoencoder
 * (`myelin train --model denoising-autoencoder` writes denoiser.myelin).
 *
 *   denoise DENOISER.myelin OUT.png [NOISE [SEED [DATA_DIR]]]
 *
 * NOISE is gaussian:SIGMA (default gaussian:0.3; pixels clamped to [0, 1]) or masking:FRACTION
 * (each pixel set to 0 with that probability), drawn from SEED (default 1). Prints the mean
 * squared error per pixel of the noisy and of the denoised test images against the clean ones,
 * and writes OUT.png: 8 clean test images, below them their noisy copies, then the denoised ones.
 */
#include <myelin.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fashion_mnist.h"
#include "png_grid.h"

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state) { return (double)(splitmix64(state) >> 11) / 9007199254740992.0; }

static float normal(uint64_t *state) {
    double u1 = ((double)(splitmix64(state) >> 11) + 1.0) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * uniform(state)));
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: %s DENOISER.myelin OUT.png [gaussian:SIGMA|masking:FRACTION [SEED [DATA_DIR]]]\n", argv[0]);
        return 2;
    }
    const char *noise = argc > 3 ? argv[3] : "gaussian:0.3";
    int masking = strncmp(noise, "masking:", 8) == 0;
    if (!masking && strncmp(noise, "gaussian:", 9) != 0) { fprintf(stderr, "denoise: NOISE must be gaussian:SIGMA or masking:FRACTION\n"); return 2; }
    char *end = NULL;
    double level = strtod(noise + (masking ? 8 : 9), &end);
    if (!end || *end || !(level >= 0) || (masking && level > 1) || !isfinite(level)) {
        fprintf(stderr, "denoise: bad noise level in \"%s\"\n", noise);
        return 2;
    }
    uint64_t state = 1;
    if (argc > 4) {
        unsigned long long s = strtoull(argv[4], &end, 10);
        if (!end || *end || argv[4][0] == '-') { fprintf(stderr, "denoise: SEED must be a non-negative integer\n"); return 2; }
        state = (uint64_t)s;
    }
    const char *dir = argc > 5 ? argv[5] : FASHION_MNIST_DEFAULT_DIR;

    myelin_model *model = NULL;
    char why[1024];
    if (myelin_model_load_file_ex(argv[1], &model, why, sizeof why) != MYELIN_OK) {
        fprintf(stderr, "denoise: %s\n", why);
        return 1;
    }
    int status = 1;
    size_t n = 0, features = 0;
    float *clean = NULL, *noisy = NULL, *denoised = NULL;
    unsigned char *labels = NULL;
    myelin_context *ctx = NULL;
    if (myelin_model_input_size(model) != 784 || myelin_model_output_size(model) != 784) {
        fprintf(stderr, "denoise: expected a 784 → 784 model, the bundle has %zu → %zu\n",
                myelin_model_input_size(model), myelin_model_output_size(model));
        goto done;
    }
    if (fmnist_load_test(dir, &n, &features, &clean, &labels) != 0) goto done;
    if (features != 784) { fprintf(stderr, "denoise: the images have %zu pixels, not 784\n", features); goto done; }
    noisy = malloc(n * 784 * sizeof(float));
    denoised = malloc(n * 784 * sizeof(float));
    if (!noisy || !denoised) { fprintf(stderr, "denoise: out of memory\n"); goto done; }
    for (size_t i = 0; i < n * 784; i++) {
        float v = masking ? (uniform(&state) < level ? 0.0f : clean[i]) : clean[i] + (float)level * normal(&state);
        noisy[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    const size_t batch = 256;
    myelin_status st = myelin_context_create(model, batch, &ctx);
    for (size_t i = 0; st == MYELIN_OK && i < n; i += batch) {
        size_t b = n - i < batch ? n - i : batch;
        st = myelin_run(ctx, noisy + i * 784, b, denoised + i * 784);
    }
    if (st != MYELIN_OK) { fprintf(stderr, "denoise: %s\n", myelin_status_string(st)); goto done; }
    double noisy_error = 0, denoised_error = 0;
    for (size_t i = 0; i < n * 784; i++) {
        noisy_error += ((double)noisy[i] - clean[i]) * ((double)noisy[i] - clean[i]);
        denoised_error += ((double)denoised[i] - clean[i]) * ((double)denoised[i] - clean[i]);
    }
    printf("%zu test images, %s noise: MSE noisy %.5f, denoised %.5f\n", n, noise,
           noisy_error / (double)(n * 784), denoised_error / (double)(n * 784));
    float shown[3 * 8 * 784];
    memcpy(shown, clean, 8 * 784 * sizeof(float));
    memcpy(shown + 8 * 784, noisy, 8 * 784 * sizeof(float));
    memcpy(shown + 16 * 784, denoised, 8 * 784 * sizeof(float));
    if (png_write_grid(argv[2], shown, 24, 28, 8, 2) != 0) goto done;
    printf("wrote %s (rows: clean, noisy, denoised)\n", argv[2]);
    status = 0;
done:
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(clean);
    free(noisy);
    free(denoised);
    free(labels);
    return status;
}
