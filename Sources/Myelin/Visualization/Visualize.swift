/// Pictures of what a convolutional network learned: its first layer's filters and the
/// feature maps one image produces. Both write PNG grids (`imageGrid`).
///
/// ```swift
/// try Visualize.filters(of: model, to: "/tmp/filters.png")
/// let files = try Visualize.featureMaps(of: model, image: test.inputs.rows(0..<1), prefix: "/tmp/maps")
/// ```
public enum Visualize {
    /// The first `Conv2d` of `model` in module order (nil if it has none).
    public static func firstConv2d(in model: any Module) -> Conv2d? {
        model.namedModules().lazy.compactMap { $0.1 as? Conv2d }.first
    }

    /// Writes the filters of `model`'s first `Conv2d` as a grid: one tile per (output,
    /// input) channel pair, a row of `inChannels / groups` tiles per output channel when there
    /// are several input channels, red positive and blue negative on a common scale.
    /// Returns the image written.
    @discardableResult
    public static func filters(of model: any Module, to path: String, scale: Int = 12) throws -> PixelImage {
        guard let conv = firstConv2d(in: model) else {
            throw MyelinError.file(path: path, problem: "the model has no Conv2d layer whose filters could be drawn")
        }
        let w = conv.weight   // [out, in / groups, kH, kW]
        let perFilter = w.shape[1]
        let tiles = Tensor(shape: [w.shape[0] * perFilter, w.shape[2], w.shape[3]], data: w.data)
        let image = imageGrid(tiles, columns: perFilter == 1 ? nil : perFilter, scale: scale, coloring: .diverging)
        try image.writePNG(to: path)
        return image
    }

    /// Runs `model` on one image (`[1, …]`) and writes, for every 2-D convolution it
    /// computes, a grid of that convolution's output channels (each stretched to its own
    /// range) to `prefix-MODULE.png`. Returns the paths written, in execution order.
    @discardableResult
    public static func featureMaps(of model: any Layer, image: Tensor, prefix: String, scale: Int = 4) throws -> [String] {
        check(image.rank >= 1 && image.shape[0] == 1, "Visualize.featureMaps: expected one image [1, …], got \(image.shape)")
        let graph = try TracedGraph(tracing: model, example: image)
        var paths: [String] = []
        for node in graph.nodes where node.op == "conv2d" {
            let maps = graph.values[node.output].sample   // [1, C, H, W]
            let tiles = Tensor(shape: Array(maps.shape.dropFirst()), data: maps.data)
            let name = node.modulePath.isEmpty ? "conv\(paths.count)" : node.modulePath
            let path = "\(prefix)-\(name).png"
            try imageGrid(tiles, scale: scale).writePNG(to: path)
            paths.append(path)
        }
        return paths
    }
}
