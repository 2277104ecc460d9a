import Foundation

/// Self-contained SVG charts (no scripts, no external files): training curves and a
/// confusion-matrix heat map. Open the files in any browser.
public enum SVGPlot {
    /// Two panels side by side — loss and accuracy per epoch, training and validation — under
    /// one legend, which sits between the title and the panels so it never hides a curve.
    public static func trainingCurves(_ history: [EpochRecord], title: String = "Training history") -> String {
        let panelW = 420.0, panelH = 300.0, margin = 55.0, top = 60.0
        let width = 2 * panelW + 40
        var svg = header(width: width, height: top + panelH + 10)
        svg += text(width / 2, 24, escape(title), size: 16, anchor: "middle", weight: "bold")
        let epochs = history.map { Double($0.epoch) }
        let loss: [(String, String, [Double])] = [("train", trainColor, history.map { $0.trainLoss }),
                                                  ("validation", validationColor, history.compactMap { $0.validationLoss })]
        let acc = history.compactMap { $0.trainAccuracy }.map { $0 * 100 }
        let vacc = history.compactMap { $0.validationAccuracy }.map { $0 * 100 }
        svg += legend(centerX: width / 2, y: 34, entries: loss.filter { !$0.2.isEmpty }.map { ($0.0, $0.1) })
        svg += panel(x: 20, y: top, w: panelW, h: panelH, margin: margin, label: "loss", xs: epochs, series: loss)
        svg += panel(x: 40 + panelW, y: top, w: panelW, h: panelH, margin: margin, label: "accuracy (%)", xs: epochs,
                     series: [("train", trainColor, acc), ("validation", validationColor, vacc)])
        return svg + "</svg>\n"
    }

    static let trainColor = "#1f77b4", validationColor = "#ff7f0e"

    /// A heat map of `confusion[actual][predicted]`, each row shaded by its own total.
    public static func confusionMatrix(_ confusion: [[Int]], classNames: [String], title: String = "Confusion matrix") -> String {
        let n = confusion.count, cell = 44.0, left = 130.0, top = 70.0
        let size = left + cell * Double(n) + 20
        var svg = header(width: size, height: top + cell * Double(n) + 60)
        svg += text(size / 2, 24, title, size: 16, anchor: "middle", weight: "bold")
        svg += text(left + cell * Double(n) / 2, 50, "predicted", size: 12, anchor: "middle")
        for (i, row) in confusion.enumerated() {
            let total = Double(Swift.max(row.reduce(0, +), 1))
            svg += text(left - 6, top + cell * (Double(i) + 0.6), escape(classNames[safe: i] ?? "\(i)"), size: 11, anchor: "end")
            for (j, v) in row.enumerated() {
                let f = Double(v) / total
                let shade = Int(255 - 200 * f)
                let x = left + cell * Double(j), y = top + cell * Double(i)
                svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"rgb(\(shade),\(shade),255)\" stroke=\"#ffffff\"><title>actual \(escape(classNames[safe: i] ?? "\(i)")), predicted \(escape(classNames[safe: j] ?? "\(j)")): \(v)</title></rect>\n"
                svg += text(x + cell / 2, y + cell * 0.6, "\(v)", size: 10, anchor: "middle", fill: f > 0.5 ? "#ffffff" : "#000000")
            }
        }
        for j in 0..<n { svg += text(left + cell * (Double(j) + 0.5), top + cell * Double(n) + 16, "\(j)", size: 11, anchor: "middle") }
        svg += text(14, top + cell * Double(n) / 2, "actual", size: 12, anchor: "middle", rotate: true)
        return svg + "</svg>\n"
    }

    static func header(width: Double, height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    }

    static func text(_ x: Double, _ y: Double, _ s: String, size: Int, anchor: String = "start",
                     weight: String = "normal", fill: String = "#000000", rotate: Bool = false) -> String {
        let r = rotate ? " transform=\"rotate(-90 \(fmt(x)) \(fmt(y)))\"" : ""
        return "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" fill=\"\(fill)\"\(r)>\(s)</text>\n"
    }

