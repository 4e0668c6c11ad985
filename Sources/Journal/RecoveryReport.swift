/// What opening a journal for writing found and did.
public struct RecoveryReport: Equatable, Sendable {
    /// Segments present when the journal was opened.
    public var segments: Int = 0
    /// The last sequence number kept (0 when the journal is empty).
    public var lastSequence: UInt64 = 0
    /// Blocks of the last segment that were checked.
    public var blocksChecked: Int = 0
    /// Where a torn tail was cut off, if there was one.
    public var tornSegment: String? = nil
    public var tornOffset: Int? = nil
    /// Bytes zeroed at the tail (0 when the journal ended cleanly).
    public var bytesDropped: Int = 0
    /// Records the torn block's header claimed, when that header was readable; those records
    /// were never durable, so never acknowledged.
    public var recordsDropped: Int = 0
    /// Records the durable mark said were synced that the journal no longer holds, cut off
    /// because the writer was opened accepting the loss (`JournalOptions.acceptDataLoss`).
    public var acknowledgedRecordsLost: UInt64 = 0
    /// Stale temporary files (from an interrupted segment creation) that were removed.
    public var temporaryFilesRemoved: Int = 0

    public init() {}

    public var droppedAnything: Bool { bytesDropped > 0 }
}
