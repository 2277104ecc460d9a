import Foundation

/// Character-level text for language models: a vocabulary of Unicode scalars, the text as
/// token ids, and a fixed train/validation split by document (every `validationEvery`-th
/// document, counted in order, goes to validation — no randomness, so every run and every
/// model sees the same split).
///
/// Documents are joined in order, each followed by `separator`, so a model also learns where
/// one ends. Batches come two ways: random windows for training, and contiguous parallel
/// streams (`streams`) for truncated backpropagation through time and for evaluating the
/// whole validation text.
///
/// ```swift
/// let text = try TextDataset.fortunes()                // Debian's `fortunes` package
/// let (x, y) = text.randomWindows(.train, batchSize: 32, length: 64, generator: Generator(seed: 1))
/// // x, y: [32, 64] token ids as floats; y is x shifted one character to the left
/// print(text.decode(x.data[0..<64].map { Int($0) }))
/// ```
public struct TextDataset {
    /// Which part of the text.
    public enum Split { case train, validation }

    /// Token id → character; ids are indices into this sorted list.
    public let vocabulary: [Unicode.Scalar]
    /// The training text as token ids.
    public let train: [Int]
    /// The validation text as token ids.
    public let validation: [Int]
    let index: [Unicode.Scalar: Int]

    /// Splits `documents` (every `validationEvery`-th one, the 10th, 20th, …, is validation)
    /// and builds the vocabulary from all of them.
    public init(documents: [String], validationEvery: Int = 10, separator: String = "%\n") {
        check(validationEvery >= 2, "TextDataset: validationEvery must be at least 2, got \(validationEvery)")
        var trainText = "", validationText = ""
        for (i, d) in documents.enumerated() {
            if (i + 1) % validationEvery == 0 { validationText += d + separator } else { trainText += d + separator }
        }
        let scalars = Set(trainText.unicodeScalars).union(validationText.unicodeScalars)
        vocabulary = scalars.sorted { $0.value < $1.value }
        var index: [Unicode.Scalar: Int] = [:]
        for (i, s) in vocabulary.enumerated() { index[s] = i }
        self.index = index
        train = trainText.unicodeScalars.map { index[$0]! }
        validation = validationText.unicodeScalars.map { index[$0]! }
    }

    /// Debian's `fortunes` package (`apt-get install fortunes`): every plain-text file in
    /// `directory` (the `.dat` and `.u8` index files skipped), in name order, split into
    /// fortunes at the lines holding only `%`. Invalid UTF-8 is replaced, not rejected.
    /// - Throws: `MyelinError.file` when the folder is missing or has no fortunes.
    public static func fortunes(directory: String = "/usr/share/games/fortunes", validationEvery: Int = 10) throws -> TextDataset {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw MyelinError.file(path: directory, problem: "no such folder; install the text with `sudo apt-get install fortunes`")
        }
        var documents: [String] = []
        for name in names.sorted() where !name.hasSuffix(".dat") && !name.hasSuffix(".u8") {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw MyelinError.file(path: path, problem: "cannot read the file")
            }
            let text = String(decoding: data, as: UTF8.self)
            var current = ""
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }   // the newline that ends the file
            for line in lines {
                if line == "%" {
                    if !current.isEmpty { documents.append(current) }
                    current = ""
                } else {
                    current += line + "\n"
                }
            }
            if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { documents.append(current) }
        }
        guard !documents.isEmpty else { throw MyelinError.file(path: directory, problem: "no fortunes found") }
        return TextDataset(documents: documents, validationEvery: validationEvery)
    }

    /// Number of distinct characters.
    public var vocabularySize: Int { vocabulary.count }

    /// Token ids of `text`; characters outside the vocabulary are dropped.
    public func encode(_ text: String) -> [Int] { text.unicodeScalars.compactMap { index[$0] } }

    /// The text of token ids.
    public func decode(_ ids: [Int]) -> String {
        var s = String.UnicodeScalarView()
        for i in ids { s.append(vocabulary[i]) }
        return String(s)
    }

    func tokens(_ split: Split) -> [Int] { split == .train ? train : validation }

    /// `batchSize` windows of `length` characters from random places in `split`: inputs
    /// `[batchSize, length]` and targets `[batchSize, length]` (the next character of each),
    /// ids as whole-number floats.
    public func randomWindows(_ split: Split, batchSize: Int, length: Int, generator: Generator) -> (inputs: Tensor, targets: Tensor) {
        let t = tokens(split)
        check(batchSize > 0 && length > 0 && t.count > length + 1,
              "randomWindows: need batchSize, length > 0 and a text longer than \(length + 1), got \(batchSize), \(length), \(t.count)")
        var x = [Float](), y = [Float]()
        x.reserveCapacity(batchSize * length); y.reserveCapacity(batchSize * length)
        for _ in 0..<batchSize {
            let start = generator.nextInt(below: t.count - length - 1)
            for j in 0..<length { x.append(Float(t[start + j])); y.append(Float(t[start + j + 1])) }
        }
        return (Tensor(shape: [batchSize, length], data: x), Tensor(shape: [batchSize, length], data: y))
    }

    /// `split` cut into `batchSize` contiguous streams read side by side, `length` steps at a
    /// time: chunk k holds characters `[k·length, (k+1)·length)` of every stream, so a
    /// recurrent model carries its (detached) state from one chunk to the next — truncated
    /// backpropagation through time. The last chunk may be shorter; the tail that does not
    /// fill all streams is dropped. Shapes: inputs and targets `[batchSize, ≤ length]`.
    ///
    /// ```swift
    /// var state: LSTM.State? = nil
    /// for (x, y) in text.streams(.validation, batchSize: 16, length: 128) {
    ///     let (out, next) = lstm(embed(x), state)
    ///     state = (next.h.detach(), next.c.detach())
    /// }
    /// ```
    public func streams(_ split: Split, batchSize: Int, length: Int) -> [(inputs: Tensor, targets: Tensor)] {
        let t = tokens(split)
        check(batchSize > 0 && length > 0, "streams: batchSize and length must be positive, got \(batchSize), \(length)")
        let perStream = (t.count - 1) / batchSize
        check(perStream > 0, "streams: the text (\(t.count) characters) is too short for \(batchSize) streams")
        return stride(from: 0, to: perStream, by: length).map { start in
            let n = Swift.min(length, perStream - start)
            var x = [Float](), y = [Float]()
            for b in 0..<batchSize {
                let base = b * perStream + start
                for j in 0..<n { x.append(Float(t[base + j])); y.append(Float(t[base + j + 1])) }
            }
            return (Tensor(shape: [batchSize, n], data: x), Tensor(shape: [batchSize, n], data: y))
        }
    }
}