    /// A row of legend entries (a line in the series colour, then its name), centred on
    /// `centerX`, inside a `class="legend"` box whose top is `y`.
    static func legend(centerX: Double, y: Double, entries: [(name: String, color: String)]) -> String {
        guard !entries.isEmpty else { return "" }
        // Width of an entry: 20 px of line, 4 px gap, ~6.5 px per character at 11 px, 16 px spacing.
        let widths = entries.map { 40 + 6.5 * Double($0.name.count) }
        let total = widths.reduce(0, +) + 8
        var x = centerX - total / 2
        var s = "<rect class=\"legend\" x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(total))\" height=\"18\" fill=\"none\" stroke=\"#cccccc\"/>\n"
        x += 8
        for ((name, color), w) in zip(entries, widths) {
            s += "<line x1=\"\(fmt(x))\" x2=\"\(fmt(x + 20))\" y1=\"\(fmt(y + 9))\" y2=\"\(fmt(y + 9))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += text(x + 24, y + 13, escape(name), size: 11)
            x += w
        }
        return s
    }

    /// Round axis ticks covering `lo…hi`: about `count` steps of 1, 2 or 5 × 10^k, starting at
    /// or below `lo` and ending at or above `hi` (the axis spans first…last tick).
    /// `minimumStep` keeps integer axes (epochs) from getting fractional ticks.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, minimumStep: Double = 0) -> [Double] {
        var lo = lo, hi = hi
        if !(hi - lo > 1e-12) { lo -= 0.5; hi += 0.5 }
        let raw = Swift.max((hi - lo) / Double(Swift.max(count, 1)), minimumStep)
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let fraction = raw / magnitude
        let step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
        let first = Foundation.floor(lo / step + 1e-9), last = Foundation.ceil(hi / step - 1e-9)
        // Multiples of the step, rounded to its decimals (no 0.30000000000000004).
        let decimals = Swift.max(0, -Int(Foundation.floor(Foundation.log10(step) + 1e-9)))
        let scale = Foundation.pow(10, Double(decimals))
        return Swift.stride(from: first, through: last, by: 1).map { Foundation.round($0 * step * scale) / scale }
    }

    /// A tick label with no more decimals than the step between ticks needs.
    static func tickLabel(_ v: Double, step: Double) -> String {
        let decimals = Swift.max(0, -Int(Foundation.floor(Foundation.log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", v)
    }

    static func panel(x: Double, y: Double, w: Double, h: Double, margin: Double, label: String, xs: [Double],
                      series: [(String, String, [Double])]) -> String {
        let all = series.flatMap { $0.2 }.filter { $0.isFinite }
        let yTicks = ticks(all.min() ?? 0, all.max() ?? 1)
        let xTicks = ticks(xs.first ?? 1, xs.last ?? 1, count: 8, minimumStep: 1)
        let lo = yTicks.first!, hi = yTicks.last!, x0 = xTicks.first!, x1 = xTicks.last!
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        // The data area; tick labels, axis titles and the legend stay outside it.
        let ax = x + margin, ay = y + 10, aw = w - margin - 10, ah = h - 60
        let px = { (v: Double) in ax + (v - x0) / (x1 - x0) * aw }
        let py = { (v: Double) in ay + ah - (v - lo) / (hi - lo) * ah }
        var s = "<rect class=\"plot-area\" x=\"\(fmt(ax))\" y=\"\(fmt(ay))\" width=\"\(fmt(aw))\" height=\"\(fmt(ah))\" fill=\"none\" stroke=\"#888888\"/>\n"
        for v in yTicks {
            s += "<line x1=\"\(fmt(ax))\" x2=\"\(fmt(ax + aw))\" y1=\"\(fmt(py(v)))\" y2=\"\(fmt(py(v)))\" stroke=\"#eeeeee\"/>\n"
            s += text(ax - 4, py(v) + 4, tickLabel(v, step: yStep), size: 10, anchor: "end")
        }
        for e in xTicks {
            s += text(px(e), ay + ah + 16, "\(Int(e))", size: 10, anchor: "middle")
        }
        s += text(ax + aw / 2, ay + ah + 34, "epoch", size: 11, anchor: "middle")
        s += text(x + 12, ay + ah / 2, escape(label), size: 11, anchor: "middle", rotate: true)
        for (name, color, values) in series where !values.isEmpty {
            let points = zip(xs, values).map { "\(fmt(px($0))),\(fmt(py($1)))" }.joined(separator: " ")
            s += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for (ex, v) in zip(xs, values) {
                s += "<circle cx=\"\(fmt(px(ex)))\" cy=\"\(fmt(py(v)))\" r=\"2.5\" fill=\"\(color)\"><title>\(escape(name)) epoch \(Int(ex)): \(String(format: "%.4f", v))</title></circle>\n"
            }
        }
        return s
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
