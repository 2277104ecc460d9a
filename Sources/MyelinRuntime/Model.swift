// The loaded model behind `myelin_model`: the shared `LoadedBundle` (graph, weights,
// validated META and TEST) plus the NUL-terminated strings the C API hands out. Memory comes
// from posix_memalign (Graph/Memory.swift), so every allocation failure becomes
// MYELIN_ERR_OUT_OF_MEMORY instead of a trap; a model is immutable after loading (threads
// share it; each uses its own context).

import CZlibRuntime

/// A metadata entry: NUL-terminated key and value owned by the model.
struct RuntimeMetadata {
    var key: UnsafePointer<CChar>
    var value: UnsafePointer<CChar>
}

/// Everything `myelin_model_*` exposes. Owned memory: `loaded`, `strings` (metadata, labels
/// and graph input/output names), `metadata`, `labels`, `names`.
struct RuntimeModel {
    var loaded = LoadedBundle()
    var strings: UnsafeMutableRawPointer? = nil
    var metadata: UnsafeMutablePointer<RuntimeMetadata>? = nil
    var metadataCount = 0
    var labels: UnsafeMutablePointer<UnsafePointer<CChar>>? = nil
    var labelCount = 0
    /// Names of the graph inputs, then of the graph outputs.
    var names: UnsafeMutablePointer<UnsafePointer<CChar>>? = nil

    var graph: Graph { loaded.model.graph }

    /// The only input and output of a model `myelin_run` can run (f32 each), else nil.
    var single: (input: GraphValue, output: GraphValue)? {
        let g = graph
        guard g.inputCount == 1, g.outputCount == 1, g.inputValue(0).dtype == .f32, g.outputValue(0).dtype == .f32 else { return nil }
        return (g.inputValue(0), g.outputValue(0))
    }
}

/// Frees a model and everything it owns (any field may still be nil during loading).
func runtimeModelDestroy(_ model: UnsafeMutablePointer<RuntimeModel>) {
    model.pointee.loaded.release()
    free(model.pointee.strings)
    free(model.pointee.metadata)
    free(model.pointee.labels)
    free(model.pointee.names)
    model.deinitialize(count: 1)
    free(model)
}
