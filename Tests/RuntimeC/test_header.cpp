// include/myelin.h compiles warning-free as C++ (-std=c++17 -Wall -Wextra -Werror
// -pedantic) and the RAII wrappers of examples/cpp/myelin.hpp work: errors become
// exceptions carrying the status, handles are released.
//
//   test_header_cpp FIXTURE_DIR
#include <myelin.h>

#include "../../examples/cpp/myelin.hpp"

#include <cstdint>
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
        check(model.input_count() == 1 && model.output_count() == 1, "input and output counts");
        check(model.input(0).count == model.input_size() && model.find_input("input") == 0, "input info");
        check(myelin::Model::dims(model.output(0)) == std::vector<std::int64_t>{4}, "output dims");
        check(model.arena_size(4) > model.arena_size(1), "arena size grows with the batch");
        try {
            model.find_input("absent");
            check(false, "an absent input name throws");
        } catch (const myelin::Error &e) {
            check(e.status() == MYELIN_ERR_NOT_FOUND, "absent input: not found");
        }
        myelin::Context ctx(model, 4);
        std::vector<float> out = ctx.run(std::vector<float>(4 * model.input_size(), 0.5f), 4);
        check(out.size() == 4 * model.output_size(), "output size");
        try {
            ctx.run(std::vector<float>(5 * model.input_size()), 5);
            check(false, "batch above max_batch throws");
        } catch (const myelin::Error &e) {
            check(e.status() == MYELIN_ERR_INVALID_ARGUMENT, "batch above max_batch: invalid argument");
        }
        // Two inputs, two outputs, through the pointer-array call.
        myelin::Model dag(dir + "/dag.myelin");
        myelin::Context dag_ctx(dag, 2);
        std::vector<float> a(2 * 6, 0.25f), b(2 * 6, -0.5f), features(2 * 12), probs(2 * 12);
        dag_ctx.run(2, {a.data(), b.data()}, {features.data(), probs.data()});
        float sum = 0;
        for (int i = 0; i < 4; i++) sum += probs[i];
        check(sum > 0.999f && sum < 1.001f, "softmax row sums to one");
        // Streaming: a character LSTM fed one token at a time keeps its state in the context.
        myelin::Model lm(dir + "/char-lstm.myelin");
        myelin::Model::StreamInfo info = lm.stream_info();
        check(info.max_steps == 6 && info.capacity == 0 && info.state_bytes_per_sample > 0, "stream info");
        myelin::Context lm_ctx(lm, 1);
        check(lm_ctx.state_size() >= info.state_bytes_per_sample, "state size");
        std::int32_t token = 3;
        std::vector<float> logits(11);
        lm_ctx.step(1, 1, {&token}, {logits.data()});
        lm_ctx.step(1, 1, {&token}, {logits.data()});
        check(lm_ctx.position() == 2, "position after two steps");
        lm_ctx.reset();
        check(lm_ctx.position() == 0, "position after a reset");
        try {
            model.stream_info();
            check(false, "a model without a time axis does not stream");
        } catch (const myelin::Error &e) {
            check(e.status() == MYELIN_ERR_UNSUPPORTED, "stream info of a classifier: unsupported");
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failures++;
    }
    if (failures) return 1;
    std::printf("test_header_cpp: ok\n");
    return 0;
}
