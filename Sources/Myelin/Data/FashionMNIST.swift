import Foundation

/// Fashion-MNIST (Xiao et al. 2017): 28×28 grey images of 10 clothing classes, 60 000 for
/// training and 10 000 for testing. Debian's package `dataset-fashion-mnist` installs the
/// gzip IDX files at `defaultDirectory`; any folder with the four standard file names
/// works (so the original MNIST files load too).
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    static let files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]

    /// Loads both splits with pixels scaled to [0, 1]. Shapes: inputs `[n, 784]`.
    /// - Throws: `MyelinError.file` naming the file and the problem; a missing folder says how to install it.
    public static func load(directory: String = defaultDirectory, classNames: [String] = classNames) throws -> (train: Dataset, test: Dataset) {
        func locate(_ base: String) throws -> String {
            for candidate in ["\(directory)/\(base).gz", "\(directory)/\(base)"] where FileManager.default.fileExists(atPath: candidate) { return candidate }
            throw MyelinError.file(path: "\(directory)/\(base).gz",
                                   problem: "no such file; install the dataset with `sudo apt-get install dataset-fashion-mnist` or pass --data DIR")
        }
        let paths = try files.map(locate)
        let train = try pair(images: paths[0], labels: paths[1], classNames: classNames)
        let test = try pair(images: paths[2], labels: paths[3], classNames: classNames)
        guard train.featureCount == test.featureCount else {
            throw MyelinError.file(path: paths[2], problem: "images are \(test.featureCount) pixels but training images are \(train.featureCount)")
        }
        return (train, test)
    }

    /// Reads one images/labels pair and checks they agree.
    public static func pair(images: String, labels: String, classNames: [String] = classNames) throws -> Dataset {
        let img = try IDX.read(images), lab = try IDX.read(labels)
        guard img.shape.count == 3 else { throw MyelinError.file(path: images, problem: "expected 3 dimensions (count, rows, cols), found \(img.shape)") }
        guard lab.shape.count == 1 else { throw MyelinError.file(path: labels, problem: "expected 1 dimension (count), found \(lab.shape)") }
        guard img.shape[0] == lab.shape[0] else {
            throw MyelinError.file(path: labels, problem: "\(lab.shape[0]) labels but \(images) has \(img.shape[0]) images")
        }
        let features = img.shape[1] * img.shape[2]
        let scale: Float = 1 / 255
        let pixels = img.bytes.map { Float($0) * scale }
        let ys = lab.bytes.map { Int($0) }
        let classes = Swift.max(classNames.count, (ys.max() ?? 0) + 1)
        if let bad = ys.first(where: { $0 >= classNames.count }), classNames.count > 0 {
            throw MyelinError.file(path: labels, problem: "label \(bad) outside the \(classNames.count) known classes")
        }
        return Dataset(inputs: Tensor(shape: [img.shape[0], features], data: pixels), labels: ys,
                       classNames: Array(classNames.prefix(classes)))
    }
}
