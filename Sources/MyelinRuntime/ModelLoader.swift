// Bundle → RuntimeModel. The shared loader (Sources/MyelinShared/Graph/Executor.swift)
// validates everything and puts the weights in place; this file only copies the strings the
// C API returns into NUL-terminated memory owned by the model. Nothing keeps a pointer into
// the caller's bytes.

import CZlibRuntime

func runtimeLoad(_ base: UnsafeRawPointer, count: Int) throws(BundleStatus) -> UnsafeMutablePointer<RuntimeModel> {
    let model = try bundleAllocate(RuntimeModel.self, count: 1)
    model.initialize(to: RuntimeModel())
    do {
        model.pointee.loaded = try LoadedBundle.load(base, count: count, budget: runtimeMemoryBudget) { b in
            // copyStrings: metadata text and labels (each at most the META section) and the I/O names.
            let g = b.model.graph
            var names = 0
            for i in 0..<g.inputCount { names += g.inputValue(i).name.bytes.count + 1 + 8 }
            for i in 0..<g.outputCount { names += g.outputValue(i).name.bytes.count + 1 + 8 }
            return 2 * b.metadataSize + names
        }
        try copyStrings(into: model)
    } catch {
        runtimeModelDestroy(model)
        throw error
    }
    return model
}

/// Metadata entries, the `class_labels` table and the graph input/output names, as
/// NUL-terminated strings in one block.
func copyStrings(into model: UnsafeMutablePointer<RuntimeModel>) throws(BundleStatus) {
    let g = model.pointee.graph
    let ioCount = g.inputCount + g.outputCount
    func ioName(_ i: Int) -> UnsafeRawBufferPointer {
        (i < g.inputCount ? g.inputValue(i) : g.outputValue(i - g.inputCount)).name.bytes
    }
    var meta: BundleMetadata? = nil
    if let m = model.pointee.loaded.metadata {
        meta = try BundleMetadata(m, size: model.pointee.loaded.metadataSize, outputSize: g.outputValue(0).count)
    }
    // Each string plus its NUL; the labels once more.
    var stringBytes = 0
    if let meta {
        stringBytes = meta.textBytes + 2 * meta.count
        if let l = meta.labels { stringBytes += l.count + 1 }
    }
    for i in 0..<ioCount { stringBytes += ioName(i).count + 1 }

    let block = try bundleAllocate(bytes: stringBytes).bindMemory(to: CChar.self, capacity: Swift.max(stringBytes, 1))
    model.pointee.strings = UnsafeMutableRawPointer(block)
    var at = 0
    func copy(_ s: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        let start = block + at
        if s.count > 0 { UnsafeMutableRawPointer(start).copyMemory(from: s.baseAddress!, byteCount: s.count) }
        start[s.count] = 0
        at += s.count + 1
        return UnsafePointer(start)
    }
    let names = try bundleAllocate(UnsafePointer<CChar>.self, count: ioCount)
    model.pointee.names = names
    for i in 0..<ioCount { names.advanced(by: i).initialize(to: copy(ioName(i))) }
    guard let meta else { return }

    let entries = try bundleAllocate(RuntimeMetadata.self, count: meta.count)
    model.pointee.metadata = entries
    meta.forEach { key, value in
        entries.advanced(by: model.pointee.metadataCount).initialize(to: RuntimeMetadata(key: copy(key), value: copy(value)))
        model.pointee.metadataCount += 1
    }
    if let l = meta.labels {
        let table = try bundleAllocate(UnsafePointer<CChar>.self, count: meta.labelCount)
        model.pointee.labels = table
        let text = block + at
        _ = copy(l)
        var label = 0
        table.advanced(by: 0).initialize(to: UnsafePointer(text))
        for i in 0..<l.count where text[i] == 0x0A {
            text[i] = 0
            label += 1
            table.advanced(by: label).initialize(to: UnsafePointer(text + i + 1))
        }
        model.pointee.labelCount = meta.labelCount
    }
}
