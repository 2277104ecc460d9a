// consumer_cpp BUNDLE — the installed C++ wrapper (myelin.hpp, beside myelin.h): loads a
// bundle, runs its self-test and one batch; on failure prints what() ("PATH: why").
#include <myelin.hpp>

#include <iostream>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    try {
        myelin::Model model(argv[1]);
        model.selftest();
        std::cout << "consumer_cpp: libmyelin " << myelin_version() << ", " << model.num_classes() << " outputs, self-test ok\n";
    } catch (const std::exception &e) {
        std::cerr << "consumer_cpp: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
