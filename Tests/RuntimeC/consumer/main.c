/* consumer BUNDLE — loads a bundle through an installed libmyelin and runs its self-test;
 * on failure prints why ("PATH: No such file or directory"). */
#include <myelin.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    myelin_model *model = NULL;
    char why[1024];
    myelin_status st = myelin_model_load_file_ex(argv[1], &model, why, sizeof why);
    if (st != MYELIN_OK) {
        fprintf(stderr, "consumer: %s\n", why);
        return 1;
    }
    st = myelin_model_selftest(model);
    myelin_model_free(model);
    printf("consumer: libmyelin %s (header %s): %s\n", myelin_version(), MYELIN_VERSION_STRING, myelin_status_string(st));
    return st == MYELIN_OK ? 0 : 1;
}
