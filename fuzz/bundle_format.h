/*
 * The bundle container (docs/bundle-format.md, "File layout") as the fuzz tools need it:
 * a lenient reader of the header and section table, section decoding (stored, deflate,
 * shuffled deflate) and a writer that lays sections out again with correct offsets,
 * sizes and CRCs. Shared by the libFuzzer harness (its repairing mutator) and the sweep
 * tool. Header-only; needs zlib.
 */
#ifndef MYELIN_FUZZ_BUNDLE_FORMAT_H
#define MYELIN_FUZZ_BUNDLE_FORMAT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BF_HEADER 32
#define BF_ENTRY 40
#define BF_MAX_SECTIONS 16

typedef struct bf_section {
    uint32_t kind, encoding;
    uint64_t offset, stored, size;
    uint32_t crc, reserved;
} bf_section;

typedef struct bf_table {
    uint32_t count;
    bf_section s[BF_MAX_SECTIONS];
} bf_table;

static inline uint64_t bf_rd(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static inline void bf_wr(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The table of a file whose header and entries fit and whose payloads lie inside it; 0 if
 * not (checksums are not looked at). */
static inline int bf_parse(const uint8_t *b, size_t size, bf_table *t) {
    if (size < BF_HEADER) return 0;
    uint32_t n = (uint32_t)bf_rd(b + 24, 4);
    if (n < 1 || n > BF_MAX_SECTIONS || BF_HEADER + (size_t)BF_ENTRY * n > size) return 0;
    t->count = n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = b + BF_HEADER + BF_ENTRY * i;
        bf_section *s = &t->s[i];
        s->kind = (uint32_t)bf_rd(e, 4);
        s->encoding = (uint32_t)bf_rd(e + 4, 4);
        s->offset = bf_rd(e + 8, 8);
        s->stored = bf_rd(e + 16, 8);
        s->size = bf_rd(e + 24, 8);
        s->crc = (uint32_t)bf_rd(e + 32, 4);
        s->reserved = (uint32_t)bf_rd(e + 36, 4);
        if (s->offset > size || s->stored > size - s->offset) return 0;
    }
    return 1;
}

/* Sum of the declared decoded sizes (the bound the memory check scales with). */
static inline uint64_t bf_declared_bytes(const bf_table *t) {
    uint64_t total = 0, cap = 1ull << 50;   /* saturating: the sizes are untrusted */
    for (uint32_t i = 0; i < t->count; i++) total += t->s[i].size < cap - total ? t->s[i].size : cap - total;
    return total;
}

/* Section i's decoded bytes in new memory (*out_size bytes); NULL if it does not decode or
 * is larger than `cap`. */
static inline uint8_t *bf_decode(const uint8_t *file, const bf_section *s, size_t cap, size_t *out_size) {
    if (s->size > cap) return NULL;
    size_t n = (size_t)s->size;
    uint8_t *out = malloc(n ? n : 1);
    if (!out) return NULL;
    if (s->encoding == 0) {
        if (s->stored != s->size) { free(out); return NULL; }
        memcpy(out, file + s->offset, n);
        *out_size = n;
        return out;
    }
    if (s->encoding != 1 && !(s->encoding == 2 && n % 4 == 0)) { free(out); return NULL; }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) { free(out); return NULL; }
    z.next_in = (Bytef *)(file + s->offset);
    z.avail_in = (uInt)s->stored;
    z.next_out = out;
    z.avail_out = (uInt)n;
    int r = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    if (r != Z_STREAM_END || z.total_out != n) { free(out); return NULL; }
    if (s->encoding == 2) {
        uint8_t *lanes = malloc(n ? n : 1);
        if (!lanes) { free(out); return NULL; }
        size_t q = n / 4;
        for (size_t i = 0; i < q; i++)
            for (int b = 0; b < 4; b++) lanes[4 * i + b] = out[b * q + i];
        free(out);
        out = lanes;
    }
    *out_size = n;
    return out;
}

