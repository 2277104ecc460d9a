// myelin.hpp — RAII wrappers over the C API (include/myelin.h) for C++17.
//
//   myelin::Model model("model.myelin");          // throws myelin::Error on failure
//   myelin::Context ctx(model, 64);
//   std::vector<float> scores = ctx.run(images, 64);
//
// A Model may be shared by threads; give each thread its own Context. A Context keeps a
// pointer to its Model: destroy contexts first.
#ifndef MYELIN_HPP
#define MYELIN_HPP

#include <myelin.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace myelin {

/// A failed call: the status and what was being done.
class Error : public std::runtime_error {
public:
    Error(myelin_status status, const std::string &what)
        : std::runtime_error(what + ": " + myelin_status_string(status)), status_(status) {}
    /// With the complete message (myelin_model_load_file_ex's "PATH: No such file or directory").
    Error(myelin_status status, const char *message, int)
        : std::runtime_error(message), status_(status) {}
    myelin_status status() const noexcept { return status_; }

private:
    myelin_status status_;
};

inline void check(myelin_status status, const char *what) {
    if (status != MYELIN_OK) throw Error(status, what);
}

/// A loaded bundle; owns the myelin_model.
class Model {
public:
    explicit Model(const std::string &path) {
        myelin_model *m = nullptr;
        char message[1024];
        myelin_status status = myelin_model_load_file_ex(path.c_str(), &m, message, sizeof message);
        if (status != MYELIN_OK) throw Error(status, message, 0);  // what(): the path and why
        handle_.reset(m);
    }

    /// From bytes in memory (copied).
    Model(const void *data, std::size_t size) {
        myelin_model *m = nullptr;
        check(myelin_model_load_memory(data, size, &m), "load from memory");
        handle_.reset(m);
    }

    /// Graph inputs and outputs: counts, descriptions by index, index by name.
    std::size_t input_count() const { return myelin_model_input_count(get()); }
    std::size_t output_count() const { return myelin_model_output_count(get()); }
    myelin_value_info input(std::size_t index) const {
        myelin_value_info info;
        check(myelin_model_input_info(get(), index, &info), "input info");
        return info;
    }
    myelin_value_info output(std::size_t index) const {
        myelin_value_info info;
        check(myelin_model_output_info(get(), index, &info), "output info");
        return info;
    }
    std::size_t find_input(const std::string &name) const {
        std::size_t index = 0;
        check(myelin_model_find_input(get(), name.c_str(), &index), name.c_str());
        return index;
    }
    /// The dims of a value as a vector (per sample).
    static std::vector<std::int64_t> dims(const myelin_value_info &info) { return {info.dims, info.dims + info.rank}; }

    /// Bytes a Context for `max_batch` samples allocates.
    std::size_t arena_size(std::size_t max_batch) const {
        std::size_t bytes = 0;
        check(myelin_context_arena_size(get(), max_batch, &bytes), "arena size");
        return bytes;
    }

    std::size_t input_size() const { return myelin_model_input_size(get()); }
    std::size_t output_size() const { return myelin_model_output_size(get()); }
    std::size_t num_classes() const { return myelin_model_num_classes(get()); }
    myelin_precision precision() const { return myelin_model_precision(get()); }

    std::optional<std::string> metadata(const std::string &key) const {
        const char *value = nullptr;
        if (myelin_model_metadata(get(), key.c_str(), &value) != MYELIN_OK) return std::nullopt;
        return std::string(value);
    }

    std::string class_label(std::size_t index) const {
        const char *label = myelin_model_class_label(get(), index);
        return label ? label : std::to_string(index);
    }

    /// Runs the bundle's self-test vectors; throws if they fail.
    void selftest() const { check(myelin_model_selftest(get()), "self-test"); }

    /// Streaming limits of a sequence model (throws if it cannot stream): most steps per
    /// Context::step, steps before a reset is needed (0: unbounded), state bytes per stream.
    struct StreamInfo { std::size_t max_steps, capacity, state_bytes_per_sample; };
    StreamInfo stream_info() const {
        StreamInfo info{0, 0, 0};
        check(myelin_model_stream_info(get(), &info.max_steps, &info.capacity, &info.state_bytes_per_sample), "stream info");
        return info;
    }

    const myelin_model *get() const noexcept { return handle_.get(); }

private:
    struct Free { void operator()(myelin_model *m) const noexcept { myelin_model_free(m); } };
    std::unique_ptr<myelin_model, Free> handle_;
};

/// One thread's scratch memory for running a Model; owns the myelin_context.
class Context {
public:
    Context(const Model &model, std::size_t max_batch)
        : input_size_(model.input_size()), output_size_(model.output_size()) {
        myelin_context *c = nullptr;
        check(myelin_context_create(model.get(), max_batch, &c), "create context");
        handle_.reset(c);
    }

    /// Runs `batch` samples from `input` (batch × input size) into `output` (batch × output size).
    void run(const float *input, std::size_t batch, float *output) {
        check(myelin_run(handle_.get(), input, batch, output), "run");
    }

    /// Runs `batch` samples of any model: pointers in graph input / output order, each to
    /// batch × count elements of that value's dtype.
    void run(std::size_t batch, const std::vector<const void *> &inputs, const std::vector<void *> &outputs) {
        check(myelin_run_multi(handle_.get(), batch, inputs.data(), outputs.data()), "run");
    }

    /// Feeds `steps` new time steps of `batch` streams; the context keeps the state (see
    /// myelin_step for the sizes of the inputs and outputs).
    void step(std::size_t batch, std::size_t steps, const std::vector<const void *> &inputs, const std::vector<void *> &outputs) {
        check(myelin_step(handle_.get(), batch, steps, inputs.data(), outputs.data()), "step");
    }

    /// Starts new streams; steps fed since the last reset; bytes of state held.
    void reset() { check(myelin_context_reset(handle_.get()), "reset"); }
    std::size_t position() const { return myelin_context_position(handle_.get()); }
    std::size_t state_size() const {
        std::size_t bytes = 0;
        check(myelin_context_state_size(handle_.get(), &bytes), "state size");
        return bytes;
    }

    /// Runs the first `batch` samples of `input` and returns their outputs.
    std::vector<float> run(const std::vector<float> &input, std::size_t batch) {
        if (input.size() < batch * input_size_) throw std::invalid_argument("myelin::Context::run: input too short");
        std::vector<float> output(batch * output_size_);
        run(input.data(), batch, output.data());
        return output;
    }

private:
    struct Free { void operator()(myelin_context *c) const noexcept { myelin_context_free(c); } };
    std::unique_ptr<myelin_context, Free> handle_;
    std::size_t input_size_, output_size_;
};

}  // namespace myelin

#endif  // MYELIN_HPP
