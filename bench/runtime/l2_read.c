/*
 * l2_read — the memory floor of batch-1 f32 inference of the 784-256-10 MLP on this machine:
 * the time to read its 784×256 f32 weights (800 KB, resident in the 1 MiB L2 after the first
 * pass) with eight independent AVX-512 streams and nothing else. A GEMV cannot be faster
 * than this. Build: gcc -O3 -march=native -o l2_read bench/runtime/l2_read.c
 */
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int cmp(const void *a, const void *b) { double x = *(double*)a, y = *(double*)b; return (x > y) - (x < y); }
int main(void) {
    size_t n = 784 * 256; /* 800 KB of floats */
    float *w = aligned_alloc(64, n * 4);
    for (size_t i = 0; i < n; i++) w[i] = (float)(i % 7) * 0.001f;
    double times[3000]; float sink = 0;
    for (int r = 0; r < 3000; r++) {
        double t0 = now();
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (size_t i = 0; i < n; i += 128) {
            a0 = _mm512_add_ps(a0, _mm512_load_ps(w + i));      a1 = _mm512_add_ps(a1, _mm512_load_ps(w + i + 16));
            a2 = _mm512_add_ps(a2, _mm512_load_ps(w + i + 32)); a3 = _mm512_add_ps(a3, _mm512_load_ps(w + i + 48));
            a4 = _mm512_add_ps(a4, _mm512_load_ps(w + i + 64)); a5 = _mm512_add_ps(a5, _mm512_load_ps(w + i + 80));
            a6 = _mm512_add_ps(a6, _mm512_load_ps(w + i + 96)); a7 = _mm512_add_ps(a7, _mm512_load_ps(w + i + 112));
        }
        a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
        sink += _mm512_reduce_add_ps(a0);
        times[r] = now() - t0;
    }
    qsort(times, 3000, sizeof(double), cmp);
    printf("read 800 KB (L2-resident): median %.2f us, best %.2f us => %.0f GB/s (sink %g)\n", times[1500] * 1e6, times[0] * 1e6, n * 4 / times[1500] / 1e9, sink);
    return 0;
}
