import Foundation

/// A throwaway single-member etcd (Debian: etcd-server) for the tests: its data in a temporary
/// directory, client and peer URLs on free loopback ports; killed and removed when released.
public final class EtcdServer {
    public let directory: String
    public let clientPort: Int
    public var url: String { "http://127.0.0.1:\(clientPort)" }
    private let process = Process()

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") }

    public init() throws {
        guard Self.isInstalled else { throw PostgresCluster.Failure.failed("etcd is not installed (Debian: etcd-server)") }
        var template = Array("/tmp/exchange-etcd-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        directory = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        clientPort = try PostgresCluster.freePort()
        let peerPort = try PostgresCluster.freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        process.arguments = ["--name", "test", "--data-dir", directory + "/data",
                             "--listen-client-urls", "http://127.0.0.1:\(clientPort)",
                             "--advertise-client-urls", "http://127.0.0.1:\(clientPort)",
                             "--listen-peer-urls", "http://127.0.0.1:\(peerPort)",
                             "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
                             "--initial-cluster", "test=http://127.0.0.1:\(peerPort)"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = directory + "/etcd.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        // Ready once it answers a read (a liveness bound, not a measurement).
        let deadline = Date().addingTimeInterval(30)
        while true {
            let status = try PostgresCluster.system(
                "python3 -c 'import urllib.request; urllib.request.urlopen(\"\(url)/v3/kv/range\", b\"{\\\"key\\\":\\\"eA==\\\"}\", 1)' > /dev/null 2>&1")
            if status == 0 { break }
            guard Date() < deadline, process.isRunning else {
                throw PostgresCluster.Failure.failed("etcd did not start: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
            }
            usleep(50_000)
        }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
