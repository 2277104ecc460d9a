/*
 * classify — run a Myelin bundle on the Fashion-MNIST test set from C.
 *
 *   classify MODEL.myelin [DATA_DIR]
 *
 * DATA_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (default
 * /usr/share/datasets/fashion-mnist, from Debian's dataset-fashion-mnist). Prints the
 * model's metadata, the self-test result, accuracy over the whole test set (batches of
 * 256), accuracy per class, and the mean latency of a batch-1 call. The input's shape and
 * dtype come from the model (myelin_model_input_info): it must take one f32 input with as
 * many elements as an image has pixels, prepared as its "input.preprocessing" metadata says
 * (Myelin's Fashion-MNIST models: pixels / 255).
 */
#define _POSIX_C_SOURCE 199309L
#include <myelin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* Reads a whole gzip file; returns a malloc'd buffer (caller frees) or NULL. */
static unsigned char *read_gz(const char *path, size_t *size) {
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

static unsigned be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | (unsigned)p[3];
}

/* Loads an IDX file (ubyte data): checks its magic and dimension count, returns the data
 * pointer inside *file (caller frees *file) and the dims. */
static const unsigned char *read_idx(const char *path, unsigned rank, unsigned *dims, unsigned char **file) {
    size_t size = 0;
    *file = read_gz(path, &size);
    if (!*file) { fprintf(stderr, "classify: cannot read %s\n", path); return NULL; }
    size_t need = 4 + 4 * (size_t)rank, count = 1;
    if (size < need || be32(*file) != (0x0800u | rank)) {
        fprintf(stderr, "classify: %s is not an IDX file of rank %u\n", path, rank);
        return NULL;
    }
    for (unsigned i = 0; i < rank; i++) { dims[i] = be32(*file + 4 + 4 * i); count *= dims[i]; }
    if (size != need + count) { fprintf(stderr, "classify: %s has %zu bytes, expected %zu\n", path, size, need + count); return NULL; }
    return *file + need;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++) if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.myelin [FASHION_MNIST_DIR]\n", argv[0]);
        return 2;
    }
    const char *dir = argc == 3 ? argv[2] : "/usr/share/datasets/fashion-mnist";

    myelin_model *model = NULL;
    char why[1024];
    myelin_status st = myelin_model_load_file_ex(argv[1], &model, why, sizeof why);
    if (st != MYELIN_OK) {
        fprintf(stderr, "classify: %s\n", why);  /* e.g. "model.myelin: No such file or directory" */
        return 1;
    }
    static const char *precisions[] = {"?", "f32", "f16", "int8"};
    myelin_precision precision = myelin_model_precision(model);
    printf("libmyelin %s, model %s (%s)\n", myelin_version(), argv[1],
           precisions[precision >= 1 && precision <= 3 ? precision : 0]);
    const char *value = NULL;
    if (myelin_model_metadata(model, "dataset", &value) == MYELIN_OK) printf("trained on %s", value);
    if (myelin_model_metadata(model, "test_accuracy", &value) == MYELIN_OK) printf(", float test accuracy %s", value);
    printf("\nself-test: %s\n", myelin_status_string(myelin_model_selftest(model)));

    /* What the model takes, from the bundle itself. */
    myelin_value_info input;
    if (myelin_model_input_count(model) != 1 || myelin_model_output_count(model) != 1
        || myelin_model_input_info(model, 0, &input) != MYELIN_OK || input.dtype != MYELIN_DTYPE_F32) {
        fprintf(stderr, "classify: the model must take one f32 input and give one output\n");
        myelin_model_free(model);
        return 1;
    }
    printf("input \"%s\": f32 [", input.name);
    for (size_t d = 0; d < input.rank; d++) printf("%s%lld", d ? ", " : "", (long long)input.dims[d]);
    printf("] per sample");
    if (myelin_model_metadata(model, "input.preprocessing", &value) == MYELIN_OK) printf(" (%s)", value);
    printf("\n");

    char images_path[4096], labels_path[4096];
    snprintf(images_path, sizeof images_path, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(labels_path, sizeof labels_path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    unsigned idims[3], ldims[1];
    unsigned char *ifile = NULL, *lfile = NULL;
    const unsigned char *pixels = read_idx(images_path, 3, idims, &ifile);
    const unsigned char *labels = read_idx(labels_path, 1, ldims, &lfile);
    size_t n = pixels ? idims[0] : 0, features = pixels ? (size_t)idims[1] * idims[2] : 0;
    size_t classes = myelin_model_num_classes(model);
    int status = 1;
    float *inputs = NULL, *scores = NULL;
    myelin_context *ctx = NULL;
    if (!pixels || !labels || ldims[0] != n) goto done;
    if (classes == 0 || classes > 256) { fprintf(stderr, "classify: %zu classes, at most 256 supported\n", classes); goto done; }
    if (features != input.count) {
        fprintf(stderr, "classify: the model takes %zu inputs, images have %zu pixels\n", input.count, features);
        goto done;
    }

    inputs = malloc(n * features * sizeof(float));
    scores = malloc(n * classes * sizeof(float));
    if (!inputs || !scores) goto done;
    for (size_t i = 0; i < n * features; i++) inputs[i] = (float)pixels[i] / 255.0f;

    const size_t batch = 256;
    if ((st = myelin_context_create(model, batch, &ctx)) != MYELIN_OK) {
        fprintf(stderr, "classify: context: %s\n", myelin_status_string(st));
        goto done;
    }
    double t0 = now_seconds();
    for (size_t i = 0; i < n; i += batch) {
        size_t b = n - i < batch ? n - i : batch;
        if ((st = myelin_run(ctx, inputs + i * features, b, scores + i * classes)) != MYELIN_OK) {
            fprintf(stderr, "classify: run: %s\n", myelin_status_string(st));
            goto done;
        }
    }
    double batched = now_seconds() - t0;

    size_t correct = 0, per_class[256] = {0}, per_class_total[256] = {0};
    for (size_t i = 0; i < n; i++) {
        size_t label = labels[i], guess = argmax(scores + i * classes, classes);
        if (label < 256) { per_class_total[label]++; if (guess == label) per_class[label]++; }
        if (guess == label) correct++;
    }
    printf("test accuracy %.4f (%zu/%zu), %.0f samples/s in batches of %zu\n",
           (double)correct / (double)n, correct, n, (double)n / batched, batch);
    for (size_t c = 0; c < classes && c < 256; c++) {
        const char *name = myelin_model_class_label(model, c);
        printf("  %-12s %.4f\n", name ? name : "?", per_class_total[c] ? (double)per_class[c] / (double)per_class_total[c] : 0.0);
    }

    /* Latency of single-sample calls: warm up, then time many calls over the test set. */
    float out[256];
    const size_t calls = 2000, warmup = 200;
    for (size_t i = 0; i < warmup; i++) myelin_run(ctx, inputs + (i % n) * features, 1, out);
    t0 = now_seconds();
    for (size_t i = 0; i < calls; i++) myelin_run(ctx, inputs + (i % n) * features, 1, out);
    printf("batch-1 latency %.2f us (mean of %zu calls)\n", (now_seconds() - t0) / (double)calls * 1e6, calls);
    status = 0;

done:
    myelin_context_free(ctx);
    myelin_model_free(model);
    free(inputs);
    free(scores);
    free(ifile);
    free(lfile);
    return status;
}
