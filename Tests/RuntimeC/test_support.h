/* Helpers shared by the C tests: checks that count failures, and file reading. */
#ifndef MYELIN_TEST_SUPPORT_H
#define MYELIN_TEST_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures = 0;

#if defined(__GNUC__)
#define MYELIN_TEST_MAYBE_UNUSED __attribute__((unused))
#else
#define MYELIN_TEST_MAYBE_UNUSED
#endif

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); test_failures++; } } while (0)
#define CHECK_STATUS(expr, expected) do { myelin_status s_ = (expr); if (s_ != (expected)) { \
    fprintf(stderr, "%s:%d: %s gave %d (%s), expected %d (%s)\n", __FILE__, __LINE__, #expr, (int)s_, \
            myelin_status_string(s_), (int)(expected), myelin_status_string(expected)); test_failures++; } } while (0)

/* Whole file into a malloc'd buffer; exits the test if it cannot be read. */
MYELIN_TEST_MAYBE_UNUSED static unsigned char *read_file(const char *dir, const char *name, size_t *size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open fixture %s\n", path); exit(1); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "cannot read fixture %s\n", path); exit(1); }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

MYELIN_TEST_MAYBE_UNUSED static void fixture_path(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static int finish(const char *name) {
    if (test_failures) { fprintf(stderr, "%s: %d failure(s)\n", name, test_failures); return 1; }
    printf("%s: ok\n", name);
    return 0;
}

#endif
