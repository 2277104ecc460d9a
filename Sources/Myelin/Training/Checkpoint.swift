import Foundation

/// Everything needed to resume training exactly or to evaluate later: model state,
/// optimizer state, completed epochs, the trainer's RNG state, the history, and free-form
/// metadata (the CLI stores the model and optimizer configuration there).
///
/// File layout (little-endian), written atomically:
/// ```
/// "MYCK" | u32 version (1) | u32 JSON length | JSON header (epoch, rng, history, metadata)
/// u64 length | model state (.mst bytes) | u64 length | optimizer state (.mst bytes) | u32 CRC-32
/// ```
public struct Checkpoint {
    public struct Header: Codable, Equatable {
        public var epoch: Int
        /// xoshiro256** state words as decimal strings (JSON numbers cannot hold 64 bits exactly).
        public var rng: [String]
        public var history: [EpochRecord]
        public var metadata: [String: String]
        /// The history of a `StepTrainer` (nil for a `Trainer`'s checkpoint; absent in older files).
        public var metrics: [MetricRecord]?
    }

    public var header: Header
    public var modelState: StateDict
    public var optimizerState: StateDict

    static let magic = Array("MYCK".utf8)
    static let version: UInt32 = 1

    /// Captures the trainer's current state.
    public init(trainer: Trainer, metadata: [String: String] = [:]) {
        let s = trainer.generator.state
        header = Header(epoch: trainer.epoch, rng: [s.0, s.1, s.2, s.3].map { String($0) },
                        history: trainer.history, metadata: metadata)
        modelState = trainer.model.stateDict()
        optimizerState = trainer.optimizer.stateDict()
    }

    /// Captures a `StepTrainer`'s state: every model (keys `modelName.…`) and every optimizer
    /// (keys `optimizerName.…`), epoch, RNG and metric history.
    public init(stepTrainer trainer: StepTrainer, metadata: [String: String] = [:]) {
        let s = trainer.generator.state
        header = Header(epoch: trainer.epoch, rng: [s.0, s.1, s.2, s.3].map { String($0) },
                        history: [], metadata: metadata, metrics: trainer.history)
        modelState = trainer.modelsState()
        optimizerState = trainer.optimizersState()
    }

    /// Puts the saved state back into a `StepTrainer` built with the same named models and
    /// optimizers, so that training continues exactly as if it had not stopped.
    public func restore(into trainer: StepTrainer) throws {
        guard let metrics = header.metrics else {
            throw MyelinError.stateDict("the checkpoint was written by a classifier Trainer, not a StepTrainer")
        }
        let words = header.rng.compactMap { UInt64($0) }
        guard words.count == 4 else { throw MyelinError.stateDict("checkpoint RNG state is malformed") }
        try trainer.loadModelsState(modelState)
        try trainer.loadOptimizersState(optimizerState)
        trainer.generator.state = (words[0], words[1], words[2], words[3])
        trainer.restoreProgress(epoch: header.epoch, history: metrics)
    }

    /// Puts the saved state back into `trainer` (its model and optimizer must have the
    /// same architecture and optimizer type).
    public func restore(into trainer: Trainer) throws {
        try trainer.model.loadStateDict(modelState)
        try trainer.optimizer.loadStateDict(optimizerState)
        let words = header.rng.compactMap { UInt64($0) }
        guard words.count == 4 else { throw MyelinError.stateDict("checkpoint RNG state is malformed") }
        trainer.generator.state = (words[0], words[1], words[2], words[3])
        trainer.restoreProgress(epoch: header.epoch, history: header.history)
    }

    public func encode() throws -> [UInt8] {
        var w = ByteWriter()
        w.bytes(Self.magic)
        w.u32(Self.version)
        // Sorted keys: the metadata dictionary would otherwise come out in hash order, which
        // changes from process to process, and the same checkpoint would not give the same bytes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(header)
        w.u32(UInt32(json.count))
        w.bytes([UInt8](json))
        for state in [modelState, optimizerState] {
            let bytes = StateDictFile.encode(state)
            w.u64(UInt64(bytes.count))
            w.bytes(bytes)
        }
        w.u32(crc32(w.buffer))
        return w.buffer
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> Checkpoint {
        func fail(_ p: String) -> MyelinError { .file(path: path, problem: p) }
        var r = try ByteReader.checkedContainer(bytes, magic: magic, version: version, minimumSize: 12,
                                                kind: "checkpoint", path: path)
        let jsonLength = Int(try r.u32())
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(try r.bytes(jsonLength))) } catch let e as MyelinError {
            throw e
        } catch { throw fail("checkpoint header is not valid: \(error)") }
        var states: [StateDict] = []
        for _ in 0..<2 {
            let n = try r.u64()
            guard n <= UInt64(r.remaining) else { throw fail("truncated: a state section claims \(n) bytes, \(r.remaining) left") }
            states.append(try StateDictFile.decode(try r.bytes(Int(n)), path: path))
        }
        guard r.offset == r.end else { throw fail("\(r.end - r.offset) unexpected trailing bytes") }
        return Checkpoint(header: header, modelState: states[0], optimizerState: states[1])
    }

    init(header: Header, modelState: StateDict, optimizerState: StateDict) {
        self.header = header
        self.modelState = modelState
        self.optimizerState = optimizerState
    }

    /// Writes atomically (temporary file, fsync, rename).
    public func save(to path: String) throws { try AtomicFile.write(try encode(), to: path) }

    /// Whether the file at `path` starts with the checkpoint magic (so tools can say what it is).
    public static func hasMagic(atPath path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        // The throwing read: a directory or device must not stop the program.
        guard let head = try? h.read(upToCount: magic.count) else { return false }
        return Array(head) == magic
    }

    public static func load(from path: String) throws -> Checkpoint { try decode(AtomicFile.read(path), path: path) }
}
