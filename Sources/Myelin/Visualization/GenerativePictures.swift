import Foundation

/// Pictures of generative models: rows of images (inputs above reconstructions, noisy above
/// denoised), sample grids, latent interpolations, the decoded 2-D latent plane, and the 2-D
/// latent space as a scatter plot coloured by class.
///
/// ```swift
/// let x = test.inputs.rows(0..<16)
/// try GenerativePictures.rows([x, noGrad { ae(x) }]).writePNG(to: "/tmp/reconstructions.png")
/// ```
public enum GenerativePictures {
    /// Each tensor `[k, side·side]` (or `[k, 1, side, side]`) becomes one row of `k` images;
    /// the rows are stacked in order, pixels drawn on a common [0, 1] grey scale.
    public static func rows(_ rows: [Tensor], side: Int = 28, scale: Int = 2) -> PixelImage {
        check(!rows.isEmpty, "GenerativePictures.rows: no rows")
        let k = rows[0].shape[0]
        for r in rows {
            check(r.shape[0] == k && r.count == k * side * side,
                  "GenerativePictures.rows: every row must hold \(k) images of \(side)×\(side), got \(r.shape)")
        }
        let tiles = Tensor(shape: [rows.count * k, side, side], data: rows.flatMap { $0.data })
        return imageGrid(tiles, columns: k, scale: scale, coloring: .gray(low: 0, high: 1))
    }

    /// A grid of images `[n, side·side]`, `columns` per row.
    public static func grid(_ images: Tensor, columns: Int, side: Int = 28, scale: Int = 2) -> PixelImage {
        check(images.shape[0] > 0 && images.count == images.shape[0] * side * side,
              "GenerativePictures.grid: expected images [n, \(side * side)], got \(images.shape)")
        return imageGrid(Tensor(shape: [images.shape[0], side, side], data: images.data), columns: columns, scale: scale,
                         coloring: .gray(low: 0, high: 1))
    }

    /// Codes on the straight lines between `from[i]` and `to[i]` (`[pairs, code]` each):
    /// `[pairs·steps, code]`, row i·steps + s at fraction s / (steps − 1).
    public static func interpolate(from a: Tensor, to b: Tensor, steps: Int) -> Tensor {
        check(a.rank == 2 && a.shape == b.shape, "GenerativePictures.interpolate: codes \(a.shape) and \(b.shape) must be equal [pairs, code]")
        check(steps >= 2, "GenerativePictures.interpolate: needs at least 2 steps, got \(steps)")
        let (pairs, d) = (a.shape[0], a.shape[1])
        var out = [Float](repeating: 0, count: pairs * steps * d)
        for p in 0..<pairs {
            for s in 0..<steps {
                let t = Float(s) / Float(steps - 1)
                for j in 0..<d { out[(p * steps + s) * d + j] = (1 - t) * a.data[p * d + j] + t * b.data[p * d + j] }
            }
        }
        return Tensor(shape: [pairs * steps, d], data: out)
    }

    /// A `steps`×`steps` lattice of 2-D codes covering [−extent, extent]² (row-major, top row
    /// at +extent of the second coordinate), `[steps², 2]`: decode it to draw a 2-D VAE's manifold.
    public static func latentLattice(steps: Int, extent: Float) -> Tensor {
        check(steps >= 2 && extent > 0, "GenerativePictures.latentLattice: needs steps ≥ 2 and a positive extent, got \(steps), \(extent)")
        var out: [Float] = []
        for r in 0..<steps {
            for c in 0..<steps {
                out += [-extent + 2 * extent * Float(c) / Float(steps - 1), extent - 2 * extent * Float(r) / Float(steps - 1)]
            }
        }
        return Tensor(shape: [steps * steps, 2], data: out)
    }
}

