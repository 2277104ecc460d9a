/*
 * fma-peak — this machine's one-core f32 fused-multiply-add peak, measured.
 *
 *   sh bench/fma-peak/run.sh          (builds with -O2 -march=native, runs 11 trials)
 *
 * Each trial runs a loop of independent vector FMA chains (enough chains to cover the FMA
 * latency on any current x86 core) on registers only — no loads, no stores — so the only
 * limit is how many FMA lanes the core retires per second at the clock it runs at while
 * doing so. Reported: the median GFLOP/s over the trials (2 FLOP per lane per FMA) for
 * 512-bit (zmm, AVX-512) and 256-bit (ymm, AVX2) vectors, and the implied FLOP per cycle
 * at the nominal clock read from /proc/cpuinfo (the real clock may be a boost clock: the
 * GFLOP/s figure is what counts). One thread; times are the thread's CPU time, so a shared,
 * loaded machine lowers the figure less than it would wall-clock time (it still may: a
 * busy sibling hardware thread shares the FMA units) — take the max over trials as the
 * closest to the hardware's limit, the median as what a loaded core gives.
 *
 * Also the int8 ceiling of the AVX2 int8 kernel (Sources/MyelinRuntime/QuantizedTileAVX2.swift,
 * for CPUs without VNNI): chains of `vpmaddwd` + `vpaddd` on 256-bit registers, counted as the
 * kernel uses them — each `vpmaddwd` is 16 u8·i8 multiply-adds (bytes widened to i16), 2 ops
 * each. The kernel also spends instructions widening and broadcasting bytes, so this is an upper
 * bound on its rate, not a reachable one.
 */
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define CHAINS 12
#define ITERATIONS 20000000L

/* Twelve accumulators in named registers; the empty asm keeps the compiler from folding
   the chains (it must assume the registers changed) without touching memory. */
#define CHAIN_BODY(V, SET1, FMA, C) \
    V c0 = SET1(seed), c1 = SET1(seed + 1), c2 = SET1(seed + 2), c3 = SET1(seed + 3), c4 = SET1(seed + 4), \
      c5 = SET1(seed + 5), c6 = SET1(seed + 6), c7 = SET1(seed + 7), c8 = SET1(seed + 8), c9 = SET1(seed + 9), \
      c10 = SET1(seed + 10), c11 = SET1(seed + 11); \
    const V a = SET1(0.999999f), b = SET1(1e-7f); \
    for (long i = 0; i < n; i++) { \
        c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b); \
        c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b); \
        c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b); \
        __asm__ volatile("" : C(c0), C(c1), C(c2), C(c3), C(c4), C(c5), C(c6), C(c7), C(c8), C(c9), C(c10), C(c11)); \
    }
#define ALL_SUM (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11)

#ifdef __AVX512F__
__attribute__((noinline)) static float run512(long n, float seed) {
    CHAIN_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, "+v")
    return _mm512_reduce_add_ps(ALL_SUM);
}
#endif

__attribute__((noinline)) static float run256(long n, float seed) {
    CHAIN_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, "+x")
    float lanes[8], s = 0;
    _mm256_storeu_ps(lanes, ALL_SUM);
    for (int l = 0; l < 8; l++) s += lanes[l];
    return s;
}

/* c = c + madd(c, b): each chain's multiply depends on its sum, so nothing is loop-invariant. */
__attribute__((noinline)) static float runMadd256(long n, float seed) {
    int k = (int)seed;
    __m256i c0 = _mm256_set1_epi32(k), c1 = _mm256_set1_epi32(k + 1), c2 = _mm256_set1_epi32(k + 2), c3 = _mm256_set1_epi32(k + 3),
            c4 = _mm256_set1_epi32(k + 4), c5 = _mm256_set1_epi32(k + 5), c6 = _mm256_set1_epi32(k + 6), c7 = _mm256_set1_epi32(k + 7),
            c8 = _mm256_set1_epi32(k + 8), c9 = _mm256_set1_epi32(k + 9), c10 = _mm256_set1_epi32(k + 10), c11 = _mm256_set1_epi32(k + 11);
    const __m256i b = _mm256_set1_epi16(3);
#define MADD(c) c = _mm256_add_epi32(c, _mm256_madd_epi16(c, b))
    for (long i = 0; i < n; i++) {
        MADD(c0); MADD(c1); MADD(c2); MADD(c3); MADD(c4); MADD(c5); MADD(c6); MADD(c7); MADD(c8); MADD(c9); MADD(c10); MADD(c11);
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
    }
#undef MADD
    int lanes[8], s = 0;
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
        _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)),
                         _mm256_add_epi32(_mm256_add_epi32(c8, c9), _mm256_add_epi32(c10, c11)))));
    for (int l = 0; l < 8; l++) s += lanes[l];
    return (float)s;
}

static double nominal_mhz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f)) if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) break;
    if (f) fclose(f);
    return mhz;
}

static void report(const char *name, int lanes, float (*run)(long, float), int trials) {
    double g[64], sink = 0;
    for (int t = 0; t < trials; t++) {
        double t0 = now();
        sink += run(ITERATIONS, (float)t);
        double s = now() - t0;
        g[t] = 2.0 * lanes * CHAINS * (double)ITERATIONS / s / 1e9;
    }
    qsort(g, (size_t)trials, sizeof *g, compare);
    double mhz = nominal_mhz();
    printf("RESULT %s median_gflops %.1f max_gflops %.1f min_gflops %.1f flop_per_nominal_cycle %.1f nominal_mhz %.0f (sink %g)\n",
           name, g[trials / 2], g[trials - 1], g[0], mhz > 0 ? g[trials / 2] * 1e3 / mhz : 0, mhz, sink);
}

int main(int argc, char **argv) {
    int trials = argc > 1 ? atoi(argv[1]) : 11;
    if (trials < 1 || trials > 64) trials = 11;
#ifdef __AVX512F__
    report("fma_f32_zmm", 16, run512, trials);
#endif
    report("fma_f32_ymm", 8, run256, trials);
#ifdef __AVX2__
    report("madd_u8i8_ymm (GOP/s)", 16, runMadd256, trials);
#endif
    return 0;
}
