import Foundation

/// Self-contained SVG charts (no scripts, no external files): training curves and a
/// confusion-matrix heat map. Open the files in any browser.
public enum SVGPlot {
    /// Two panels side by side — loss and accuracy per epoch, training and validation.
    public static func trainingCurves(_ history: [EpochRecord], title: String = "Training history") -> String {
        let panelW = 420.0, panelH = 300.0, margin = 55.0
        var svg = header(width: 2 * panelW + 40, height: panelH + 70)
        svg += text(20 + panelW, 24, title, size: 16, anchor: "middle", weight: "bold")
        let epochs = history.map { Double($0.epoch) }
        svg += panel(x: 20, y: 40, w: panelW, h: panelH, margin: margin, label: "loss", xs: epochs,
                     series: [("train", "#1f77b4", history.map { $0.trainLoss }),
                              ("validation", "#ff7f0e", history.compactMap { $0.validationLoss })])
        let acc = history.compactMap { $0.trainAccuracy }.map { $0 * 100 }
        let vacc = history.compactMap { $0.validationAccuracy }.map { $0 * 100 }
        svg += panel(x: 40 + panelW, y: 40, w: panelW, h: panelH, margin: margin, label: "accuracy (%)", xs: epochs,
                     series: [("train", "#1f77b4", acc), ("validation", "#ff7f0e", vacc)])
        return svg + "</svg>\n"
    }

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

    static func panel(x: Double, y: Double, w: Double, h: Double, margin: Double, label: String, xs: [Double],
                      series: [(String, String, [Double])]) -> String {
        let all = series.flatMap { $0.2 }.filter { $0.isFinite }
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let x0 = xs.first ?? 1, x1 = Swift.max(xs.last ?? 1, x0 + 1)
        let px = { (v: Double) in x + margin + (v - x0) / (x1 - x0) * (w - margin - 10) }
        let py = { (v: Double) in y + h - 40 - (v - lo) / (hi - lo) * (h - 60) }
        var s = "<rect x=\"\(fmt(x + margin))\" y=\"\(fmt(y + 20))\" width=\"\(fmt(w - margin - 10))\" height=\"\(fmt(h - 60))\" fill=\"none\" stroke=\"#888888\"/>\n"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            s += "<line x1=\"\(fmt(x + margin))\" x2=\"\(fmt(x + w - 10))\" y1=\"\(fmt(py(v)))\" y2=\"\(fmt(py(v)))\" stroke=\"#eeeeee\"/>\n"
            s += text(x + margin - 4, py(v) + 4, String(format: "%.3g", v), size: 10, anchor: "end")
        }
        let step = Swift.max(1, Int((x1 - x0) / 8))
        for e in Swift.stride(from: Int(x0), through: Int(x1), by: step) {
            s += text(px(Double(e)), y + h - 24, "\(e)", size: 10, anchor: "middle")
        }
        s += text(x + margin + (w - margin) / 2, y + h - 6, "epoch", size: 11, anchor: "middle")
        s += text(x + 12, y + h / 2, label, size: 11, anchor: "middle", rotate: true)
        for (k, (name, color, values)) in series.enumerated() where !values.isEmpty {
            let points = zip(xs, values).map { "\(fmt(px($0))),\(fmt(py($1)))" }.joined(separator: " ")
            s += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for (ex, v) in zip(xs, values) {
                s += "<circle cx=\"\(fmt(px(ex)))\" cy=\"\(fmt(py(v)))\" r=\"2.5\" fill=\"\(color)\"><title>\(name) epoch \(Int(ex)): \(String(format: "%.4f", v))</title></circle>\n"
            }
            let ly = y + 34 + Double(k) * 16
            s += "<line x1=\"\(fmt(x + w - 110))\" x2=\"\(fmt(x + w - 90))\" y1=\"\(fmt(ly))\" y2=\"\(fmt(ly))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += text(x + w - 86, ly + 4, name, size: 11)
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
