/*
 * png_grid.h — write 28×28 grey images (floats in [0, 1]) as one PNG grid, with zlib.
 * Shared by generate_images.c and denoise.c; header-only, C99.
 *
 * PNG layout: signature, IHDR (width, height, bit depth 8, colour type 0 = grey), one IDAT
 * holding the zlib stream of the rows (each prefixed by filter type 0), an empty IEND; every
 * chunk is length (big-endian) · type · data · CRC-32 of type and data.
 */
#ifndef MYELIN_EXAMPLE_PNG_GRID_H
#define MYELIN_EXAMPLE_PNG_GRID_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void png_be32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static int png_chunk(FILE *f, const char *type, const unsigned char *data, size_t size) {
    unsigned char head[8];
    png_be32(head, (unsigned long)size);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, head + 4, 4);
    if (size) crc = crc32(crc, data, (uInt)size);
    unsigned char tail[4];
    png_be32(tail, crc);
    return fwrite(head, 1, 8, f) == 8 && (size == 0 || fwrite(data, 1, size, f) == size) && fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
}

/* Writes `count` images of side×side floats (row-major, in [0, 1]) as a grid of `columns`
 * tiles per row, each pixel `scale`×`scale`, tiles separated by 1 grey pixel.
 * Returns 0, or -1 after printing why. */
static int png_write_grid(const char *path, const float *images, size_t count, size_t side, size_t columns, size_t scale) {
    if (count == 0 || columns == 0 || scale == 0) { fprintf(stderr, "png: nothing to draw\n"); return -1; }
    size_t rows = (count + columns - 1) / columns;
    size_t tile = side * scale;
    size_t width = columns * tile + columns + 1, height = rows * tile + rows + 1;
    size_t stride = width + 1;
    unsigned char *raw = malloc(stride * height);
    if (!raw) { fprintf(stderr, "png: out of memory\n"); return -1; }
    memset(raw, 128, stride * height);
    for (size_t y = 0; y < height; y++) raw[y * stride] = 0; /* filter type: none */
    for (size_t k = 0; k < count; k++) {
        size_t x0 = 1 + (k % columns) * (tile + 1), y0 = 1 + (k / columns) * (tile + 1);
        for (size_t y = 0; y < tile; y++)
            for (size_t x = 0; x < tile; x++) {
                float v = images[k * side * side + (y / scale) * side + x / scale];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                raw[(y0 + y) * stride + 1 + x0 + x] = (unsigned char)(v * 255.0f + 0.5f);
            }
    }
    uLongf packed_size = compressBound((uLong)(stride * height));
    unsigned char *packed = malloc(packed_size);
    int status = -1;
    FILE *f = NULL;
    if (!packed || compress2(packed, &packed_size, raw, (uLong)(stride * height), Z_BEST_COMPRESSION) != Z_OK) {
        fprintf(stderr, "png: compression failed\n");
        goto done;
    }
    if (!(f = fopen(path, "wb"))) { perror(path); goto done; }
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    unsigned char ihdr[13];
    png_be32(ihdr, (unsigned long)width);
    png_be32(ihdr + 4, (unsigned long)height);
    ihdr[8] = 8; ihdr[9] = 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    if (fwrite(signature, 1, 8, f) != 8 || png_chunk(f, "IHDR", ihdr, 13) || png_chunk(f, "IDAT", packed, packed_size)
        || png_chunk(f, "IEND", NULL, 0)) {
        fprintf(stderr, "%s: write failed\n", path);
        goto done;
    }
    status = 0;
done:
    if (f && fclose(f) != 0 && status == 0) { perror(path); status = -1; }
    free(raw);
    free(packed);
    return status;
}

#endif
