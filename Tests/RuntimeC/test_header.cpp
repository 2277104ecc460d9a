// include/myelin.h compiles warning-free as C++ (-std=c++17 -Wall -Wextra -Werror
// -pedantic) and the RAII wrappers of examples/cpp/myelin.hpp work: errors become
// exceptions carrying the status, handles are released.
//
//   test_header_cpp FIXTURE_DIR
#include <myelin.h>

#include "../../examples/cpp/myelin.hpp"

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    std::string dir = argv[1];
    int failures = 0;
    auto check = [&](bool ok, const char *what) { if (!ok) { std::fprintf(stderr, "check failed: %s\n", what); failures++; } };

    try {
        myelin::Model missing(dir + "/no-such-file.myelin");
        check(false, "loading a missing file throws");
    } catch (const myelin::Error &e) {
        check(e.status() == MYELIN_ERR_IO, "missing file: MYELIN_ERR_IO");
    }
    try {
        myelin::Model model(dir + "/tiny-int8.myelin");
        model.selftest();
        check(model.precision() == MYELIN_PRECISION_INT8, "precision");
        check(model.metadata("dataset").value_or("") == "synthetic fixture", "metadata");
        check(!model.metadata("absent").has_value(), "absent metadata");
        check(model.class_label(0) == "alpha", "label");
        myelin::Context ctx(model, 4);
        std::vector<float> out = ctx.run(std::vector<float>(4 * model.input_size(), 0.5f), 4);
        check(out.size() == 4 * model.output_size(), "output size");
        try {
            ctx.run(std::vector<float>(5 * model.input_size()), 5);
            check(false, "batch above max_batch throws");
        } catch (const myelin::Error &e) {
            check(e.status() == MYELIN_ERR_INVALID_ARGUMENT, "batch above max_batch: invalid argument");
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failures++;
    }
    if (failures) return 1;
    std::printf("test_header_cpp: ok\n");
    return 0;
}
