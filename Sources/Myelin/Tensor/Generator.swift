import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// Everything random in Myelin — initialisers, dropout masks, shuffling — draws from a
/// `Generator`, so the same seed gives bit-identical results run to run. It is a class so
/// one generator can be shared by a model and its training loop; its whole state is four
/// `UInt64`s (`state`), which checkpoints save and restore.
///
/// ```swift
/// let g = Generator(seed: 42)
/// let w = Tensor.randn([3, 4], generator: g)
/// ```
public final class Generator: RandomNumberGenerator {
    /// The four 64-bit words of xoshiro256** state.
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The generator used when none is passed explicitly. Reseed it with `manualSeed(_:)`.
    nonisolated(unsafe) public static var `default` = Generator(seed: 0)

    /// Reseeds the default generator, like `torch.manual_seed`.
    public static func manualSeed(_ seed: UInt64) { Generator.default = Generator(seed: seed) }

    @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits.
    public func next() -> UInt64 { Generator.step(&state) }

    /// One xoshiro256** step on `state`: the next 64 bits. Bulk loops (dropout masks) step a
    /// local copy of `state` and store it back, drawing the same sequence as `next()`.
    @inline(__always)
    static func step(_ state: inout (UInt64, UInt64, UInt64, UInt64)) -> UInt64 {
        let result = Generator.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = Generator.rotl(state.3, 45)
        return result
    }

    /// A uniform float in [0, 1) with 24 bits of randomness.
    @inline(__always)
    public func nextUniform() -> Float { Generator.uniform(next()) }

    /// The uniform float in [0, 1) that `nextUniform()` makes of 64 random bits (the top 24).
    @inline(__always)
    static func uniform(_ bits: UInt64) -> Float { Float(bits >> 40) * (1.0 / 16_777_216.0) }

    /// A standard-normal float (Box–Muller on two uniforms; no cached second value, so the
    /// stream position depends only on how many values were drawn).
    public func nextNormal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2))
    }

    /// A uniform integer in `0..<upperBound`.
    public func nextInt(below upperBound: Int) -> Int {
        check(upperBound > 0, "Generator.nextInt: upperBound must be positive, got \(upperBound)")
        // Rejection sampling removes the modulo bias.
        let bound = UInt64(upperBound)
        let threshold = (0 &- bound) % bound
        while true {
            let r = next()
            if r >= threshold { return Int(r % bound) }
        }
    }

    /// A random permutation of `0..<count` (Fisher–Yates).
    public func permutation(_ count: Int) -> [Int] {
        var p = Array(0..<count)
        if count < 2 { return p }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            p.swapAt(i, j)
        }
        return p
    }
}
