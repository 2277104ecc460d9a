/*
 * generate_images — draw Fashion-MNIST-like images from a Myelin generator bundle (DCGAN or
 * class-conditional cGAN, from `myelin train --model dcgan|cgan`) and write them as a PNG grid.
 *
 *   generate_images GENERATOR.myelin SEED OUT.png [COUNT [CLASS]]
 *
 * The latent codes come from SEED alone (splitmix64 → Box–Muller normal draws), so the same
 * seed gives the same picture with the f32 and the int8 generator. COUNT images (default 64,
 * 8 per row; at most 1024); a cGAN draws CLASS (0–9) for every image, or cycles through
 * the classes, one row per class, when CLASS is not given. The latent size and class count are
 * read from the bundle (metadata generator.latent and generator.classes).
 */
#include <myelin.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png_grid.h"

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A standard normal draw (Box–Muller on two uniforms in (0, 1]). */
static float normal(uint64_t *state) {
    double u1 = ((double)(splitmix64(state) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (double)(splitmix64(state) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int parse_size(const char *s, size_t low, size_t high, size_t *out) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!end || *end || s[0] == '-' || v < low || v > high) return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: %s GENERATOR.myelin SEED OUT.png [COUNT [CLASS]]\n", argv[0]);
        return 2;
    }
    size_t seed = 0, count = 64, wanted_class = (size_t)-1;
    if (parse_size(argv[2], 0, (size_t)-1 >> 1, &seed) != 0) { fprintf(stderr, "generate_images: SEED must be a non-negative integer\n"); return 2; }
    if (argc > 4 && parse_size(argv[4], 1, 1024, &count) != 0) { fprintf(stderr, "generate_images: COUNT must be in 1…1024\n"); return 2; }

    myelin_model *model = NULL;
    char why[1024];
    if (myelin_model_load_file_ex(argv[1], &model, why, sizeof why) != MYELIN_OK) {
        fprintf(stderr, "generate_images: %s\n", why);
        return 1;
    }
    int status = 1;
    float *latent = NULL, *images = NULL;
    myelin_context *ctx = NULL;
    const char *value = NULL;
    size_t latent_size = 0, classes = 0;
    if (myelin_model_metadata(model, "generator.latent", &value) != MYELIN_OK || parse_size(value, 1, 65536, &latent_size) != 0
        || myelin_model_metadata(model, "generator.classes", &value) != MYELIN_OK || parse_size(value, 0, 65536, &classes) != 0) {
        fprintf(stderr, "generate_images: %s is not a generator bundle (no generator.latent / generator.classes metadata)\n", argv[1]);
        goto done;
    }
    if (argc > 5) {
        if (classes == 0) { fprintf(stderr, "generate_images: CLASS given, but the generator is not conditional\n"); goto done; }
        if (parse_size(argv[5], 0, classes - 1, &wanted_class) != 0) { fprintf(stderr, "generate_images: CLASS must be in 0…%zu\n", classes - 1); goto done; }
    }
    size_t width = latent_size + classes;
    if (myelin_model_input_size(model) != width || myelin_model_output_size(model) != 784) {
        fprintf(stderr, "generate_images: expected input %zu and output 784, the bundle has %zu and %zu\n",
                width, myelin_model_input_size(model), myelin_model_output_size(model));
        goto done;
    }
    latent = calloc(count * width, sizeof(float));
    images = malloc(count * 784 * sizeof(float));
    if (!latent || !images) { fprintf(stderr, "generate_images: out of memory\n"); goto done; }
    uint64_t state = (uint64_t)seed;
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < latent_size; j++) latent[i * width + j] = normal(&state);
        if (classes) latent[i * width + latent_size + (wanted_class != (size_t)-1 ? wanted_class : (i / 8) % classes)] = 1;
    }
    myelin_status st = myelin_context_create(model, count, &ctx);
    if (st == MYELIN_OK) st = myelin_run(ctx, latent, count, images);
    if (st != MYELIN_OK) { fprintf(stderr, "generate_images: %s\n", myelin_status_string(st)); goto done; }
    if (png_write_grid(argv[3], images, count, 28, 8, 2) != 0) goto done;
    static const char *precisions[] = {"?", "f32", "f16", "int8"};
    myelin_precision p = myelin_model_precision(model);
    double mean = 0;
    for (size_t i = 0; i < count * 784; i++) mean += images[i];
    printf("wrote %s: %zu images from seed %zu (%s generator, latent %zu%s), mean pixel %.6f\n", argv[3], count, seed,
           precisions[p >= 1 && p <= 3 ? p : 0], latent_size, classes ? ", conditional" : "", mean / (double)(count * 784));
    status = 0;
done:
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(latent);
    free(images);
    return status;
}
