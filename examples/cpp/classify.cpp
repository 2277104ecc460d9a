// classify (C++) — the C example's job with the RAII wrappers of myelin.hpp.
//
//   classify_cpp MODEL.myelin [FASHION_MNIST_DIR]
#include "myelin.hpp"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

/// The decompressed bytes of a gzip file.
std::vector<unsigned char> read_gz(const std::string &path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + path);
    std::vector<unsigned char> out;
    unsigned char chunk[1 << 16];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0) out.insert(out.end(), chunk, chunk + n);
    gzclose(f);
    if (n < 0) throw std::runtime_error("cannot decompress " + path);
    return out;
}

/// An IDX file of unsigned bytes: its dims and data.
struct Idx {
    std::vector<std::uint32_t> dims;
    std::vector<unsigned char> data;
};

Idx read_idx(const std::string &path, unsigned rank) {
    std::vector<unsigned char> file = read_gz(path);
    auto be32 = [&](std::size_t at) {
        return std::uint32_t(file[at]) << 24 | std::uint32_t(file[at + 1]) << 16 | std::uint32_t(file[at + 2]) << 8 | file[at + 3];
    };
    std::size_t header = 4 + 4 * std::size_t(rank), count = 1;
    if (file.size() < header || be32(0) != (0x0800u | rank)) throw std::runtime_error(path + " is not an IDX file of rank " + std::to_string(rank));
    Idx idx;
    for (unsigned i = 0; i < rank; i++) { idx.dims.push_back(be32(4 + 4 * i)); count *= idx.dims.back(); }
    if (file.size() != header + count) throw std::runtime_error(path + " has the wrong size");
    idx.data.assign(file.begin() + std::ptrdiff_t(header), file.end());
    return idx;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: " << argv[0] << " MODEL.myelin [FASHION_MNIST_DIR]\n";
        return 2;
    }
    std::string dir = argc == 3 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    try {
        myelin::Model model(argv[1]);
        model.selftest();
        std::cout << "libmyelin " << myelin_version() << ", " << argv[1] << ", dataset "
                  << model.metadata("dataset").value_or("?") << ", self-test ok\n";

        Idx images = read_idx(dir + "/t10k-images-idx3-ubyte.gz", 3);
        Idx labels = read_idx(dir + "/t10k-labels-idx1-ubyte.gz", 1);
        std::size_t n = images.dims[0], features = std::size_t(images.dims[1]) * images.dims[2], classes = model.num_classes();
        // The input's shape and dtype come from the bundle.
        if (model.input_count() != 1 || model.output_count() != 1) throw std::runtime_error("the model must have one input and one output");
        myelin_value_info input = model.input(0);
        std::cout << "input \"" << input.name << "\": [";
        std::vector<std::int64_t> dims = myelin::Model::dims(input);
        for (std::size_t d = 0; d < dims.size(); d++) std::cout << (d ? ", " : "") << dims[d];
        std::cout << "] per sample, " << model.metadata("input.preprocessing").value_or("no preprocessing given")
                  << ", arena " << model.arena_size(256) << " bytes for 256 samples\n";
        if (input.dtype != MYELIN_DTYPE_F32 || features != input.count || labels.dims[0] != n) {
            throw std::runtime_error("the model does not fit the data");
        }
        std::vector<float> inputs(images.data.size());
        std::transform(images.data.begin(), images.data.end(), inputs.begin(), [](unsigned char p) { return float(p) / 255.0f; });

        const std::size_t batch = 256;
        myelin::Context ctx(model, batch);
        std::vector<float> scores(n * classes);
        for (std::size_t i = 0; i < n; i += batch) {
            ctx.run(inputs.data() + i * features, std::min(batch, n - i), scores.data() + i * classes);
        }
        std::vector<std::size_t> correct(classes), total(classes);
        std::size_t right = 0;
        for (std::size_t i = 0; i < n; i++) {
            const float *s = scores.data() + i * classes;
            std::size_t guess = std::size_t(std::max_element(s, s + classes) - s), label = labels.data[i];
            if (label < classes) { total[label]++; correct[label] += guess == label; }
            right += guess == label;
        }
        std::printf("test accuracy %.4f (%zu/%zu)\n", double(right) / double(n), right, n);
        for (std::size_t c = 0; c < classes; c++) {
            std::printf("  %-12s %.4f\n", model.class_label(c).c_str(), total[c] ? double(correct[c]) / double(total[c]) : 0.0);
        }

        std::vector<float> one(classes);
        const std::size_t calls = 2000;
        for (std::size_t i = 0; i < 200; i++) ctx.run(inputs.data() + (i % n) * features, 1, one.data());
        auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < calls; i++) ctx.run(inputs.data() + (i % n) * features, 1, one.data());
        std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - t0;
        std::printf("batch-1 latency %.2f us (mean of %zu calls)\n", elapsed.count() / double(calls), calls);
    } catch (const std::exception &e) {
        std::cerr << "classify_cpp: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
