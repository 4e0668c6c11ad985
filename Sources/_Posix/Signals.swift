#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The signals a long-running process answers, as flags its loops poll: SIGINT and SIGTERM ask
/// it to stop, SIGUSR1 for a snapshot. SIGPIPE is ignored (a closed pipe is an error to
/// handle, not a death).
public enum ProcessSignals {
    /// Bit 0: stop asked; bit 1: a snapshot asked. Set by the handlers.
    private static let flags = Atomic<Int>(0)

    /// Installs the handlers, without SA_RESTART so that a blocking read returns EINTR.
    public static func install() {
        func handle(_ signal: Int32, _ handler: @convention(c) (Int32) -> Void) {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
        // A parent may have started us with these blocked (the mask is inherited); threads
        // created after this inherit the unblocked mask.
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGUSR1] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        handle(SIGINT) { _ in ProcessSignals.flags.bitwiseOr(1, ordering: .relaxed) }
        handle(SIGTERM) { _ in ProcessSignals.flags.bitwiseOr(1, ordering: .relaxed) }
        handle(SIGUSR1) { _ in ProcessSignals.flags.bitwiseOr(2, ordering: .relaxed) }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Whether a stop was asked.
    public static var stopRequested: Bool { flags.load(ordering: .relaxed) & 1 != 0 }

    /// Whether a snapshot was asked since the last call (the request is taken).
    public static func takeSnapshotRequest() -> Bool {
        flags.bitwiseAnd(~2, ordering: .relaxed).oldValue & 2 != 0
    }
}
