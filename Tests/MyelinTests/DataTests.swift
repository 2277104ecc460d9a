import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

final class DataTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-data-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func idx(_ dims: [Int], _ data: [UInt8]) -> [UInt8] {
        var b: [UInt8] = [0, 0, 8, UInt8(dims.count)]
        for d in dims { b += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return b + data
    }

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        guard gzip else { return path }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-f", path]
        try p.run()
        p.waitUntilExit()
        return path + ".gz"
    }

    func problem(_ body: () throws -> Void) -> String {
        do { try body() } catch let MyelinError.file(path, problem) { return "\((path as NSString).lastPathComponent): \(problem)" } catch {
            return "unexpected \(error)"
        }
        return "no error"
    }

    func testReadsPlainAndGzipIDX() throws {
        let images = idx([2, 2, 3], Array(0..<12))
        for gz in [false, true] {
            let a = try IDX.read(try write("img\(gz)", images, gzip: gz))
            XCTAssertEqual(a.shape, [2, 2, 3])
            XCTAssertEqual(a.bytes, Array(0..<12))
        }
    }

    func testMalformedIDXFilesGiveClearErrors() throws {
        XCTAssertEqual(problem { _ = try IDX.read(try write("a", [1, 2, 8, 1, 0, 0, 0, 0])) }, "a: not an IDX file (bad magic 1, 2)")
        XCTAssertEqual(problem { _ = try IDX.read(try write("b", [0, 0, 0x0D, 1, 0, 0, 0, 0])) },
                       "b: unsupported IDX element type 0xd (only unsigned bytes, 0x08)")
        XCTAssertEqual(problem { _ = try IDX.read(try write("c", idx([5], [1, 2]))) },
                       "c: truncated: header declares [5] (5 bytes of data), file has 2")
        XCTAssertEqual(problem { _ = try IDX.read(try write("d", [0, 0, 8, 3, 0, 0])) },
                       "d: truncated header: 3 dimensions need 16 bytes, file has 6")
        XCTAssertEqual(problem { _ = try IDX.read(try write("e", idx([2], [1, 2, 3]))) },
                       "e: 1 unexpected bytes after the data declared by the header [2]")
        XCTAssertEqual(problem { _ = try IDX.read(try write("f", [0, 0])) }, "f: too short for an IDX header (2 bytes)")
        // Truncated and corrupted gzip streams.
        let gz = try Array(Data(contentsOf: URL(fileURLWithPath: try write("g", idx([300], Array(repeating: 7, count: 300)), gzip: true))))
        for cut in [10, gz.count / 2, gz.count - 9] {
            let name = "g\(cut)"
            XCTAssertTrue(problem { _ = try IDX.read(try write(name, Array(gz[0..<cut]))) }.hasPrefix("\(name): "), "cut at \(cut)")
        }
        var bad = gz
        bad[12] ^= 0xFF
        bad[13] ^= 0xFF
        XCTAssertNotEqual(problem { _ = try IDX.read(try write("h", bad)) }, "no error")
        XCTAssertEqual(problem { _ = try IDX.read(dir.appendingPathComponent("missing").path) }, "missing: no such file")
    }

    func testImageAndLabelCountsMustAgree() throws {
        let images = try write("img", idx([3, 2, 2], Array(repeating: 255, count: 12)))
        let labels = try write("lab", idx([2], [1, 0]))
        XCTAssertEqual(problem { _ = try FashionMNIST.pair(images: images, labels: labels) }, "lab: 2 labels but \(images) has 3 images")
        let good = try write("lab3", idx([3], [1, 0, 9]))
        let d = try FashionMNIST.pair(images: images, labels: good)
        XCTAssertEqual(d.inputs.shape, [3, 4])
        XCTAssertEqual(d.inputs.data[0], 1, "pixels are scaled to [0, 1]")
        XCTAssertEqual(d.classNames[9], "Ankle boot")
        let outOfRange = try write("lab4", idx([3], [1, 0, 10]))
        XCTAssertEqual(problem { _ = try FashionMNIST.pair(images: images, labels: outOfRange) }, "lab4: label 10 outside the 10 known classes")
        XCTAssertTrue(problem { _ = try FashionMNIST.load(directory: dir.path) }.contains("apt-get install dataset-fashion-mnist"))
    }

    func testFashionMNISTFromTheDebianPackage() throws {
        let (train, test) = try FashionMNIST.load()
        XCTAssertEqual(train.inputs.shape, [60000, 784])
        XCTAssertEqual(test.inputs.shape, [10000, 784])
        XCTAssertEqual(train.classCount, 10)
        XCTAssertEqual(Set(test.labels), Set(0..<10))
        XCTAssertTrue(train.inputs.data.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    func testLoaderBatchesShufflingAndDropLast() {
        let d = Dataset(inputs: Tensor(shape: [10, 1], data: (0..<10).map(Float.init)), labels: (0..<10).map { $0 % 2 })
        let plain = DataLoader(d, batchSize: 4, shuffle: false)
        XCTAssertEqual(plain.epoch().map { $0.inputs.data }, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(DataLoader(d, batchSize: 4, shuffle: false, dropLast: true).epoch().map { $0.labels.count }, [4, 4])
        let a = DataLoader(d, batchSize: 3, generator: Generator(seed: 1)), b = DataLoader(d, batchSize: 3, generator: Generator(seed: 1))
        let e1: [Float] = a.epoch().flatMap { $0.inputs.data }, e2: [Float] = a.epoch().flatMap { $0.inputs.data }
        XCTAssertEqual(e1.sorted(), (0..<10).map(Float.init), "every sample exactly once per epoch")
        XCTAssertNotEqual(e1, e2, "a new order each epoch")
        XCTAssertEqual(e1, Array(b.epoch()).flatMap { $0.inputs.data }, "same seed, same order")
        for batch in a.epoch() { XCTAssertEqual(batch.labels, batch.inputs.data.map { Int($0) % 2 }, "labels follow their samples") }
    }

    func testRandomAndStratifiedSplits() {
        let labels = (0..<100).map { $0 < 80 ? 0 : 1 }
        let d = Dataset(inputs: Tensor(shape: [100, 1], data: (0..<100).map(Float.init)), labels: labels)
        let (rest, val) = d.split(fraction: 0.25, stratified: true, generator: Generator(seed: 3))
        XCTAssertEqual(val.count, 25)
        XCTAssertEqual(val.labels.filter { $0 == 1 }.count, 5, "class proportions preserved")
        XCTAssertEqual(Set(rest.inputs.data + val.inputs.data).count, 100, "disjoint and complete")
        let (r2, v2) = d.split(fraction: 0.3, generator: Generator(seed: 3))
        XCTAssertEqual(v2.count, 30)
        XCTAssertEqual(r2.count, 70)
        let boot = d.bootstrap(generator: Generator(seed: 4))
        XCTAssertEqual(boot.count, 100)
        XCTAssertLessThan(Set(boot.inputs.data).count, 100, "sampling with replacement repeats samples")
    }

    func testSyntheticDatasets() {
        let xor = Synthetic.xor()
        XCTAssertEqual(xor.inputs.data, [0, 0, 0, 1, 1, 0, 1, 1])
        XCTAssertEqual(xor.labels, [0, 1, 1, 0])
        let blobs = Synthetic.blobs(centers: [[5, 5], [-5, -5]], std: 0.1, countPerCenter: 10, generator: Generator(seed: 1))
        XCTAssertEqual(blobs.count, 20)
        for i in 0..<20 { XCTAssertEqual(blobs.inputs.data[2 * i] > 0, blobs.labels[i] == 0) }
        let moons = Synthetic.moons(count: 100, noise: 0, generator: Generator(seed: 1))
        XCTAssertEqual(moons.labels.filter { $0 == 1 }.count, 50)
        for i in 0..<50 {   // noiseless upper moon lies on the unit circle
            let x = moons.inputs.data[2 * i], y = moons.inputs.data[2 * i + 1]
            XCTAssertEqual(x * x + y * y, 1, accuracy: 1e-5)
        }
        let circles = Synthetic.circles(count: 100, noise: 0, factor: 0.5, generator: Generator(seed: 1))
        for i in 0..<100 {
            let x = circles.inputs.data[2 * i], y = circles.inputs.data[2 * i + 1]
            XCTAssertEqual((x * x + y * y).squareRoot(), circles.labels[i] == 0 ? 1 : 0.5, accuracy: 1e-5)
        }
        let reg = Synthetic.linearRegression(count: 2000, weights: [2, -1], bias: 0.5, noise: 0.01, generator: Generator(seed: 2))
        XCTAssertEqual(reg.targets!.shape, [2000, 1])
        let residual = (linear(reg.inputs, weight: Tensor([[2, -1]]), bias: Tensor([0.5])) - reg.targets!).square().mean().item
        XCTAssertLessThan(residual, 2e-4)
    }

    func testFeatureScalersUseTrainingStatistics() {
        let train = Tensor([[1, 10], [3, 30], [5, 50]])
        let minMax = FeatureScaler(.minMax, fitOn: train)
        XCTAssertEqual(minMax.transform(train).data, [0, 0, 0.5, 0.5, 1, 1])
        XCTAssertEqual(minMax.transform(Tensor([[7, 10]])).data, [1.5, 0], "test data uses the training range")
        let std = FeatureScaler(.standardize, fitOn: train).transform(train)
        XCTAssertEqual(std.mean(axis: 0).data[1], 0, accuracy: 1e-6)
        XCTAssertEqual(std.square().mean(axis: 0).data[0], 1, accuracy: 1e-5)
        let constant = FeatureScaler(.standardize, fitOn: Tensor([[2], [2]]))
        XCTAssertEqual(constant.transform(Tensor([[2]])).data, [0], "a constant feature does not divide by zero")
    }
}
