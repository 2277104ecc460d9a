/// How `imageGrid` turns floats into colours.
public enum GridColoring: Equatable {
    /// Each tile stretched from its own minimum (black) to its maximum (white): shows the
    /// pattern of every feature map, whatever its scale.
    case grayPerTile
    /// One scale for all tiles, symmetric around 0: negative blue, zero white, positive red.
    /// Shows signs and relative sizes, as convolution filters need.
    case diverging
    /// One grey scale for all tiles: `low` black, `high` white (values outside are clamped).
    /// Shows images as they are, e.g. pixels in [0, 1].
    case gray(low: Float, high: Float)
}

/// Tiles a stack of 2-D arrays into one picture: `tiles` `[k, h, w]` become a grid of
/// `columns` tiles per row, each pixel drawn as a `scale`×`scale` block, tiles separated by
/// `border` pixels of mid gray.
///
/// ```swift
/// let grid = imageGrid(Tensor.randn([32, 3, 3]), columns: 8, scale: 8, coloring: .diverging)
/// try grid.writePNG(to: "/tmp/filters.png")
/// ```
public func imageGrid(_ tiles: Tensor, columns: Int? = nil, scale: Int = 1, border: Int = 1,
                      coloring: GridColoring = .grayPerTile) -> PixelImage {
    check(tiles.rank == 3 && tiles.shape[0] > 0, "imageGrid: expected tiles [count, height, width], got \(tiles.shape)")
    check(scale >= 1 && border >= 0, "imageGrid: scale \(scale) must be positive and border \(border) not negative")
    let (k, h, w) = (tiles.shape[0], tiles.shape[1], tiles.shape[2])
    let cols = Swift.min(k, columns ?? Int(Double(k).squareRoot().rounded(.up)))
    let rows = (k + cols - 1) / cols
    let tileW = w * scale, tileH = h * scale
    let width = cols * tileW + (cols + 1) * border, height = rows * tileH + (rows + 1) * border
    if case let .gray(low, high) = coloring { check(high > low, "imageGrid: gray range \(low)…\(high) is empty") }
    let channels = coloring == .diverging ? 3 : 1
    var pixels = [UInt8](repeating: 128, count: width * height * channels)
    let limit = Swift.max(tiles.data.map(abs).max() ?? 0, 1e-12)
    for t in 0..<k {
        let values = tiles.data[(t * h * w)..<((t + 1) * h * w)]
        let low = values.min()!, high = values.max()!
        let x0 = border + (t % cols) * (tileW + border), y0 = border + (t / cols) * (tileH + border)
        for y in 0..<tileH {
            for x in 0..<tileW {
                let v = values[values.startIndex + (y / scale) * w + x / scale]
                let p = ((y0 + y) * width + x0 + x) * channels
                switch coloring {
                case .grayPerTile:
                    pixels[p] = high > low ? UInt8(((v - low) / (high - low) * 255).rounded()) : 0
                case let .gray(lo, hi):
                    pixels[p] = UInt8((Swift.min(1, Swift.max(0, (v - lo) / (hi - lo))) * 255).rounded())
                case .diverging:
                    let a = Swift.min(1, abs(v) / limit)
                    let fade = UInt8(((1 - a) * 255).rounded())
                    pixels.replaceSubrange(p..<(p + 3), with: v >= 0 ? [255, fade, fade] : [fade, fade, 255])
                }
            }
        }
    }
    return PixelImage(width: width, height: height, channels: channels, pixels: pixels)
}
