import Foundation

/// A throwaway PostgreSQL cluster for the tests and the benchmarks: `initdb` into a temporary directory, `pg_ctl
/// start` on a free loopback port (no Unix socket outside the directory), stopped and removed
/// when the value is released. As root, the server runs as the `postgres` user (PostgreSQL
/// refuses root); otherwise as the user running the tests.
public final class PostgresCluster {
    public let directory: String
    public let port: Int
    /// The URL of its `postgres` database, as the superuser `exchange`.
    public var url: String { "postgres://exchange@127.0.0.1:\(port)/postgres" }

    /// Debian installs the server's programs here, not on the PATH.
    public static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root))?
            .compactMap(Int.init).sorted() ?? []
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    public static var isInstalled: Bool { binaries != nil }

    public enum Failure: Error, CustomStringConvertible {
        case failed(String)
        public var description: String { if case let .failed(s) = self { return s } else { return "" } }
    }

    public init() throws {
        guard let bin = Self.binaries else { throw Failure.failed("PostgreSQL is not installed (Debian: postgresql)") }
        var template = Array("/tmp/exchange-pg-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        directory = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        port = try Self.freePort()
        let data = directory + "/data"
        let asUser = geteuid() == 0 ? "runuser -u postgres -- " : ""
        if geteuid() == 0 { _ = try Self.system("chown postgres \(directory)") }
        try Self.check(Self.system("\(asUser)\(bin)/initdb -D \(data) -U exchange -A trust --no-sync -E UTF8 > \(directory)/initdb.log 2>&1"),
                       "initdb", log: directory + "/initdb.log")
        let options = "-c listen_addresses=127.0.0.1 -c port=\(port) -c unix_socket_directories=\(directory) -c fsync=off"
        try Self.check(Self.system("\(asUser)\(bin)/pg_ctl -D \(data) -l \(directory)/server.log -o '\(options)' -w -t 60 start > /dev/null 2>&1"),
                       "pg_ctl start", log: directory + "/server.log")
    }

    /// A new empty database of the cluster (its URL).
    public func createDatabase(_ name: String) throws -> String {
        guard let bin = Self.binaries else { throw Failure.failed("no PostgreSQL") }
        try Self.check(Self.system("\(bin)/createdb -h 127.0.0.1 -p \(port) -U exchange \(name)"), "createdb", log: nil)
        return "postgres://exchange@127.0.0.1:\(port)/\(name)"
    }

    deinit {
        if let bin = Self.binaries {
            let asUser = geteuid() == 0 ? "runuser -u postgres -- " : ""
            _ = try? Self.system("\(asUser)\(bin)/pg_ctl -D \(directory)/data -m immediate -w stop > /dev/null 2>&1")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a shell command and waits for it with waitpid (Foundation's Process, used for the
    /// other commands of the tests, was seen never to return from `waitUntilExit` after
    /// `runuser … pg_ctl start`, its child long gone).
    public static func system(_ command: String) throws -> Int32 {
        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", command]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
        guard spawned == 0 else { throw Failure.failed("posix_spawn: \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure.failed("waitpid: \(errno)") }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    private static func check(_ status: Int32, _ what: String, log: String?) throws {
        guard status == 0 else {
            let text = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
            throw Failure.failed("\(what) failed (\(status)): \(text.suffix(2_000))")
        }
    }

    /// A loopback port nothing listens on now (the kernel's choice for port 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.failed("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw Failure.failed("bind: \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
