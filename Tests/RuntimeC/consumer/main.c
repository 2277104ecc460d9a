/* consumer BUNDLE — loads a bundle through an installed libmyelin and runs its self-test. */
#include <myelin.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    myelin_model *model = NULL;
    myelin_status st = myelin_model_load_file(argv[1], &model);
    if (st == MYELIN_OK) st = myelin_model_selftest(model);
    myelin_model_free(model);
    printf("consumer: libmyelin %s (header %s): %s\n", myelin_version(), MYELIN_VERSION_STRING, myelin_status_string(st));
    return st == MYELIN_OK ? 0 : 1;
}
