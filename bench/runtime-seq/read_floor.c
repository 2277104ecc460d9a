/*
 * read_floor — the memory floor of one LSTM(256 → 256) step at batch 1 on this machine: the
 * time to read W_ih and W_hh once (2 × 1024 × 256 values) with eight independent AVX-512
 * streams and nothing else, as f32 (2 MiB: larger than one core's 1 MiB L2, so every step
 * streams from L3), f16 (1 MiB) and int8 (512 KiB). A step cannot be faster than its read.
 *   gcc -O3 -march=native -o /tmp/read_floor bench/runtime-seq/read_floor.c && /tmp/read_floor
 */
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
enum { rounds = 5000 };
static double times[rounds];

/* Median seconds to sum `bytes` of memory as floats, 8 × 64 bytes per iteration. */
static double read_median(const float *w, size_t bytes, float *sink) {
    size_t n = bytes / 4;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (size_t i = 0; i < n; i += 128) {
            a0 = _mm512_add_ps(a0, _mm512_load_ps(w + i));      a1 = _mm512_add_ps(a1, _mm512_load_ps(w + i + 16));
            a2 = _mm512_add_ps(a2, _mm512_load_ps(w + i + 32)); a3 = _mm512_add_ps(a3, _mm512_load_ps(w + i + 48));
            a4 = _mm512_add_ps(a4, _mm512_load_ps(w + i + 64)); a5 = _mm512_add_ps(a5, _mm512_load_ps(w + i + 80));
            a6 = _mm512_add_ps(a6, _mm512_load_ps(w + i + 96)); a7 = _mm512_add_ps(a7, _mm512_load_ps(w + i + 112));
        }
        a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
        *sink += _mm512_reduce_add_ps(a0);
        times[r] = now() - t0;
    }
    qsort(times, rounds, sizeof(double), cmp);
    return times[rounds / 2];
}

int main(void) {
    size_t values = 2 * 1024 * 256;
    float *w = aligned_alloc(64, values * 4);
    for (size_t i = 0; i < values; i++) w[i] = (float)(i % 7) * 0.001f;
    float sink = 0;
    const char *names[] = {"f32 (2 MiB)", "f16 (1 MiB)", "int8 (512 KiB)"};
    size_t bytes[] = {values * 4, values * 2, values};
    for (int k = 0; k < 3; k++) {
        double t = read_median(w, bytes[k], &sink);
        printf("LSTM(256) step weights %-15s read: median %6.2f us  (%.0f GB/s)\n", names[k], t * 1e6, bytes[k] / t / 1e9);
    }
    printf("(sink %g)\n", sink);
    return 0;
}
