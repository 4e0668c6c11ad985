import _Posix

/// Writes batches on a thread of its own, in order, while the projector derives the next ones:
/// deriving rows and writing them (SQLite's inserts, or PostgreSQL's server across a socket)
/// overlap. At most `depth` batches wait; a full queue holds the projector back. The first
/// failure stops the writer; the next call on the pipeline throws it, and nothing after the
/// failed batch is written.
final class BatchPipeline: @unchecked Sendable {
    private let store: any ReadModelStore
    private let depth: Int
    private let monitor = Monitor()
    private var queue: [ProjectionBatch] = []
    private var writing = false
    private var closing = false
    private var failure: ReadModelError?
    /// The checkpoint of the last batch written, and the rows written so far.
    private var written: (checkpoint: ProjectionCheckpoint?, rows: Int, batches: Int) = (nil, 0, 0)
    private var thread: WorkerThread?

    init(store: any ReadModelStore, depth: Int = 2) {
        precondition(depth >= 1, "a pipeline holds at least one batch")
        self.store = store
        self.depth = depth
        thread = WorkerThread { [self] in loop() }
    }

    private func loop() {
        while true {
            let batch: ProjectionBatch? = monitor.locked {
                while queue.isEmpty && !closing { monitor.wait() }
                guard !queue.isEmpty, failure == nil else { return nil }
                writing = true
                return queue.removeFirst()
            }
            guard let batch else { return }
            let checkpoint = batch.checkpoint
            let rows = batch.rowCount
            var error: ReadModelError?
            do { try store.write(batch) } catch let e { error = e }
            monitor.locked {
                writing = false
                if let error {
                    failure = error
                    queue.removeAll()
                } else {
                    written = (checkpoint, written.rows + rows, written.batches + 1)
                }
                monitor.broadcast()
            }
        }
    }

    /// Queues a batch, waiting while `depth` batches wait already.
    func submit(_ batch: ProjectionBatch) throws(ReadModelError) {
        monitor.lock()
        defer { monitor.unlock() }
        while queue.count >= depth && failure == nil { monitor.wait() }
        if let failure { throw failure }
        queue.append(batch)
        monitor.broadcast()
    }

    /// Waits until every queued batch is written.
    func drain() throws(ReadModelError) {
        monitor.lock()
        defer { monitor.unlock() }
        while (!queue.isEmpty || writing) && failure == nil { monitor.wait() }
        if let failure { throw failure }
    }

    /// What has been written so far.
    var progress: (checkpoint: ProjectionCheckpoint?, rows: Int, batches: Int) { monitor.locked { written } }

    /// Stops the writer after what is queued (or at once, after a failure).
    func close() {
        monitor.locked {
            closing = true
            monitor.broadcast()
        }
        thread?.join()
    }

    deinit { close() }
}
