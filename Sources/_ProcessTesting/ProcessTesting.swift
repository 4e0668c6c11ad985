import Foundation

// Running programs from the test suites (the `exchange` CLI, /bin/sh), shared by the test
// targets that do it.

/// The `exchange` executable built beside the test bundle.
public var exchangeExecutable: String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("exchange").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return bundle.appendingPathComponent("exchange").path
}

/// Runs a program to completion, `stdin` as its standard input (none: an empty one), and
/// returns its exit status and outputs.
@discardableResult
public func run(_ executable: String, _ arguments: [String], stdin: String? = nil) throws
    -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    if let stdin {
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    } else {
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }
    // Read both pipes to the end on two threads (a full stderr pipe must not block stdout).
    let stderr = readToEnd(inBackground: err.fileHandleForReading)
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderrData = stderr()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderrData, as: UTF8.self))
}

/// Starts reading `handle` to its end on a thread of its own; the function returned waits for
/// the end and gives what was read.
public func readToEnd(inBackground handle: FileHandle) -> () -> Data {
    nonisolated(unsafe) var data = Data()
    let done = DispatchSemaphore(value: 0)
    Thread {
        data = handle.readDataToEndOfFile()
        done.signal()
    }.start()
    return {
        done.wait()
        return data
    }
}

/// The last line of a CLI's output, parsed as a JSON object (empty when it is none).
public func lastJSON(_ output: String) -> [String: Any] {
    let line = output.split(separator: "\n").last.map(String.init) ?? ""
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
}

/// Runs the `exchange` CLI to completion: (status, stdout, stderr).
@discardableResult
public func exchange(_ arguments: [String], stdin: String? = nil) throws
    -> (status: Int32, stdout: String, stderr: String) {
    try run(exchangeExecutable, arguments, stdin: stdin)
}

/// Runs a shell command (mount, umount) to completion; its exit status.
@discardableResult
public func shell(_ command: String) throws -> Int32 { try run("/bin/sh", ["-c", command]).status }

/// A fresh directory under /tmp (`/tmp/exchange-test-LABEL-XXXXXX`), removed with everything
/// in it when the value is released.
public final class Scratch {
    public let path: String

    public init(_ label: String) {
        var template = Array("/tmp/exchange-test-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
