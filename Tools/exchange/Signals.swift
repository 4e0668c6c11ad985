import ArgumentParser
import Codec
import Foundation
import Journal
import Node
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Signals

/// Set by the signal handlers: bit 0 stop (SIGINT, SIGTERM), bit 1 snapshot (SIGUSR1).
let signalFlags = Atomic<Int>(0)

/// Installs the handlers, without SA_RESTART so that a blocking read returns EINTR.
func installSignalHandlers() {
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
    handle(SIGINT) { _ in signalFlags.bitwiseOr(1, ordering: .relaxed) }
    handle(SIGTERM) { _ in signalFlags.bitwiseOr(1, ordering: .relaxed) }
    handle(SIGUSR1) { _ in signalFlags.bitwiseOr(2, ordering: .relaxed) }
    signal(SIGPIPE, SIG_IGN)
}

/// Writes all of `bytes` to a file descriptor; false when it is closed.