extension SVGPlot {
    /// Ten distinguishable colours (the "tab10" palette), one per class.
    static let classColors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// A scatter plot of 2-D points `[n, 2]` (e.g. a VAE's latent means), one colour per class
    /// of `labels`, with a legend naming the classes.
    public static func latentScatter(_ points: Tensor, labels: [Int], classNames: [String],
                                     title: String = "Latent space") -> String {
        check(points.rank == 2 && points.shape[1] == 2, "SVGPlot.latentScatter: expected points [n, 2], got \(points.shape)")
        check(labels.count == points.shape[0], "SVGPlot.latentScatter: \(labels.count) labels for \(points.shape[0]) points")
        let n = points.shape[0]
        let size = 520.0, margin = 55.0, top = 40.0, legendWidth = 150.0
        var svg = header(width: size + legendWidth, height: size + top)
        svg += text((size + legendWidth) / 2, 24, escape(title), size: 16, anchor: "middle", weight: "bold")
        let xs = (0..<n).map { Double(points.data[2 * $0]) }.filter { $0.isFinite }
        let ys = (0..<n).map { Double(points.data[2 * $0 + 1]) }.filter { $0.isFinite }
        let xTicks = ticks(xs.min() ?? -1, xs.max() ?? 1), yTicks = ticks(ys.min() ?? -1, ys.max() ?? 1)
        let ax = margin, ay = top, aw = size - margin - 10, ah = size - margin - 10
        let px = { (v: Double) in ax + (v - xTicks.first!) / (xTicks.last! - xTicks.first!) * aw }
        let py = { (v: Double) in ay + ah - (v - yTicks.first!) / (yTicks.last! - yTicks.first!) * ah }
        svg += "<rect class=\"plot-area\" x=\"\(fmt(ax))\" y=\"\(fmt(ay))\" width=\"\(fmt(aw))\" height=\"\(fmt(ah))\" fill=\"none\" stroke=\"#888888\"/>\n"
        let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1, yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        for v in xTicks { svg += text(px(v), ay + ah + 16, tickLabel(v, step: xStep), size: 10, anchor: "middle") }
        for v in yTicks { svg += text(ax - 4, py(v) + 4, tickLabel(v, step: yStep), size: 10, anchor: "end") }
        svg += text(ax + aw / 2, ay + ah + 34, "z₁", size: 12, anchor: "middle")
        svg += text(14, ay + ah / 2, "z₂", size: 12, anchor: "middle", rotate: true)
        for i in 0..<n {
            let x = Double(points.data[2 * i]), y = Double(points.data[2 * i + 1])
            guard x.isFinite && y.isFinite else { continue }
            let color = classColors[((labels[i] % classColors.count) + classColors.count) % classColors.count]
            svg += "<circle class=\"point\" cx=\"\(fmt(px(x)))\" cy=\"\(fmt(py(y)))\" r=\"1.8\" fill=\"\(color)\" fill-opacity=\"0.6\"/>\n"
        }
        let classes = Swift.max(classNames.count, (labels.max() ?? -1) + 1)
        for c in 0..<classes {
            let y = top + 10 + 20 * Double(c)
            svg += "<circle cx=\"\(fmt(size + 10))\" cy=\"\(fmt(y))\" r=\"5\" fill=\"\(classColors[c % classColors.count])\"/>\n"
            svg += text(size + 20, y + 4, escape(classNames[safe: c] ?? "\(c)"), size: 11)
        }
        return svg + "</svg>\n"
    }

    /// Curves of every metric in a `StepTrainer` history against the epoch, one panel per
    /// metric, a metric and its `val_` twin sharing a panel (train blue, validation orange).
    public static func metricCurves(_ history: [MetricRecord], title: String = "Training history") -> String {
        var bases: [String] = []
        for r in history {
            for name in r.names {
                let base = name.hasPrefix("val_") ? String(name.dropFirst(4)) : name
                if !bases.contains(base) { bases.append(base) }
            }
        }
        let panelW = 420.0, panelH = 300.0, margin = 55.0, top = 60.0, perRow = 2
        let rows = Swift.max(1, (bases.count + perRow - 1) / perRow)
        let width = Double(perRow) * panelW + 40
        var svg = header(width: width, height: top + Double(rows) * (panelH + 10))
        svg += text(width / 2, 24, escape(title), size: 16, anchor: "middle", weight: "bold")
        svg += legend(centerX: width / 2, y: 34, entries: [("train", trainColor), ("validation", validationColor)])
        for (i, base) in bases.enumerated() {
            func series(_ name: String) -> ([Double], [Double]) {
                let kept = history.filter { $0[name] != nil }
                return (kept.map { Double($0.epoch) }, kept.map { $0[name]! })
            }
            let (tx, ty) = series(base), (vx, vy) = series("val_" + base)
            let x = 20 + Double(i % perRow) * (panelW + 20), y = top + Double(i / perRow) * (panelH + 10)
            // Both curves share the epochs axis (a validation metric logged on other epochs is left out).
            let xs = tx.isEmpty ? vx : tx
            svg += panel(x: x, y: y, w: panelW, h: panelH, margin: margin, label: base, xs: xs,
                         series: [("train", trainColor, ty), ("validation", validationColor, vx == xs ? vy : [])])
        }
        return svg + "</svg>\n"
    }
}
