/// Random image augmentation applied per batch: each image of the batch gets its own random
/// transform, drawn from a seeded `Generator` (same seed, same batches).
///
/// Accepts `[n, h·w]` batches of square grayscale images (as `FashionMNIST.load` gives) or
/// NCHW `[n, c, h, w]`; the output has the input's shape. It is data preparation, not a
/// model op: the result carries no gradient and is not traced.
///
/// ```swift
/// let augment = Augmentation.compose([.randomCrop(padding: 2), .horizontalFlip()])
/// for batch in loader {
///     let x = augment(batch.inputs, generator: g)
///     …
/// }
/// ```
public struct Augmentation {
    /// Transforms one image in place: `pixels` holds c planes of h×w.
    let transform: (_ pixels: UnsafeMutableBufferPointer<Float>, _ channels: Int, _ height: Int, _ width: Int,
                    _ generator: Generator) -> Void

    /// Pads each image with `padding` zeros on every side and cuts a random window of the
    /// original size: a shift by −padding…padding pixels in each direction (uniform), with
    /// zeros where the shift uncovers the border. All channels shift together.
    public static func randomCrop(padding: Int) -> Augmentation {
        check(padding >= 0, "Augmentation.randomCrop: padding must not be negative, got \(padding)")
        return Augmentation { pixels, channels, height, width, generator in
            let dy = generator.nextInt(below: 2 * padding + 1) - padding
            let dx = generator.nextInt(below: 2 * padding + 1) - padding
            guard dy != 0 || dx != 0 else { return }
            let source = Array(pixels)
            for c in 0..<channels {
                let plane = c * height * width
                for y in 0..<height {
                    let sy = y + dy
                    for x in 0..<width {
                        let sx = x + dx
                        pixels[plane + y * width + x] = sy >= 0 && sy < height && sx >= 0 && sx < width
                            ? source[plane + sy * width + sx] : 0
                    }
                }
            }
        }
    }

    /// Mirrors each image left–right with probability `probability`.
    public static func horizontalFlip(probability: Float = 0.5) -> Augmentation {
        check(probability >= 0 && probability <= 1, "Augmentation.horizontalFlip: probability must be in [0, 1], got \(probability)")
        return Augmentation { pixels, channels, height, width, generator in
            guard generator.nextUniform() < probability else { return }
            for row in 0..<(channels * height) {
                var a = row * width, b = a + width - 1
                while a < b { pixels.swapAt(a, b); a += 1; b -= 1 }
            }
        }
    }

    /// The augmentations applied in order, each image drawing its random numbers in that order.
    public static func compose(_ steps: [Augmentation]) -> Augmentation {
        Augmentation { pixels, channels, height, width, generator in
            for s in steps { s.transform(pixels, channels, height, width, generator) }
        }
    }

    /// A randomly transformed copy of `batch` (`[n, h·w]` square grayscale or `[n, c, h, w]`).
    public func callAsFunction(_ batch: Tensor, generator: Generator) -> Tensor {
        let n = batch.shape.first ?? 0
        var channels = 1, height = 0, width = 0
        if batch.rank == 4 {
            (channels, height, width) = (batch.shape[1], batch.shape[2], batch.shape[3])
        } else {
            check(batch.rank == 2, "Augmentation: expected images [n, h·w] or [n, c, h, w], got \(batch.shape)")
            let side = Int(Double(batch.shape[1]).squareRoot().rounded())
            check(side * side == batch.shape[1], "Augmentation: \(batch.shape[1]) features are not a square image; pass [n, c, h, w]")
            (height, width) = (side, side)
        }
        let size = channels * height * width
        var data = batch.data
        data.withUnsafeMutableBufferPointer { all in
            for i in 0..<n {
                transform(UnsafeMutableBufferPointer(rebasing: all[(i * size)..<((i + 1) * size)]), channels, height, width, generator)
            }
        }
        return Tensor(shape: batch.shape, data: data)
    }
}