/* `bytes` encoded as `encoding` (0 stored, 1 deflate, 2 shuffled deflate) in new memory. */
static inline uint8_t *bf_encode(const uint8_t *bytes, size_t n, uint32_t encoding, size_t *out_size) {
    if (encoding == 0 || (encoding == 2 && n % 4)) {
        uint8_t *out = malloc(n ? n : 1);
        if (out) memcpy(out, bytes, n);
        *out_size = n;
        return out;
    }
    const uint8_t *src = bytes;
    uint8_t *planes = NULL;
    if (encoding == 2) {
        planes = malloc(n ? n : 1);
        if (!planes) return NULL;
        size_t q = n / 4;
        for (size_t i = 0; i < q; i++)
            for (int b = 0; b < 4; b++) planes[b * q + i] = bytes[4 * i + b];
        src = planes;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    uint8_t *out = NULL;
    if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
        size_t cap = deflateBound(&z, (uLong)n);
        out = malloc(cap);
        if (out) {
            z.next_in = (Bytef *)src;
            z.avail_in = (uInt)n;
            z.next_out = out;
            z.avail_out = (uInt)cap;
            if (deflate(&z, Z_FINISH) != Z_STREAM_END) { free(out); out = NULL; }
            else *out_size = z.total_out;
        }
        deflateEnd(&z);
    }
    free(planes);
    return out;
}

/* Writes a bundle: `header` (its first 16 bytes: magic, version, flags) then sections with
 * the given kinds, encodings, declared sizes and stored payloads, 64-byte aligned, with
 * file size, offsets and every CRC made consistent. Returns the size, or 0 if it would
 * exceed `cap`. */
static inline size_t bf_assemble(const uint8_t header[16], uint32_t count, const bf_section *s, const uint8_t *const *payloads,
                                 uint8_t *out, size_t cap) {
    size_t at = BF_HEADER + (size_t)BF_ENTRY * count;
    size_t total = at;
    for (uint32_t i = 0; i < count; i++) total = (total + 63) / 64 * 64 + (size_t)s[i].stored;
    if (total > cap) return 0;
    memset(out, 0, total);
    memcpy(out, header, 16);
    bf_wr(out + 16, total, 8);
    bf_wr(out + 24, count, 4);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *e = out + BF_HEADER + BF_ENTRY * i;
        at = (at + 63) / 64 * 64;
        if (s[i].stored) memcpy(out + at, payloads[i], (size_t)s[i].stored);
        bf_wr(e, s[i].kind, 4);
        bf_wr(e + 4, s[i].encoding, 4);
        bf_wr(e + 8, at, 8);
        bf_wr(e + 16, s[i].stored, 8);
        bf_wr(e + 24, s[i].size, 8);
        bf_wr(e + 32, crc32(0L, out + at, (uInt)s[i].stored), 4);
        bf_wr(e + 36, s[i].reserved, 4);
        at += (size_t)s[i].stored;
    }
    uLong crc = crc32(0L, out, 28);
    crc = crc32(crc, out + BF_HEADER, (uInt)(BF_ENTRY * count));
    bf_wr(out + 28, crc, 4);
    return total;
}

/* Makes the file size, every in-bounds section CRC and the header CRC of a file consistent
 * with its bytes (after a raw mutation), leaving everything else as it is. */
static inline void bf_repair_checksums(uint8_t *b, size_t size) {
    if (size < BF_HEADER) return;
    bf_wr(b + 16, size, 8);
    uint32_t n = (uint32_t)bf_rd(b + 24, 4);
    if (n > BF_MAX_SECTIONS || BF_HEADER + (size_t)BF_ENTRY * n > size) return;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = b + BF_HEADER + BF_ENTRY * i;
        uint64_t offset = bf_rd(e + 8, 8), stored = bf_rd(e + 16, 8);
        if (offset <= size && stored <= size - offset) bf_wr(e + 32, crc32(0L, b + offset, (uInt)stored), 4);
    }
    uLong crc = crc32(0L, b, 28);
    crc = crc32(crc, b + BF_HEADER, (uInt)(BF_ENTRY * n));
    bf_wr(b + 28, crc, 4);
}

#endif
