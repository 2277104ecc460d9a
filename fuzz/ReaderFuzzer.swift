// libFuzzer harnesses for the training library's file readers, built by fuzz/build.sh with
// `swiftc -parse-as-library -sanitize=fuzzer,address` against the library compiled with the
// same sanitizers (debug: every Swift check on, so a trap is a finding):
//
//   -D FUZZ_CHECKPOINT  checkpoints (Checkpoint.decode: JSON header and two state files)
//                       and .mst state files (StateDictFile.decode); a state file that
//                       decodes must encode back to the same bytes
//   -D FUZZ_IDX         IDX arrays, plain or gzip (IDX.gunzip, IDX.parse); an array that
//                       parses holds exactly the bytes its shape declares
//
// Any input may be refused with an error; none may trap, leak, or touch memory it does not own.
@testable import Myelin

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
#if FUZZ_CHECKPOINT
    if bytes.starts(with: Array("MYCK".utf8)) {
        if let c = try? Checkpoint.decode(bytes, path: "fuzz") {
            precondition(c.header.epoch == c.header.epoch)
            _ = try? c.encode()
        }
    } else if let state = try? StateDictFile.decode(bytes, path: "fuzz") {
        precondition(StateDictFile.encode(state) == bytes, "a state file that decodes encodes back differently")
    }
#elseif FUZZ_IDX
    let plain = bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B ? try? IDX.gunzip(bytes, path: "fuzz") : bytes
    if let p = plain, let array = try? IDX.parse(p, path: "fuzz") {
        precondition(array.bytes.count == array.shape.reduce(1, *), "IDX data does not match its shape")
        precondition(array.bytes.count + 4 + 4 * array.shape.count == p.count)
    }
#else
#error("build with -D FUZZ_CHECKPOINT or -D FUZZ_IDX")
#endif
    return 0
}
