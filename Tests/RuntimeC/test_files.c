/*
 * Loading from files (issues 8 and 9): myelin_model_load_file_ex names the path and the OS
 * error; a FIFO without a writer, a directory or a device is refused without blocking; the
 * header is checked before the rest of the file (a file longer or shorter than its declared
 * file_size, another magic); the message buffer is truncated safely.
 *
 *   test_files FIXTURE_DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <myelin.h>

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_support.h"

static char tmp[1024];

static void on_alarm(int sig) {
    (void)sig;
    static const char text[] = "test_files: a load blocked (timeout)\n";
    if (write(2, text, sizeof text - 1) < 0) _exit(3);
    _exit(3);
}

/* CPU seconds of this process: the work done, whatever other processes share the cores. */
static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Loads `path` with the _ex call; checks the status and that the message is PATH + suffix. */
static void expect(const char *path, myelin_status status, const char *suffix) {
    char message[512], want[2048];
    myelin_model *model = (myelin_model *)&model;
    memset(message, 'x', sizeof message);
    CHECK_STATUS(myelin_model_load_file_ex(path, &model, message, sizeof message), status);
    CHECK((model != NULL) == (status == MYELIN_OK));
    if (status == MYELIN_OK) {
        CHECK(message[0] == 0);
    } else {
        snprintf(want, sizeof want, "%s: %s", path, suffix);
        if (strcmp(message, want) != 0) {
            fprintf(stderr, "message \"%s\", expected \"%s\"\n", message, want);
            test_failures++;
        }
    }
    myelin_model_free(model);
    /* The plain call gives the same status. */
    model = NULL;
    CHECK_STATUS(myelin_model_load_file(path, &model), status);
    myelin_model_free(model);
}

static void write_file(const char *path, const unsigned char *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(bytes, 1, size, f) == size);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]); return 2; }
    const char *dir = argv[1];
    const char *root = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/myelin-files-XXXXXX", root && *root ? root : "/tmp");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    signal(SIGALRM, on_alarm);
    alarm(20);

    char good[4096], path[2048];
    fixture_path(good, sizeof good, dir, "tiny-f32.myelin");
    expect(good, MYELIN_OK, "");

    /* Missing file, directory: the path and the OS error. */
    snprintf(path, sizeof path, "%s/missing.myelin", tmp);
    expect(path, MYELIN_ERR_IO, "No such file or directory");
    expect(tmp, MYELIN_ERR_IO, "not a regular file");
    expect("/dev/null", MYELIN_ERR_IO, "not a regular file");

    /* A FIFO with no writer: refused at once, not waited on (the alarm fails the test). */
    snprintf(path, sizeof path, "%s/fifo.myelin", tmp);
    CHECK(mkfifo(path, 0600) == 0);
    expect(path, MYELIN_ERR_IO, "not a regular file");
    unlink(path);

    /* Unreadable (unless running as root, which ignores the mode). */
    size_t size = 0;
    unsigned char *bytes = read_file(dir, "tiny-f32.myelin", &size);
    snprintf(path, sizeof path, "%s/unreadable.myelin", tmp);
    write_file(path, bytes, size);
    chmod(path, 0);
    if (geteuid() != 0) expect(path, MYELIN_ERR_IO, "Permission denied");
    unlink(path);

    /* Longer than declared (a trailing byte), shorter than declared, other magic, other
     * major version: the header decides before the rest is read. */
    unsigned char *b = malloc(size + 1);
    memcpy(b, bytes, size);
    b[size] = 0;
    snprintf(path, sizeof path, "%s/longer.myelin", tmp);
    write_file(path, b, size + 1);
    expect(path, MYELIN_ERR_CORRUPT, "corrupt bundle");
    write_file(path, b, size - 1);
    expect(path, MYELIN_ERR_CORRUPT, "corrupt bundle");
    b[1] ^= 0xFF;
    write_file(path, b, size);
    expect(path, MYELIN_ERR_NOT_A_BUNDLE, "not a Myelin bundle");
    b[1] ^= 0xFF;
    b[8] = 9;
    write_file(path, b, size);
    expect(path, MYELIN_ERR_UNSUPPORTED_VERSION, "unsupported bundle version");
    unlink(path);

    /* A 512 MiB sparse file behind a small bundle's header: refused from the header alone. */
    snprintf(path, sizeof path, "%s/huge.myelin", tmp);
    write_file(path, bytes, 64);
    CHECK(truncate(path, (off_t)512 << 20) == 0);
    double t0 = cpu_seconds();
    expect(path, MYELIN_ERR_CORRUPT, "corrupt bundle");
    CHECK(cpu_seconds() - t0 < 0.5);
    unlink(path);

    /* The message buffer: truncated with a NUL, untouched with capacity 0, NULL allowed. */
    snprintf(path, sizeof path, "%s/missing.myelin", tmp);
    char small[8];
    myelin_model *model = NULL;
    memset(small, 'x', sizeof small);
    CHECK_STATUS(myelin_model_load_file_ex(path, &model, small, sizeof small), MYELIN_ERR_IO);
    CHECK(strlen(small) == 7 && strncmp(small, path, 7) == 0);
    small[0] = 'x';
    CHECK_STATUS(myelin_model_load_file_ex(path, &model, small, 0), MYELIN_ERR_IO);
    CHECK(small[0] == 'x');
    CHECK_STATUS(myelin_model_load_file_ex(path, &model, NULL, 100), MYELIN_ERR_IO);
    CHECK_STATUS(myelin_model_load_file_ex(NULL, &model, small, sizeof small), MYELIN_ERR_INVALID_ARGUMENT);
    CHECK(model == NULL);
    CHECK_STATUS(myelin_model_load_file_ex(good, NULL, small, sizeof small), MYELIN_ERR_INVALID_ARGUMENT);

    free(b);
    free(bytes);
    rmdir(tmp);
    return finish("test_files");
}
