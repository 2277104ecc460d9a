/*
 * fashion_mnist.h — the test set for the C examples: reads the gzip'd IDX files of Debian's
 * dataset-fashion-mnist (or any MNIST-style folder holding t10k-images-idx3-ubyte.gz and
 * t10k-labels-idx1-ubyte.gz) and scales pixels to [0, 1], as the models were trained.
 */
#ifndef MYELIN_EXAMPLES_FASHION_MNIST_H
#define MYELIN_EXAMPLES_FASHION_MNIST_H

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define FASHION_MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Reads a whole gzip file; returns a malloc'd buffer (caller frees) or NULL. */
static unsigned char *fmnist_read_gz(const char *path, size_t *size) {
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap * 2);
            if (!bigger) { free(buf); buf = NULL; break; }
            buf = bigger;
            cap *= 2;
        }
        int n = gzread(f, buf + len, (unsigned)(cap - len));
        if (n < 0) { free(buf); buf = NULL; break; }
        if (n == 0) break;
        len += (size_t)n;
    }
    gzclose(f);
    *size = len;
    return buf;
}

static unsigned fmnist_be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | (unsigned)p[3];
}

/* Loads an IDX file of unsigned bytes with `rank` dimensions: checks magic and size,
 * returns the data inside *file (caller frees *file) and the dims, or NULL with a message. */
static const unsigned char *fmnist_read_idx(const char *path, unsigned rank, unsigned *dims, unsigned char **file) {
    size_t size = 0;
    *file = fmnist_read_gz(path, &size);
    if (!*file) { fprintf(stderr, "%s: cannot read the file\n", path); return NULL; }
    size_t need = 4 + 4 * (size_t)rank, count = 1;
    if (size < need || fmnist_be32(*file) != (0x0800u | rank)) {
        fprintf(stderr, "%s: not an IDX file of rank %u\n", path, rank);
        return NULL;
    }
    for (unsigned i = 0; i < rank; i++) { dims[i] = fmnist_be32(*file + 4 + 4 * i); count *= dims[i]; }
    if (size != need + count) { fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, size, need + count); return NULL; }
    return *file + need;
}

/* The test set: n images of *features floats in [0, 1] (rows × columns pixels) and n labels
 * (both malloc'd; caller frees). Returns 0 on success, else prints why and returns 1. */
static int fmnist_load_test(const char *dir, size_t *n, size_t *features, float **images, unsigned char **labels) {
    char images_path[4096], labels_path[4096];
    snprintf(images_path, sizeof images_path, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(labels_path, sizeof labels_path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    unsigned idims[3], ldims[1];
    unsigned char *ifile = NULL, *lfile = NULL;
    const unsigned char *pixels = fmnist_read_idx(images_path, 3, idims, &ifile);
    const unsigned char *raw_labels = pixels ? fmnist_read_idx(labels_path, 1, ldims, &lfile) : NULL;
    int status = 1;
    *images = NULL;
    *labels = NULL;
    if (!pixels || !raw_labels) goto done;
    if (ldims[0] != idims[0]) {
        fprintf(stderr, "%s: %u images and %u labels\n", dir, idims[0], ldims[0]);
        goto done;
    }
    *n = idims[0];
    *features = (size_t)idims[1] * idims[2];
    *images = malloc(*n * *features * sizeof(float) + 1);
    *labels = malloc(*n + 1);
    if (!*images || !*labels) { free(*images); free(*labels); *images = NULL; *labels = NULL; goto done; }
    for (size_t i = 0; i < *n * *features; i++) (*images)[i] = (float)pixels[i] / 255.0f;
    for (size_t i = 0; i < *n; i++) (*labels)[i] = raw_labels[i];
    status = 0;
done:
    free(ifile);
    free(lfile);
    return status;
}

#endif
