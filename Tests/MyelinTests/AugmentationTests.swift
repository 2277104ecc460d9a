import XCTest
@testable import Myelin

final class AugmentationTests: XCTestCase {
    func ramp(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { Float($0 % 97) + 1 })   // no zeros
    }

    func testSameSeedSameBatch() {
        let augment = Augmentation.compose([.randomCrop(padding: 2), .horizontalFlip()])
        let x = ramp([16, 784])
        let a = augment(x, generator: Generator(seed: 5)), b = augment(x, generator: Generator(seed: 5))
        XCTAssertEqual(a.data, b.data)
        XCTAssertEqual(a.shape, [16, 784])
        XCTAssertNotEqual(a.data, augment(x, generator: Generator(seed: 6)).data)
        XCTAssertNotEqual(a.data, x.data)
    }

    func testFlippingTwiceIsTheIdentity() {
        let flip = Augmentation.horizontalFlip(probability: 1)
        let x = ramp([3, 2, 5, 7])
        let once = flip(x, generator: Generator(seed: 1))
        XCTAssertEqual(once.data[0..<7].map { $0 }, x.data[0..<7].reversed())
        XCTAssertEqual(flip(once, generator: Generator(seed: 2)).data, x.data)
        XCTAssertEqual(Augmentation.horizontalFlip(probability: 0)(x, generator: Generator(seed: 1)).data, x.data)
    }

    func testCropShiftsValuesAndFillsZeros() {
        let x = ramp([200, 1, 6, 6])
        let y = Augmentation.randomCrop(padding: 2)(x, generator: Generator(seed: 3))
        var shifts = Set<[Int]>()
        for i in 0..<200 {
            let source = Array(x.data[(i * 36)..<((i + 1) * 36)]), out = Array(y.data[(i * 36)..<((i + 1) * 36)])
            // Find the shift (dy, dx) in −2…2 that explains the output exactly.
            var found: [Int]?
            for dy in -2...2 {
                for dx in -2...2 {
                    let ok = (0..<6).allSatisfy { r in
                        (0..<6).allSatisfy { c in
                            let sr = r + dy, sc = c + dx
                            let v: Float = sr >= 0 && sr < 6 && sc >= 0 && sc < 6 ? source[sr * 6 + sc] : 0
                            return out[r * 6 + c] == v
                        }
                    }
                    if ok && found == nil { found = [dy, dx] }
                }
            }
            XCTAssertNotNil(found, "image \(i) is not a shifted copy")
            if let f = found { shifts.insert(f) }
        }
        XCTAssertEqual(shifts.count, 25, "every shift in −2…2 × −2…2 occurs")
        XCTAssertEqual(Augmentation.randomCrop(padding: 0)(x, generator: Generator(seed: 3)).data, x.data)
    }

    func testChannelsShiftTogether() {
        let x = ramp([1, 3, 5, 5])
        let y = Augmentation.compose([.randomCrop(padding: 1), .horizontalFlip()])(x, generator: Generator(seed: 11))
        // Zeros (uncovered border) sit at the same places in every channel.
        let zeros = (0..<3).map { c in (0..<25).filter { y.data[c * 25 + $0] == 0 } }
        XCTAssertEqual(zeros[0], zeros[1])
        XCTAssertEqual(zeros[1], zeros[2])
    }
}
