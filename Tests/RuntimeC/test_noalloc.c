/*
 * myelin_run and myelin_run_multi allocate nothing: this program interposes the C
 * allocator (the runtime's posix_memalign and any malloc behind it) and counts the calls
 * made while running the fixture models; it also checks that creating a context allocates
 * about what myelin_context_arena_size announced.
 *
 *   test_noalloc FIXTURE_DIR
 */
#define _GNU_SOURCE
#include <myelin.h>

#include "test_support.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static int counting = 0;
static size_t calls = 0, bytes = 0;

static void note(size_t size) { if (counting) { calls++; bytes += size; } }

void *malloc(size_t size) { note(size); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { note(count * size); return __libc_calloc(count, size); }
void *realloc(void *p, size_t size) { note(size); return __libc_realloc(p, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    note(size);
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

static void check_runs(const char *dir, const char *name, size_t inputs_per_sample, size_t outputs_per_sample) {
    char file[4096];
    fixture_path(file, sizeof file, dir, name);
    myelin_model *model = NULL;
    CHECK_STATUS(myelin_model_load_file(file, &model), MYELIN_OK);
    if (!model) return;
    size_t arena = 0;
    CHECK_STATUS(myelin_context_arena_size(model, 8, &arena), MYELIN_OK);
    myelin_context *ctx = NULL;
    calls = 0; bytes = 0; counting = 1;
    CHECK_STATUS(myelin_context_create(model, 8, &ctx), MYELIN_OK);
    counting = 0;
    CHECK(bytes >= arena && bytes <= arena + 4096 + 64 * myelin_model_input_count(model));
    float in[8 * 64] = {0}, out[8 * 64];
    const void *ins[2] = {in, in + 8 * 32};
    void *outs[2] = {out, out + 8 * 32};
    CHECK(inputs_per_sample <= 32 && outputs_per_sample <= 32);
    calls = 0; counting = 1;
    for (size_t batch = 1; batch <= 8; batch++) {
        if (myelin_model_input_count(model) == 1) CHECK_STATUS(myelin_run(ctx, in, batch, out), MYELIN_OK);
        CHECK_STATUS(myelin_run_multi(ctx, batch, ins, outs), MYELIN_OK);
    }
    counting = 0;
    if (calls != 0) { fprintf(stderr, "%s: %zu allocations during runs\n", name, calls); test_failures++; }
    myelin_context_free(ctx);
    myelin_model_free(model);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]); return 2; }
    check_runs(argv[1], "tiny-f32.myelin", 6, 4);
    check_runs(argv[1], "tiny-int8.myelin", 6, 4);
    check_runs(argv[1], "tiny-f16.myelin", 6, 4);
    check_runs(argv[1], "dag.myelin", 12, 24);
    return finish("test_noalloc");
}
