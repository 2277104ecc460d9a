// swift-tools-version:6.0
import PackageDescription

// The kernels are two orders of magnitude slower without a CPU target that has FMA and
// wide vectors (README, "CPU target"). Local builds default to the build machine's CPU;
// set MYELIN_TARGET_CPU (e.g. `haswell`: AVX2 + FMA) for binaries you redistribute.
let targetCPU = Context.environment["MYELIN_TARGET_CPU"] ?? "native"
// Only the kernels (Sources/MyelinShared: GEMM, quantized GEMM, the bundle reader and the
// inference ops, also compiled into the runtime) are built unchecked. The training library
// keeps every bounds, overflow and shape check, in debug and release builds alike.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", targetCPU, "-Xcc", "-fno-math-errno"]),
    .swiftLanguageMode(.v5),
]
let libraryFlags: [SwiftSetting] = [
    .unsafeFlags(["-O", "-target-cpu", targetCPU, "-Xcc", "-fno-math-errno"]),
    .swiftLanguageMode(.v5),
]

let package = Package(
    name: "Myelin",
    products: [
        .library(name: "Myelin", targets: ["Myelin"]),
        .executable(name: "myelin", targets: ["MyelinCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System zlib (Debian: zlib1g-dev) for gzip-compressed datasets and bundle sections.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Source shared by the training library and the Embedded runtime (which compiles the
        // same files through the Sources/MyelinRuntime/Shared symlink).
        .target(name: "MyelinShared", dependencies: ["CZlib"], swiftSettings: kernelFlags),
        .target(name: "Myelin", dependencies: ["MyelinShared", "CZlib"], swiftSettings: libraryFlags),
        // The inference runtime in Embedded Swift. CMakeLists.txt builds libmyelin.so/.a from
        // the same sources (with the AVX-512 VNNI int8 kernel when the CPU has it); this
        // target keeps them compiling in `swift build`.
        .systemLibrary(name: "CZlibRuntime", path: "Sources/CZlibRuntime"),
        .target(name: "MyelinRuntime", dependencies: ["CZlibRuntime"],
                swiftSettings: [.enableExperimentalFeature("Embedded"), .define("MYELIN_RUNTIME"),
                                .unsafeFlags(["-wmo", "-Ounchecked", "-target-cpu", targetCPU])]),
        .executableTarget(name: "MyelinCLI",
                          dependencies: ["Myelin", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "LogicGates", dependencies: ["Myelin"], path: "examples/logic-gates",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "ThreeLayerForward", dependencies: ["Myelin"], path: "examples/three-layer-forward",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "NeuronRegression", dependencies: ["Myelin"], path: "examples/neuron-regression",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "GaussianBlobs", dependencies: ["Myelin"], path: "examples/gaussian-blobs",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "GraphModels", dependencies: ["Myelin"], path: "examples/graph-models",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "SequenceClassifier", dependencies: ["Myelin"], path: "examples/sequence-classifier",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "CharLM", dependencies: ["Myelin"], path: "examples/char-lm",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "TrainMLPBench", dependencies: ["Myelin"], path: "bench/train-mlp",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "TrainCNNBench", dependencies: ["Myelin"], path: "bench/train-cnn",
                          exclude: ["torch_cpu.py", "README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "CNNAccuracy", dependencies: ["Myelin"], path: "bench/cnn-accuracy",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        // Myelin side of the character language model twins (bench/seq-train, issue 12).
        .executableTarget(name: "SeqTrainBench", dependencies: ["Myelin"], path: "bench/seq-train", exclude: ["torch_char_lm.py", "README.md", "run.sh"],
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "GenerativeBench", dependencies: ["Myelin"], path: "bench/generative",
                          exclude: ["README.md", "torch_generative.py", "run.sh"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Trains and exports the runtime benchmark's Fashion-MNIST bundles (bench/runtime).
        .executableTarget(name: "MyelinRuntimeModels", dependencies: ["Myelin"], path: "bench/runtime/models",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        // Builds the sequence benchmark's bundles from the PyTorch twins' weights (bench/runtime-seq).
        .executableTarget(name: "RuntimeSeqModels", dependencies: ["Myelin"], path: "bench/runtime-seq/models",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        // Every zoo preset trained briefly, exported in f32/f16/int8 and run by libmyelin: the README's export table.
        .executableTarget(name: "CNNExportBench", dependencies: ["Myelin"], path: "bench/cnn-export",
                          exclude: ["twins.py", "run.sh", "int8-side-by-side.sh"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Loads the PyTorch-trained anchor CNN and exports the runtime CNN benchmark's bundles (bench/runtime-cnn).
        .executableTarget(name: "RuntimeCNNModel", dependencies: ["Myelin"], path: "bench/runtime-cnn/model",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        // Misuses the API on request; the tests check in a subprocess that it stops with a message.
        .executableTarget(name: "CheckProbe", dependencies: ["Myelin"], path: "Tests/CheckProbe",
                          swiftSettings: libraryFlags),
        .testTarget(name: "MyelinTests", dependencies: ["Myelin", "MyelinCLI", "LogicGates", "ThreeLayerForward", "NeuronRegression", "GaussianBlobs", "CheckProbe"],
                    resources: [.copy("Fixtures")],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
