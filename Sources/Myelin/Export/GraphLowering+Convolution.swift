// Lowering of the convolutional family (conv, pooling, upsampling, channel shuffle) to the
// ops of MyelinShared/Ops/Conv.swift and Ops/Pool.swift. Values stay NCHW (per sample
// [C, H, W]), the training layout, so lowering moves no data.

extension Lowering {
    /// Lowers `n` if it is a convolutional-family op; false if it is not one.
    mutating func lowerConvolutionFamily(_ n: TracedGraph.Node, _ y: Int) throws -> Bool {
        switch n.op {
        case "conv2d", "conv_transpose2d":
            let x = try operand(n, 0)
            let (w, b) = try convTensors(n, shape: nil)
            var attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = [
                (.stride, .ints(try list("stride", count: 2))), (.padding, .ints(try list("padding", count: 4))),
            ]
            if n.op == "conv_transpose2d" { attributes.append((.outputPadding, .ints(try list("output_padding", count: 2)))) }
            attributes += [(.dilation, .ints(try list("dilation", count: 2))), (.groups, .int(Int64(try int("groups"))))]
            attributes += fusedActivation(n)
            emit(n.op == "conv2d" ? .conv2d : .convTranspose2d, [x], [y], tensors: [w] + b, attributes)
        case "conv1d":
            // [C, L] → [C, 1, L], a conv2d with a 1 × k kernel, → [O, Lout]; the reshapes alias.
            let x = try operand(n, 0)
            let xShape = bundle.values[x].shape, yShape = bundle.values[y].shape
            let x2 = scratchValue(bundle.values[y].name + ".input2d", shape: [xShape[0], 1, xShape[1]])
            let y2 = scratchValue(bundle.values[y].name + ".output2d", shape: [yShape[0], 1, yShape[1]])
            guard case .constant(let wID)? = n.inputs.dropFirst().first else { throw fail("its weight is computed, not a parameter") }
            let weightShape = graph.constants[wID].tensor.shape
            let (w, b) = try convTensors(n, shape: [weightShape[0], weightShape[1], 1, weightShape[2]])
            let stride = try list("stride", count: 1), padding = try list("padding", count: 2), dilation = try list("dilation", count: 1)
            emit(.reshape, [x], [x2], [(.shape, .ints(bundle.values[x2].shape.map { Int64($0) }))])
            emit(.conv2d, [x2], [y2], tensors: [w] + b,
                 [(.stride, .ints([1] + stride)), (.padding, .ints([0, padding[0], 0, padding[1]])), (.dilation, .ints([1] + dilation)),
                  (.groups, .int(Int64(try int("groups"))))] + fusedActivation(n))
            emit(.reshape, [y2], [y], [(.shape, .ints(yShape.map { Int64($0) }))])
        case "max_pool2d":
            // One op writes the values and, when the model also took them, the indices.
            let x = try operand(n, 0)
            var outputs = [y]
            if let indices = graph.nodes.first(where: { $0.op == "max_pool2d_indices" && $0.inputs == n.inputs && $0.attributes == n.attributes }) {
                let i = try value(indices.output)
                bundle.values[i].dtype = BundleDType.i32.rawValue
                outputs.append(i)
            }
            emit(.maxPool2d, [x], outputs, try poolWindow(dilation: true))
        case "max_pool2d_indices":
            guard !bundle.ops.contains(where: { $0.outputs.contains(y) }) else { return true }
            // Only the indices are used: the values go to a value nothing reads.
            bundle.values[y].dtype = BundleDType.i32.rawValue
            let values = scratchValue(bundle.values[y].name + ".values", shape: bundle.values[y].shape)
            emit(.maxPool2d, [try operand(n, 0)], [values, y], try poolWindow(dilation: true))
        case "avg_pool2d":
            guard try list("dilation", count: 2) == [1, 1] else { throw fail("a dilated average pooling") }
            emit(.avgPool2d, [try operand(n, 0)], [y],
                 try poolWindow(dilation: false) + [(.countIncludePad, .int(Int64(try int("count_include_pad"))))])
        case "adaptive_avg_pool2d":
            emit(.adaptiveAvgPool2d, [try operand(n, 0)], [y], [(.outputSize, .ints(try list("output_size", count: 2)))])
        case "max_unpool2d":
            let x = try operand(n, 0), indices = try operand(n, 1)
            guard bundle.values[indices].dtype == BundleDType.i32.rawValue else { throw fail("its indices do not come from max_pool2d's indices") }
            emit(.maxUnpool2d, [x, indices], [y], [(.outputSize, .ints(try list("output_size", count: 2)))])
        case "upsample_nearest2d":
            emit(.upsampleNearest2d, [try operand(n, 0)], [y], [(.scale, .ints(try list("scale", count: 2)))])
        case "channel_shuffle":
            emit(.channelShuffle, [try operand(n, 0)], [y], [(.groups, .int(Int64(try int("groups"))))])
        default:
            return false
        }
        return true
    }

    /// Bundle id of operand `k`, which must be computed from the inputs.
    mutating func operand(_ n: TracedGraph.Node, _ k: Int) throws -> Int {
        guard k < n.inputs.count, case .value(let v) = n.inputs[k] else { throw fail("operand \(k) is not computed from the inputs") }
        return try value(v)
    }

    /// The weight (in the export's weight type, reshaped to `shape` if given) and optional bias
    /// tensors of a convolution node.
    mutating func convTensors(_ n: TracedGraph.Node, shape: [Int]?) throws -> (Int, [Int]) {
        guard n.inputs.count >= 2, case .constant(let w) = n.inputs[1] else { throw fail("its weight is computed, not a parameter") }
        let weight: Int
        if let shape = shape {
            let t = graph.constants[w]
            weight = tensor(t.name + "[2d]" + (weightType == .f16 ? "#f16" : ""), t.tensor.data, shape: shape, dtype: weightType)
        } else {
            weight = constantTensor(w, dtype: weightType)
        }
        guard n.inputs.count > 2 else { return (weight, []) }
        guard case .constant(let b) = n.inputs[2] else { throw fail("its bias is computed, not a parameter") }
        return (weight, [constantTensor(b)])
    }

    func fusedActivation(_ n: TracedGraph.Node) -> [(BundleAttribute, ModelBundle.AttributeValue)] {
        n.attributes["activation"] == .int(1) ? [(.activation, .int(BundleActivation.relu.rawValue))] : []
    }

    /// An int list attribute of `count` entries.
    func list(_ key: String, count: Int) throws -> [Int64] {
        let v = try ints(key)
        guard v.count == count else { throw fail("attribute \"\(key)\" \(v) should have \(count) entries") }
        return v.map { Int64($0) }
    }

    /// kernel, stride, padding (and dilation) of a pooling node.
    func poolWindow(dilation: Bool) throws -> [(BundleAttribute, ModelBundle.AttributeValue)] {
        var a: [(BundleAttribute, ModelBundle.AttributeValue)] = [
            (.kernel, .ints(try list("kernel", count: 2))), (.stride, .ints(try list("stride", count: 2))),
            (.padding, .ints(try list("padding", count: 4))),
        ]
        if dilation { a.append((.dilation, .ints(try list("dilation", count: 2)))) }
        return a
    }
}
