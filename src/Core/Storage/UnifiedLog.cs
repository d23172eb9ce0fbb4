using System.Buffers;
using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Records.Compression;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>What an append did. Offsets are -1 when nothing was appended (an error, or no batches).</summary>
public readonly record struct AppendResult(
    ErrorCode Error, string? ErrorMessage, long BaseOffset, long LastOffset, long LogAppendTimeMs, long LogStartOffset,
    int RecordCount)
{
    public static AppendResult Failed(ErrorCode error, string? message, long logStartOffset)
        => new(error, message, -1, -1, -1, logStartOffset, 0);
}

/// <summary>Whole batches read from a log, with the offsets a fetch response reports next to them.</summary>
public readonly record struct LogReadResult(
    ErrorCode Error, ReadOnlyMemory<byte> Records, long HighWatermark, long LogStartOffset, long LogEndOffset);

/// <summary>Like <see cref="LogReadResult"/>, with the batches left in the segment (<see cref="RecordsSlice.Length"/>
/// is 0 when there are none): the fetch path copies them once, into its response.</summary>
public readonly record struct LogReadSlice(
    ErrorCode Error, RecordsSlice? Records, long HighWatermark, long LogStartOffset, long LogEndOffset)
{
    public int Length => Records?.Length ?? 0;
}

/// <summary>
/// The log of one partition: directory <c>topic-partition</c> holding <see cref="LogSegment"/>s in offset order,
/// the last one active. Appends go to the volatile cache; <see cref="MaybeStartSync"/> covers them with one
/// sync at a time (group commit) and <see cref="OnSyncCompleted"/> advances <see cref="FlushedOffset"/>.
/// Invariants: LogStartOffset &lt;= HighWatermark &lt;= LogEndOffset, FlushedOffset &lt;= LogEndOffset, segments
/// are in offset order without overlap (contiguous, except for gaps the cleaner left in compacted segments).
/// </summary>
public sealed partial class UnifiedLog : IDisposable
{
    public const string LogStartOffsetCheckpointFile = "log-start-offset.checkpoint";
    private const string TmpSuffix = ".tmp";
    /// <summary><c>BASE.closing</c>: an empty file that exists (durably, created before the next segment) while the
    /// rolled segment BASE's syncs are outstanding. Recovery treats such a segment ending before the next base as a
    /// lost tail, not a compaction gap, and drops every later segment.</summary>
    public const string ClosingSuffix = ".closing";
    private const int CheckpointVersion = 0;
    private const int CheckpointSize = 16;

    private readonly IDisk _disk;
    private readonly IBrokerLog _log;
    private readonly Func<long> _nextSyncToken;
    private readonly List<LogSegment> _segments = new();
    private readonly List<AppendedBatch> _layout = new();

    /// <summary>Where an append's batches are prepared; holds a pooled array only during <see cref="Append"/>.</summary>
    private readonly PooledBuffer _appendBuffer = new(0);

    /// <summary>Idempotent producers' sequences and recent batches (Kafka's ProducerStateManager).</summary>
    private readonly ProducerStateManager _producers;

    /// <summary>Producer snapshots kept on disk: the newest is enough, one more survives a crash while writing it.</summary>
    private const int SnapshotsKept = 2;
    private long? _syncToken;
    private long _syncCoversOffset;
    /// <summary>Base offset of the segment the active sync in flight was requested on.</summary>
    private long _syncSegmentBase;

    /// <summary>A rolled segment whose three files' syncs were requested and have not all completed. The flushed
    /// offset may not pass <see cref="EndOffset"/> before they have (STORAGE.md "Segment roll").</summary>
    private sealed class ClosingSegment(LogSegment segment, long endOffset)
    {
        public readonly LogSegment Segment = segment;
        public readonly long EndOffset = endOffset;
        public int Outstanding = 3;
        /// <summary>Made durable by a blocking sync (truncation, shutdown) or deleted (full truncation): nothing is
        /// needed from its requested syncs, whose completions are still expected and absorbed.</summary>
        public bool Settled;
        public bool Done => Outstanding == 0 || Settled;
    }

    /// <summary>Closing segments in offset order; at most one entry per rolled segment.</summary>
    private readonly List<ClosingSegment> _closing = new();
    /// <summary>Every closing-segment sync token not yet completed, with its entry (removed or not).</summary>
    private readonly Dictionary<long, ClosingSegment> _closingTokens = new();
    /// <summary>Producer snapshot syncs in flight, with the snapshot's offset (a failure only logs).</summary>
    private readonly Dictionary<long, long> _snapshotTokens = new();
    /// <summary>An active-segment sync that completed while a closing segment before its segment was still
    /// waiting: (segment base, offset covered), applied once every closing segment below that base is durable.</summary>
    private (long SegmentBase, long Offset)? _deferredCoverage;
    /// <summary>A closing marker was deleted since the last directory sync this log made at a roll.</summary>
    private bool _closingMarkersDeleted;
    private long? _lastSyncStartMs;
    private long _highWatermark;
    private long _localCommittable;

    private UnifiedLog(IDisk disk, string directory, TopicPartition topicPartition, LogConfig config,
        Func<long> nextSyncToken, IBrokerLog log)
    {
        _disk = disk;
        Directory = directory;
        TopicPartition = topicPartition;
        Config = config;
        _nextSyncToken = nextSyncToken;
        _log = log;
        _producers = new ProducerStateManager(config.TestOnlyIgnoreProducerSequences);
    }

    /// <summary>The partition's idempotent-producer state (tests and tools read it).</summary>
    public ProducerStateManager Producers => _producers;

    /// <summary>Open and aborted transactions (read_committed's last stable offset and aborted list).</summary>
    public PartitionTransactions Transactions { get; } = new();

    /// <summary>The last stable offset: the high watermark, or the first offset of a transaction not yet decided
    /// durably when that is lower (TRANSACTIONS.md).</summary>
    public long LastStableOffset => Transactions.LastStableOffset(HighWatermark);

    public TopicPartition TopicPartition { get; }
    public string Directory { get; }
    internal IDisk Disk => _disk;
    public LogConfig Config { get; private set; }
    public IReadOnlyList<LogSegment> Segments => _segments;
    public LogSegment ActiveSegment => _segments[^1];

    public long LogStartOffset { get; private set; }
    public long LogEndOffset => ActiveSegment.NextOffset;

    /// <summary>Every offset below this is durable: a crash cannot take it back.</summary>
    public long FlushedOffset { get; private set; }

    /// <summary>What consumers may read: the flushed offset (strict durability) or the log end offset (relaxed).
    /// Never goes backwards. Under the partition layer (<see cref="HighWatermarkFromPartition"/>) the partition
    /// decides it from its replica set and sets it here (Kafka's <c>updateHighWatermark</c>), where retention,
    /// DeleteRecords and the cleaner read it.</summary>
    public long HighWatermark => _highWatermark;

    /// <summary>How far this replica lets acknowledgements go: the flushed offset (strict durability) or the log
    /// end offset (relaxed). Never goes backwards. A partition's high watermark is at most this on every replica
    /// that counts.</summary>
    public long LocalCommittableOffset => _localCommittable;

    /// <summary>Set by <see cref="Partitions.Partition"/>: the high watermark then moves only through
    /// <see cref="AdvanceHighWatermark"/>. A log on its own (tools, tests) moves it to
    /// <see cref="LocalCommittableOffset"/> itself.</summary>
    internal bool HighWatermarkFromPartition { get; set; }

    /// <summary>The partition's high watermark moved (never backwards, never past the log end).</summary>
    internal void AdvanceHighWatermark(long offset)
    {
        Check.That(offset <= LogEndOffset, "the high watermark stays within the log");
        _highWatermark = Math.Max(_highWatermark, offset);
    }

    /// <summary><see cref="ErrorCode.KafkaStorageError"/> once a sync or write failed for good; the log then
    /// refuses appends (after a failed fsync the page cache can no longer be trusted to reach the disk).</summary>
    public ErrorCode Failure { get; private set; } = ErrorCode.None;

    /// <summary>A produce whose last offset this is may be answered: strict logs once it is durable, relaxed
    /// logs at once (their high watermark is the log end).</summary>
    public bool IsCommitted(long offset) => offset < HighWatermark;

    public bool SyncInFlight => _syncToken.HasValue;
    public long Size => _segments.Sum(s => (long)s.Size);

    /// <summary>
    /// Opens (creating if needed) the log in <paramref name="directory"/> and recovers it: segments in offset
    /// order, the last one (and any whose indexes do not check out) validated batch by batch, a torn or corrupt
    /// tail cut at the last good batch with every later segment dropped, indexes rebuilt. The result is synced
    /// before it is served, so <see cref="FlushedOffset"/> starts at <see cref="LogEndOffset"/>.
    /// </summary>
    public static UnifiedLog Open(IDisk disk, string directory, TopicPartition topicPartition, LogConfig config,
        Func<long> nextSyncToken, IBrokerLog log, long nowMs)
    {
        var result = new UnifiedLog(disk, directory, topicPartition, config, nextSyncToken, log);
        result.Recover(nowMs);
        return result;
    }

    private void Recover(long nowMs)
    {
        bool created = CreateIfMissing();
        // A cleaning interrupted by a crash: finish the swap when it was committed, else discard its output.
        LogCleaner.RecoverSwap(_disk, Directory, TopicPartition, _log);
        var bases = new List<long>();
        var closing = new List<long>();
        var names = _disk.List(Directory);
        foreach (var name in names)
        {
            if (LogSegment.TryParseFileName(name, LogSegment.LogSuffix, out long b)) bases.Add(b);
            else if (LogSegment.TryParseFileName(name, ClosingSuffix, out b)) closing.Add(b);
            else if (name.EndsWith(TmpSuffix, StringComparison.Ordinal)) _disk.DeleteFile(PathOf(name));
        }
        bases.Sort();
        foreach (var name in names)
        {
            // An index whose log is gone (a crash in the middle of deleting a segment) is garbage.
            bool orphan = (LogSegment.TryParseFileName(name, LogSegment.IndexSuffix, out long b)
                           || LogSegment.TryParseFileName(name, LogSegment.TimeIndexSuffix, out b))
                          && bases.BinarySearch(b) < 0;
            if (orphan) _disk.DeleteFile(PathOf(name));
        }

        var rebuilt = new List<LogSegment>();
        for (int i = 0; i < bases.Count; i++)
        {
            bool isLast = i == bases.Count - 1;
            var segment = LogSegment.Open(_disk, Directory, bases[i], Config, nowMs);
            long cut = 0;
            // A segment rolled without its syncs completing: its index files may describe bytes that never
            // became durable, so it is validated batch by batch.
            bool wasClosing = closing.Contains(bases[i]);
            bool clean = !isLast && !wasClosing && segment.TryOpenWithIndexes(bases[i + 1], _log);
            if (!clean)
            {
                // Closed segments may have been compacted (offset gaps); the active one never is, nor a closing
                // one (the cleaner stops below it).
                cut = segment.Recover(_log, allowOffsetGaps: !isLast && !wasClosing);
                rebuilt.Add(segment);
            }
            // A closed segment may end before the next base (the cleaner removed its last batches), so only
            // an overlap, or a gap after the segment that held the log end, shows lost or foreign data.
            if (_segments.Count > 0 && segment.BaseOffset < _segments[^1].NextOffset)
            {
                _log.Warn("Log {Log}: segment {Base} does not follow offset {Next}; dropping it and every later segment",
                    TopicPartition, segment.BaseOffset, _segments[^1].NextOffset);
                segment.Delete();
                DeleteSegmentFiles(bases, i + 1);
                // The previous segment is the active one now and needs the full state a clean open skips.
                _segments[^1].Recover(_log, allowOffsetGaps: true);
                rebuilt.Add(_segments[^1]);
                break;
            }
            _segments.Add(segment);
            if (!isLast && wasClosing && segment.NextOffset != bases[i + 1])
            {
                // Its tail was lost while later segments' writes survived: not a compaction gap (the cleaner never
                // touches a closing segment), so everything after it goes and the log ends where it ends.
                _log.Warn("Log {Log}: rolled segment {Base} ends at {End} before its sync completed, not at {Next}; dropping every later segment",
                    TopicPartition, segment.BaseOffset, segment.NextOffset, bases[i + 1]);
                DeleteSegmentFiles(bases, i + 1);
                break;
            }
            if (!isLast && cut > 0)
            {
                _log.Warn("Log {Log}: segment {Base} was cut; dropping every later segment", TopicPartition, segment.BaseOffset);
                DeleteSegmentFiles(bases, i + 1);
                break;
            }
        }

        long? checkpoint = ReadLogStartOffsetCheckpoint();
        if (_segments.Count == 0)
            _segments.Add(LogSegment.Open(_disk, Directory, Math.Max(0, checkpoint ?? 0), Config, nowMs));
        LogStartOffset = Math.Max(checkpoint ?? 0, _segments[0].BaseOffset);
        if (LogStartOffset > LogEndOffset)
        {
            // Only a relaxed log can lose acknowledged data; offsets already handed out must not be reused.
            _log.Warn("Log {Log}: log start offset {Start} is past the recovered end {End}; starting empty there",
                TopicPartition, LogStartOffset, LogEndOffset);
            foreach (var s in _segments) s.Delete();
            _segments.Clear();
            _segments.Add(LogSegment.Open(_disk, Directory, LogStartOffset, Config, nowMs));
        }
        DeleteSegmentsBelowLogStart();

        // What recovery rewrote (cut logs, rebuilt indexes) and whatever a crashed process left in the page
        // cache of the active segment becomes durable before anything is served.
        // A log just created holds three empty files: nothing to sync but their entries (the directory sync below).
        if (created) rebuilt.Clear();
        else if (!rebuilt.Contains(ActiveSegment)) rebuilt.Add(ActiveSegment);
        foreach (var segment in rebuilt)
        {
            if (!_segments.Contains(segment)) continue;
            var status = segment.SyncAll();
            if (status != DiskStatus.Ok) Fail(status, "syncing the recovered log");
        }
        // Every segment but the active one is closed: its index entries are read from the files from now on.
        for (int i = 0; i < _segments.Count - 1; i++) _segments[i].ReleaseIndexEntries();
        RecoverProducerState();
        RecoverLeaderEpochCache();
        // Every segment is synced now: no segment is closing any more.
        foreach (long b in closing) _disk.DeleteFile(PathOf(LogSegment.FileStem(b) + ClosingSuffix));
        // Deletes recovery made (temporary files, orphans, dropped segments, closing markers) become durable too,
        // and so do a new log's file entries.
        var dirStatus = _disk.SyncDirectory(Directory);
        if (dirStatus != DiskStatus.Ok) Fail(dirStatus, "syncing the log directory");
        FlushedOffset = LogEndOffset;
        _highWatermark = _localCommittable = LogEndOffset;
        CheckInvariants();
        _log.Info("Log {Log} opened: {Segments} segments, offsets [{Start}, {End})",
            TopicPartition, _segments.Count, LogStartOffset, LogEndOffset);
    }

    private void DeleteSegmentFiles(List<long> bases, int from)
    {
        for (int j = from; j < bases.Count; j++)
        {
            string stem = PathOf(LogSegment.FileStem(bases[j]));
            foreach (var suffix in new[] { LogSegment.LogSuffix, LogSegment.IndexSuffix, LogSegment.TimeIndexSuffix })
                if (_disk.FileExists(stem + suffix)) _disk.DeleteFile(stem + suffix);
        }
    }

    private string PathOf(string name) => LogSegment.PathOf(Directory, name);

    /// <summary>
    /// Validates a produce's records (every batch), assigns offsets from <see cref="LogEndOffset"/>, applies the
    /// topic's timestamp type, and writes them to the active segment (rolling first when due). Nothing is
    /// durable yet: a strict log acknowledges once <see cref="FlushedOffset"/> passes <c>LastOffset</c>.
    /// </summary>
    public AppendResult Append(ReadOnlyMemory<byte> records, long nowMs, int leaderEpoch = 0, bool fromCoordinator = false)
    {
        if (Failure != ErrorCode.None) return AppendResult.Failed(Failure, "log is offline after a storage failure", LogStartOffset);
        if (records.Length > Config.SegmentBytes)
            return AppendResult.Failed(ErrorCode.RecordListTooLarge,
                $"{records.Length} bytes of records exceed segment.bytes {Config.SegmentBytes}", LogStartOffset);
        if (records.Length == 0) return AppendResult.Failed(ErrorCode.None, null, LogStartOffset);

        // Recompression (compression.type other than producer) can change sizes; the buffer grows as needed.
        _appendBuffer.Rent(records.Length);
        try
        {
            var validation = LogValidator.ValidateAndAssignOffsets(records.Span, _appendBuffer,
                RecordValidationOptions.ForProduce(Config.MaxMessageBytes) with { RequireKeys = Config.Compacts, AllowControlBatches = fromCoordinator, TestOnlySkipCrc = Config.TestOnlySkipBatchCrc }, Config.TargetCodec, LogEndOffset, leaderEpoch,
                Config.MessageTimestampType, nowMs, _layout);
            if (!validation.IsValid)
                return AppendResult.Failed(validation.Error, validation.Message, LogStartOffset);
            Check.That(validation.ValidBytes == records.Length && _layout.Count > 0);
            var prepared = _appendBuffer.WrittenSpan;
            if (prepared.Length > Config.SegmentBytes)
                return AppendResult.Failed(ErrorCode.RecordListTooLarge,
                    $"{prepared.Length} bytes of records after recompression exceed segment.bytes {Config.SegmentBytes}", LogStartOffset);

            // Idempotent producers: a retry of a recent batch is answered with its offsets and not written again.
            long producerId = -1;
            short producerEpoch = -1;
            ProducerBatch idempotent = default;
            bool hasHeader = RecordBatchHeader.TryRead(prepared[_layout[0].Position..], out var first);
            // Transactions: a marker (only the coordinator writes them) from a stale coordinator is refused; a
            // transactional batch opens the producer's transaction here (TRANSACTIONS.md).
            bool marker = false, markerCommits = false;
            int markerEpoch = -1;
            if (hasHeader && first.IsControl)
            {
                if (_layout.Count != 1 || !ControlRecord.TryReadMarker(prepared[_layout[0].Position..], out markerCommits, out markerEpoch))
                    return AppendResult.Failed(ErrorCode.InvalidRecord, "a marker is one control batch holding a commit or abort record", LogStartOffset);
                var fenced = Transactions.CheckMarker(first.ProducerId, markerEpoch);
                if (fenced != ErrorCode.None)
                    return AppendResult.Failed(fenced, $"marker from coordinator epoch {markerEpoch} is stale", LogStartOffset);
                marker = true;
            }
            bool transactional = hasHeader && first.IsTransactional && !first.IsControl && first.ProducerId >= 0;
            if (transactional && !Transactions.CanOpen(first.ProducerId))
                return AppendResult.Failed(ErrorCode.InvalidTxnState, "too many open transactions in this partition", LogStartOffset);
            if (hasHeader && first.ProducerId >= 0 && !first.IsControl && !fromCoordinator)
            {
                if (_layout.Count != 1)
                    return AppendResult.Failed(ErrorCode.InvalidRecord,
                        "a produce from an idempotent producer carries exactly one batch per partition", LogStartOffset);
                int lastSequence = first.BaseSequence < 0 ? -1 : ProducerStateManager.LastSequenceOf(first.BaseSequence, first.LastOffsetDelta + 1);
                var check = _producers.Check(first.ProducerId, first.ProducerEpoch, first.BaseSequence, lastSequence);
                if (check.Error != ErrorCode.None) return AppendResult.Failed(check.Error, check.Message, LogStartOffset);
                if (check.Duplicate is { } original)
                {
                    _log.Debug("Log {Log}: producer {ProducerId} re-sent sequences {First}-{Last}; answering with offset {Offset}",
                        TopicPartition, first.ProducerId, first.BaseSequence, lastSequence, original.FirstOffset);
                    return new AppendResult(ErrorCode.None, null, original.FirstOffset, original.LastOffset,
                        Config.MessageTimestampType == TimestampType.LogAppendTime ? original.MaxTimestamp : -1, LogStartOffset,
                        validation.RecordCount);
                }
                producerId = first.ProducerId;
                producerEpoch = first.ProducerEpoch;
                idempotent = new ProducerBatch(first.BaseSequence, lastSequence, _layout[0].BaseOffset, _layout[0].LastOffset, _layout[0].MaxTimestamp);
            }

            long baseOffset = _layout[0].BaseOffset;
            long lastOffset = _layout[^1].LastOffset;
            long maxTimestamp = long.MinValue; // the layout is not empty (checked above)
            foreach (var b in _layout) maxTimestamp = Math.Max(maxTimestamp, b.MaxTimestamp);
            if (ActiveSegment.ShouldRoll(Config, prepared.Length, lastOffset, maxTimestamp, nowMs))
            {
                var rollError = Roll(nowMs);
                if (rollError != ErrorCode.None) return AppendResult.Failed(rollError, "roll failed", LogStartOffset);
            }
            AssignLeaderEpoch(leaderEpoch, baseOffset);
            var status = ActiveSegment.Append(prepared, _layout);
            if (status != DiskStatus.Ok)
            {
                if (status != DiskStatus.NoSpace) Fail(status, "appending");
                return AppendResult.Failed(ErrorCode.KafkaStorageError, $"write failed: {status}", LogStartOffset);
            }
            Check.That(LogEndOffset == lastOffset + 1);
            if (producerId >= 0) _producers.Update(producerId, producerEpoch, idempotent);
            if (transactional) Transactions.OnTransactionalData(first.ProducerId, baseOffset);
            if (marker)
            {
                Transactions.OnMarker(first.ProducerId, markerCommits, markerEpoch, lastOffset);
                _producers.OnMarker(first.ProducerId, first.ProducerEpoch, lastOffset, maxTimestamp);
            }
            UpdateHighWatermark();
            CheckInvariants();
            long appendTime = Config.MessageTimestampType == TimestampType.LogAppendTime ? nowMs : -1;
            return new AppendResult(ErrorCode.None, null, baseOffset, lastOffset, appendTime, LogStartOffset,
                validation.RecordCount);
        }
        finally
        {
            _appendBuffer.Dispose();
        }
    }

    /// <summary>
    /// Writes the producer state as of <paramref name="offset"/> (a segment boundary) to <c>OFFSET.snapshot</c> and
    /// requests its sync, so recovery replays only the batches after the newest snapshot instead of the whole log; keeps the
    /// newest <see cref="SnapshotsKept"/>. Producers idle past producer.id.expiration.ms are forgotten first. A
    /// snapshot that fails to write is only a slower recovery: it is logged and left.
    /// </summary>
    private void TakeProducerSnapshot(long offset, long nowMs)
    {
        _producers.RemoveExpired(nowMs - Config.ProducerIdExpirationMs);
        string path = PathOf(ProducerStateManager.SnapshotFileName(offset));
        if (_disk.FileExists(path)) _disk.DeleteFile(path);
        using (var file = _disk.Open(path, create: true))
        {
            var status = file.Write(0, _producers.SerializeSnapshot(offset));
            if (status != DiskStatus.Ok)
            {
                _log.Warn("Log {Log}: writing producer snapshot {Offset} failed ({Status}); recovery will replay more", TopicPartition, offset, status);
                return;
            }
            // Asynchronous (the roll does not wait for it): a snapshot that never becomes durable (crash, failed
            // sync) only makes recovery replay more (a torn one fails its CRC), and the previous snapshot stays
            // until this one is the newest of SnapshotsKept.
            long token = _nextSyncToken();
            _snapshotTokens.Add(token, offset);
            file.RequestSync(token);
        }
        var snapshots = SnapshotOffsets();
        for (int i = 0; i < snapshots.Count - SnapshotsKept; i++)
            _disk.DeleteFile(PathOf(ProducerStateManager.SnapshotFileName(snapshots[i])));
    }

    private List<long> SnapshotOffsets()
    {
        var offsets = new List<long>();
        foreach (var name in _disk.List(Directory))
            if (LogSegment.TryParseFileName(name, ProducerStateManager.SnapshotSuffix, out long offset)) offsets.Add(offset);
        offsets.Sort();
        return offsets;
    }

    /// <summary>
    /// Rebuilds the producer state: the newest intact snapshot at or below the log end (snapshots past it belong to a
    /// cut tail and are deleted), then every batch from its offset on (from the log start when none loads).
    /// </summary>
    private void RecoverProducerState()
    {
        _producers.Clear();
        long from = LogStartOffset;
        var snapshots = SnapshotOffsets();
        for (int i = snapshots.Count - 1; i >= 0; i--)
        {
            long offset = snapshots[i];
            string path = PathOf(ProducerStateManager.SnapshotFileName(offset));
            if (offset > LogEndOffset)
            {
                _disk.DeleteFile(path);
                continue;
            }
            byte[] bytes;
            using (var file = _disk.Open(path, create: false))
            {
                if (file.Length > 64L * 1024 * 1024) continue;
                bytes = new byte[file.Length];
                if (file.Read(0, bytes) != bytes.Length) continue;
            }
            if (_producers.TryLoadSnapshot(bytes, offset))
            {
                from = Math.Max(offset, LogStartOffset);
                break;
            }
            _log.Warn("Log {Log}: producer snapshot {Offset} is damaged; trying an older one", TopicPartition, offset);
        }
        int replayed = 0;
        foreach (var segment in _segments)
        {
            if (segment.NextOffset <= from) continue;
            int position = 0;
            while (segment.TryReadHeader(position, out var header))
            {
                if (header.LastOffset >= from)
                {
                    _producers.Replay(header);
                    replayed++;
                }
                position += (int)header.TotalSize;
            }
        }
        _producers.RemoveBelow(LogStartOffset);
        RecoverTransactions();
        if (_producers.ProducerCount > 0)
            _log.Info("Log {Log}: producer state of {Producers} producers rebuilt ({Batches} batches replayed from offset {From})",
                TopicPartition, _producers.ProducerCount, replayed, from);
    }

    /// <summary>
    /// Rebuilds the open transactions and the aborted-transaction list from every batch header of the log (and
    /// each marker's record). Kafka keeps a .txnindex file per segment and snapshots open transactions; here the
    /// whole log's headers are walked once at start-up (headers only: a marker batch is read whole, ~80 bytes).
    /// </summary>
    private void RecoverTransactions()
    {
        Transactions.Clear();
        var markerBytes = new byte[256];
        foreach (var segment in _segments)
        {
            int position = 0;
            while (segment.TryReadHeader(position, out var header))
            {
                if (header.ProducerId >= 0 && header.IsControl && header.TotalSize <= markerBytes.Length)
                {
                    segment.CopyTo(position, markerBytes.AsSpan(0, (int)header.TotalSize));
                    if (ControlRecord.TryReadMarker(markerBytes.AsSpan(0, (int)header.TotalSize), out bool commit, out int epoch))
                        Transactions.OnMarker(header.ProducerId, commit, epoch, header.BaseOffset);
                }
                else if (header.ProducerId >= 0 && header.IsTransactional && !header.IsControl)
                    Transactions.OnTransactionalData(header.ProducerId, header.BaseOffset);
                position += (int)header.TotalSize;
            }
        }
        Transactions.RemoveBelow(LogStartOffset);
        if (Transactions.OpenCount > 0 || Transactions.Aborted.Count > 0)
            _log.Info("Log {Log}: {Open} open and {Aborted} aborted transactions recovered", TopicPartition, Transactions.OpenCount, Transactions.Aborted.Count);
    }

    /// <summary>segment.ms by the clock (Kafka rolls only on the next append; the maintenance pass also rolls an
    /// idle active segment so retention and the cleaner can reach its records). True when it rolled.</summary>
    public bool MaybeRollByTime(long nowMs)
    {
        if (Failure != ErrorCode.None || ActiveSegment.IsEmpty) return false;
        var active = ActiveSegment;
        long since = active.RollingBasedTimestamp >= 0 ? active.RollingBasedTimestamp : active.CreatedMs;
        if (nowMs - since <= Config.SegmentMs) return false;
        return Roll(nowMs) == ErrorCode.None;
    }

    /// <summary>Closes the active segment and opens a new one at the log end offset without waiting: the closing
    /// segment's three files get asynchronous sync requests, and the flushed offset (so the high watermark of a
    /// strict log) does not pass its end until all three completed (<see cref="OnSyncCompleted"/>).</summary>
    private ErrorCode Roll(long nowMs)
    {
        var old = ActiveSegment;
        if (_closingMarkersDeleted)
        {
            // Makes the deletes of completed segments' markers durable (one directory sync, beside the ones the
            // new files' creation costs), so after a crash recovery validates in full only the segments rolled
            // since the previous roll, not every segment since the last directory sync.
            var dirStatus = _disk.SyncDirectory(Directory);
            if (dirStatus != DiskStatus.Ok)
            {
                Fail(dirStatus, "syncing the log directory at a roll");
                return ErrorCode.KafkaStorageError;
            }
            _closingMarkersDeleted = false;
        }
        var closing = new ClosingSegment(old, old.NextOffset);
        long logToken = _nextSyncToken(), indexToken = _nextSyncToken(), timeIndexToken = _nextSyncToken();
        _closingTokens.Add(logToken, closing);
        _closingTokens.Add(indexToken, closing);
        _closingTokens.Add(timeIndexToken, closing);
        Check.That(_closing.Count == 0 || _closing[^1].EndOffset <= old.BaseOffset, "closing segments in offset order");
        _closing.Add(closing);
        old.RequestSyncAll(logToken, indexToken, timeIndexToken);
        old.ReleaseIndexEntries();
        // Created (durably: creation syncs the parent) before the next segment exists, so no later write can be
        // durable without recovery knowing this segment may have lost its tail.
        _disk.Open(ClosingMarkerPath(old.BaseOffset), create: true).Dispose();
        TakeProducerSnapshot(old.NextOffset, nowMs);
        var segment = LogSegment.Open(_disk, Directory, old.NextOffset, Config, nowMs);
        Check.That(segment.LogFile.Length == 0);
        _segments.Add(segment);
        UpdateHighWatermark();
        _log.Debug("Log {Log}: rolled to segment {Base}", TopicPartition, segment.BaseOffset);
        return ErrorCode.None;
    }

    /// <summary>
    /// Whole batches from the one holding <paramref name="fetchOffset"/> (which may start before it), within one
    /// segment, never including a batch that reaches <paramref name="maxOffsetExclusive"/> (the high watermark for
    /// consumers) and stopping before <paramref name="maxBytes"/>, except that the first batch is returned whole
    /// even when larger (KIP-74) when <paramref name="minOneBatch"/>.
    /// </summary>
    public LogReadResult Read(long fetchOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch = true)
    {
        var slice = ReadSlice(fetchOffset, maxBytes, maxOffsetExclusive, minOneBatch);
        var bytes = slice.Length > 0 ? new byte[slice.Length] : Array.Empty<byte>();
        if (slice.Records is { } r) r.Source.CopyTo(r.Position, bytes);
        return new LogReadResult(slice.Error, bytes, slice.HighWatermark, slice.LogStartOffset, slice.LogEndOffset);
    }

    /// <summary><see cref="Read"/> without the copy: where the batches are, valid until the log next changes.</summary>
    public LogReadSlice ReadSlice(long fetchOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch = true)
    {
        if (fetchOffset < LogStartOffset || fetchOffset > LogEndOffset)
            return new LogReadSlice(ErrorCode.OffsetOutOfRange, null, HighWatermark, LogStartOffset, LogEndOffset);
        long limit = Math.Min(maxOffsetExclusive, LogEndOffset);
        if (fetchOffset >= limit)
            return new LogReadSlice(ErrorCode.None, null, HighWatermark, LogStartOffset, LogEndOffset);
        int at = SegmentIndexFor(fetchOffset);
        // Past the end of a compacted segment (its last batches were cleaned away): the next segment serves.
        while (fetchOffset >= _segments[at].NextOffset && at < _segments.Count - 1)
        {
            at++;
            fetchOffset = _segments[at].BaseOffset;
        }
        if (fetchOffset >= limit)
            return new LogReadSlice(ErrorCode.None, null, HighWatermark, LogStartOffset, LogEndOffset);
        var segment = _segments[at];
        var (start, end) = segment.ReadRange(fetchOffset, maxBytes, limit, minOneBatch);
        RecordsSlice? records = end > start ? new RecordsSlice(segment, start, end - start) : null;
        return new LogReadSlice(ErrorCode.None, records, HighWatermark, LogStartOffset, LogEndOffset);
    }

    /// <summary>The segment a <see cref="ReadSlice"/> from <paramref name="fetchOffset"/> below
    /// <paramref name="maxOffsetExclusive"/> reads, and the file position its walk starts at (the offset index's
    /// entry at or before the offset: in memory for the active segment, read from the index file for a closed one).
    /// False when the read touches no segment.</summary>
    public bool TryLocateRead(long fetchOffset, long maxOffsetExclusive, out LogSegment segment, out int position)
    {
        position = 0;
        if (!TryLocateSegment(fetchOffset, maxOffsetExclusive, out segment, out long offset)) return false;
        position = segment.IndexedPosition(offset);
        return true;
    }

    /// <summary>The segment a read from <paramref name="fetchOffset"/> below <paramref name="maxOffsetExclusive"/>
    /// reads, and the offset it starts at there (no I/O: a closed segment's index is searched after, and may be cold).
    /// False when the read touches no segment.</summary>
    public bool TryLocateSegment(long fetchOffset, long maxOffsetExclusive, out LogSegment segment, out long offset)
    {
        segment = null!;
        offset = fetchOffset;
        if (fetchOffset < LogStartOffset || fetchOffset > LogEndOffset) return false;
        long limit = Math.Min(maxOffsetExclusive, LogEndOffset);
        if (fetchOffset >= limit) return false;
        int at = SegmentIndexFor(fetchOffset);
        // As ReadSlice: past the end of a compacted segment, the next one serves.
        while (fetchOffset >= _segments[at].NextOffset && at < _segments.Count - 1)
        {
            at++;
            fetchOffset = _segments[at].BaseOffset;
        }
        if (fetchOffset >= limit) return false;
        segment = _segments[at];
        offset = fetchOffset;
        return true;
    }

    /// <summary>Index of the segment holding <paramref name="offset"/> (the last one whose base is at or below it).</summary>
    private int SegmentIndexFor(long offset)
    {
        int lo = 0, hi = _segments.Count - 1, found = 0;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (_segments[mid].BaseOffset <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found;
    }

    /// <summary>The first offset at or after the log start whose record timestamp is at least
    /// <paramref name="timestamp"/>, with that timestamp; null when there is none below
    /// <paramref name="maxOffsetExclusive"/>.</summary>
    public TimestampOffset? OffsetForTimestamp(long timestamp, long maxOffsetExclusive = long.MaxValue)
    {
        long limit = Math.Min(maxOffsetExclusive, LogEndOffset);
        foreach (var segment in _segments)
        {
            if (segment.LargestTimestamp < timestamp || segment.NextOffset <= LogStartOffset) continue;
            var found = segment.FindOffsetByTimestamp(timestamp, LogStartOffset);
            if (found is { } f) return f.Offset < limit ? f : null;
        }
        return null;
    }

    /// <summary>The first record carrying the largest timestamp in the log (ListOffsets MAX_TIMESTAMP, KIP-734),
    /// when it lies below <paramref name="maxOffsetExclusive"/>. Records below the log start offset do not count.</summary>
    public TimestampOffset? MaxTimestampOffset(long maxOffsetExclusive = long.MaxValue)
    {
        LogSegment? best = null;
        foreach (var segment in _segments)
            if (segment.NextOffset > LogStartOffset && !segment.IsEmpty
                && (best is null || segment.LargestTimestamp > best.LargestTimestamp))
                best = segment;
        var found = best?.FindOffsetByTimestamp(best.LargestTimestamp, LogStartOffset);
        return found is { } f && f.Offset < Math.Min(maxOffsetExclusive, LogEndOffset) ? f : null;
    }

    /// <summary>
    /// DeleteRecords: moves the log start offset up to <paramref name="offset"/> (-1 means the high watermark),
    /// which must not pass the high watermark. The new start is made durable first, then segments wholly below
    /// it are deleted (never the active one). Returns the resulting low watermark.
    /// </summary>
    public (ErrorCode Error, long LowWatermark) DeleteRecordsBefore(long offset)
    {
        if (Failure != ErrorCode.None) return (Failure, LogStartOffset);
        if (offset == -1) offset = HighWatermark;
        if (offset < 0 || offset > HighWatermark) return (ErrorCode.OffsetOutOfRange, LogStartOffset);
        if (offset <= LogStartOffset) return (ErrorCode.None, LogStartOffset);
        var status = Config.TestOnlySkipLogStartCheckpoint ? DiskStatus.Ok : WriteLogStartOffsetCheckpoint(offset);
        if (status != DiskStatus.Ok)
        {
            if (status != DiskStatus.NoSpace) Fail(status, "writing the log start offset");
            return (ErrorCode.KafkaStorageError, LogStartOffset);
        }
        LogStartOffset = offset;
        DeleteSegmentsBelowLogStart();
        _producers.RemoveBelow(LogStartOffset);
        Transactions.RemoveBelow(LogStartOffset);
        CheckInvariants();
        return (ErrorCode.None, LogStartOffset);
    }

    private void DeleteSegmentsBelowLogStart()
    {
        // In memory only: recovery cuts the checkpoint's entries below the log start the same way.
        _epochs.TruncateFromStart(LogStartOffset);
        bool deleted = false;
        // A segment ends at the next one's base (a compacted one may hold less): that decides if it is below.
        // A closing segment stays until its syncs completed (a relaxed log's high watermark may pass it); the
        // next retention pass or DeleteRecords deletes it.
        while (_segments.Count > 1 && _segments[1].BaseOffset <= LogStartOffset
               && _segments[0].BaseOffset < FirstClosingBaseOffset)
        {
            _segments[0].Delete();
            _segments.RemoveAt(0);
            deleted = true;
        }
        if (deleted) SyncDirectoryAfterDeletes();
    }

    /// <summary>The deletes become durable (a deleted segment must not come back after a crash). The log start
    /// checkpoint was made durable before, so even a failure here cannot resurrect readable data.</summary>
    private void SyncDirectoryAfterDeletes()
    {
        var status = _disk.SyncDirectory(Directory);
        if (status != DiskStatus.Ok) Fail(status, "syncing the log directory after deleting segments");
    }

    /// <summary>Test-only switch (simulator checks must be shown to fail): retention ignores its bounds and
    /// deletes every closed segment. Never set outside tests.</summary>
    public static bool BreakRetentionForTests
    {
        get => _breakRetentionForTests;
        set => _breakRetentionForTests = value;
    }

    // Per thread, so a test breaking retention cannot reach tests running beside it.
    [ThreadStatic] private static bool _breakRetentionForTests;

    /// <summary>
    /// retention.ms / retention.bytes (cleanup.policy=delete): deletes the oldest closed segments that are
    /// wholly below the high watermark and expired by age (their largest timestamp) or by the partition's size
    /// (while the partition without the segment still holds at least retention.bytes). The new log start offset
    /// is checkpointed durably first, then the segments are deleted and the directory synced, so a crash
    /// leaves either the old log or one whose start is past everything deleted. Returns the segments deleted.
    /// </summary>
    public int ApplyRetention(long nowMs)
    {
        if (Failure != ErrorCode.None || !Config.DeletesByRetention) return 0;
        int count = 0;
        long size = Size;
        // A segment is wholly below the high watermark when the next one starts at or below it.
        while (count < _segments.Count - 1 && _segments[count + 1].BaseOffset <= HighWatermark)
        {
            var oldest = _segments[count];
            bool expired = Config.RetentionMs >= 0 && nowMs - oldest.LargestTimestamp > Config.RetentionMs;
            bool oversize = Config.RetentionBytes >= 0 && size - oldest.Size >= Config.RetentionBytes;
            if (!expired && !oversize && !BreakRetentionForTests) break;
            size -= oldest.Size;
            count++;
        }
        if (count == 0) return 0;
        long newStart = Math.Max(LogStartOffset, _segments[count].BaseOffset);
        var status = WriteLogStartOffsetCheckpoint(newStart);
        if (status != DiskStatus.Ok)
        {
            if (status != DiskStatus.NoSpace) Fail(status, "writing the log start offset for retention");
            return 0;
        }
        _log.Info("Log {Log}: retention deletes {Count} segments; log start offset {Old} -> {New}",
            TopicPartition, count, LogStartOffset, newStart);
        LogStartOffset = newStart;
        DeleteSegmentsBelowLogStart();
        _producers.RemoveBelow(LogStartOffset);
        Transactions.RemoveBelow(LogStartOffset);
        CheckInvariants();
        return count;
    }

    /// <summary>What the cleaner knows about this log (in memory; after a restart the whole log counts as dirty,
    /// which costs one redundant clean and nothing else).</summary>
    public long CleanerCheckpoint { get; internal set; }

    /// <summary>
    /// The cleaner's swap, in memory: <paramref name="replaced"/> (consecutive segments, still this log's) give
    /// way to <paramref name="cleaned"/>, whose files were already renamed to the live names.
    /// </summary>
    internal void ReplaceSegments(IReadOnlyList<LogSegment> replaced, LogSegment cleaned)
    {
        int at = _segments.IndexOf(replaced[0]);
        Check.That(at >= 0 && at + replaced.Count < _segments.Count, "the cleaner never replaces the active segment");
        for (int i = 0; i < replaced.Count; i++) Check.That(ReferenceEquals(_segments[at + i], replaced[i]));
        Check.That(cleaned.BaseOffset == replaced[0].BaseOffset && cleaned.NextOffset <= _segments[at + replaced.Count].BaseOffset);
        Check.That(replaced[^1].BaseOffset < FirstClosingBaseOffset, "the cleaner never replaces a closing segment");
        foreach (var old in replaced) old.Dispose();
        _segments.RemoveRange(at, replaced.Count);
        _segments.Insert(at, cleaned);
        cleaned.ReleaseIndexEntries(); // a closed segment: its index entries are read from the files
        CheckInvariants();
    }

    /// <summary>The cleaner hit a storage failure it cannot undo: the log goes offline like after a failed sync.</summary>
    internal void FailFromCleaner(DiskStatus status, string what) => Fail(status, what);

    private long? ReadLogStartOffsetCheckpoint()
    {
        string path = PathOf(LogStartOffsetCheckpointFile);
        if (!_disk.FileExists(path)) return null;
        using var file = _disk.Open(path, create: false);
        Span<byte> bytes = stackalloc byte[CheckpointSize];
        if (file.Length != CheckpointSize || file.Read(0, bytes) != CheckpointSize
            || BinaryPrimitives.ReadInt32BigEndian(bytes) != CheckpointVersion
            || BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]) != Crc32C.Compute(bytes[..12]))
        {
            _log.Warn("Log {Log}: ignoring a damaged log start offset checkpoint", TopicPartition);
            return null;
        }
        long offset = BinaryPrimitives.ReadInt64BigEndian(bytes[4..]);
        return offset >= 0 ? offset : null;
    }

    /// <summary>Written beside the log, synced, then renamed over the old one: a crash leaves the old or the new value.</summary>
    private DiskStatus WriteLogStartOffsetCheckpoint(long offset)
    {
        string path = PathOf(LogStartOffsetCheckpointFile);
        string tmp = path + TmpSuffix;
        Span<byte> bytes = stackalloc byte[CheckpointSize];
        BinaryPrimitives.WriteInt32BigEndian(bytes, CheckpointVersion);
        BinaryPrimitives.WriteInt64BigEndian(bytes[4..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[12..], Crc32C.Compute(bytes[..12]));
        DiskStatus status;
        using (var file = _disk.Open(tmp, create: true))
        {
            file.Truncate(0);
            status = file.Write(0, bytes);
            if (status == DiskStatus.Ok) status = file.SyncNow();
        }
        if (status != DiskStatus.Ok)
        {
            _disk.DeleteFile(tmp);
            return status;
        }
        _disk.Rename(tmp, path);
        // The rename commits the new value, and only a directory sync makes it durable.
        return _disk.SyncDirectory(Directory);
    }

    /// <summary>
    /// Group commit: starts a sync of the active segment when unflushed writes exist and none is in flight.
    /// A relaxed log waits until flush.messages records are unflushed or flush.ms has passed since the last sync
    /// started. Returns true when a sync was started.
    /// </summary>
    public bool MaybeStartSync(long nowMs)
    {
        _lastSyncStartMs ??= nowMs;
        if (Failure != ErrorCode.None || _syncToken.HasValue || !ActiveHasUnsynced) return false;
        if (Config.IsRelaxedDurability)
        {
            long unflushed = LogEndOffset - FlushedOffset;
            bool timeUp = Config.FlushMs != long.MaxValue && nowMs - _lastSyncStartMs.Value >= Config.FlushMs;
            if (unflushed < Config.FlushMessages && !timeUp) return false;
        }
        long token = _nextSyncToken();
        _syncToken = token;
        _syncCoversOffset = LogEndOffset;
        _syncSegmentBase = ActiveSegment.BaseOffset;
        _lastSyncStartMs = nowMs;
        ActiveSegment.LogFile.RequestSync(token);
        return true;
    }

    /// <summary>
    /// A sync this log started has finished. On success <see cref="FlushedOffset"/> moves to what it covered (every
    /// produce whose last offset is below it can be acknowledged); on failure the log goes offline. Returns false
    /// for a token this log is not waiting for.
    /// </summary>
    public bool OnSyncCompleted(long token, DiskStatus status)
    {
        if (_closingTokens.Remove(token, out var closing)) return OnClosingSyncCompleted(closing, status);
        if (_snapshotTokens.Remove(token, out long snapshot))
        {
            if (status != DiskStatus.Ok)
                _log.Warn("Log {Log}: syncing producer snapshot {Offset} failed ({Status}); recovery will replay more", TopicPartition, snapshot, status);
            return true;
        }
        if (_syncToken != token) return false;
        _syncToken = null;
        if (status != DiskStatus.Ok)
        {
            Fail(status, "sync");
            return true;
        }
        // The sync covered the active segment of its time up to _syncCoversOffset; that prefix of the log is
        // durable only when no segment before it is still closing.
        if (_deferredCoverage is not { } d || d.Offset < _syncCoversOffset)
            _deferredCoverage = (_syncSegmentBase, _syncCoversOffset);
        AdvanceFlushedOffset();
        return true;
    }

    /// <summary>One of a closing segment's three syncs finished. A failure takes the log offline as a failed
    /// append sync does, unless the segment already left the log (its data is no longer needed).</summary>
    private bool OnClosingSyncCompleted(ClosingSegment closing, DiskStatus status)
    {
        Check.That(closing.Outstanding > 0);
        closing.Outstanding--;
        if (closing.Settled) return true;
        if (status != DiskStatus.Ok)
        {
            Fail(status, "syncing a rolled segment");
            return true;
        }
        // Not durable until the next directory sync (a crash may bring it back over a whole, synced segment,
        // which recovery accepts). The cleaner's swap syncs the directory before a cleaned copy can replace it.
        if (closing.Outstanding == 0) RemoveClosingMarker(closing);
        AdvanceFlushedOffset();
        return true;
    }

    private string ClosingMarkerPath(long baseOffset) => PathOf(LogSegment.FileStem(baseOffset) + ClosingSuffix);

    private void RemoveClosingMarker(ClosingSegment closing)
    {
        string marker = ClosingMarkerPath(closing.Segment.BaseOffset);
        if (!_disk.FileExists(marker)) return;
        _disk.DeleteFile(marker);
        _closingMarkersDeleted = true;
    }

    /// <summary>The base of the oldest rolled segment whose syncs are outstanding; long.MaxValue when none. The
    /// cleaner stops below it (recovery tells a lost tail from a compaction gap by the closing marker), and so do
    /// segment deletions.</summary>
    public long FirstClosingBaseOffset
    {
        get
        {
            foreach (var c in _closing)
                if (!c.Done) return c.Segment.BaseOffset;
            return long.MaxValue;
        }
    }

    /// <summary>Moves the flushed offset as far as durability allows: past every closing segment whose syncs all
    /// completed (in order), then to the latest active-segment sync once nothing before its segment is closing.</summary>
    private void AdvanceFlushedOffset()
    {
        if (Failure != ErrorCode.None) return;
        while (_closing.Count > 0 && _closing[0].Done)
        {
            FlushedOffset = Math.Max(FlushedOffset, Math.Min(_closing[0].EndOffset, LogEndOffset));
            _closing.RemoveAt(0);
        }
        if (_deferredCoverage is { } d && (_closing.Count == 0 || _closing[0].Segment.BaseOffset >= d.SegmentBase))
        {
            FlushedOffset = Math.Max(FlushedOffset, Math.Min(d.Offset, LogEndOffset));
            _deferredCoverage = null;
        }
        // Never past a closing segment still waiting for its syncs.
        Check.That(_closing.Count == 0 || _closing[0].Done || FlushedOffset <= _closing[0].EndOffset,
            "the flushed offset waits for the rolled segment's sync");
        UpdateHighWatermark();
        CheckInvariants();
    }

    /// <summary>Rare paths that rewrite the segment list (truncation, shutdown) first make every closing segment
    /// durable, blocking; the completions of their requested syncs still arrive and are absorbed.</summary>
    private DiskStatus SettleClosingSegmentsNow()
    {
        foreach (var c in _closing)
        {
            if (c.Done) continue;
            var status = c.Segment.SyncAll();
            if (status != DiskStatus.Ok) return status;
            c.Settled = true;
            RemoveClosingMarker(c);
        }
        AdvanceFlushedOffset();
        return DiskStatus.Ok;
    }

    /// <summary>Rolled segments whose syncs have not all completed (tests and tools).</summary>
    public int ClosingSegmentCount => _closing.Count;

    /// <summary>Whether the active segment holds writes no sync has covered.</summary>
    private bool ActiveHasUnsynced => LogEndOffset > Math.Max(FlushedOffset, ActiveSegment.BaseOffset)
        && !(_deferredCoverage is { } d && d.SegmentBase == ActiveSegment.BaseOffset && d.Offset >= LogEndOffset);

    /// <summary>When a relaxed log's flush.ms sync falls due; long.MaxValue when nothing is scheduled.</summary>
    public long NextDeadlineMs
    {
        get
        {
            if (!Config.IsRelaxedDurability || Config.FlushMs == long.MaxValue || _syncToken.HasValue
                || Failure != ErrorCode.None || !ActiveHasUnsynced || _lastSyncStartMs is not { } last)
                return long.MaxValue;
            long due = last + Config.FlushMs;
            return due < last ? long.MaxValue : due;
        }
    }

    /// <summary>AlterConfigs. The high watermark never moves back, even when a relaxed log turns strict.</summary>
    public void UpdateConfig(LogConfig config)
    {
        Config = config;
        UpdateHighWatermark();
    }

    /// <summary>Shutdown: syncs the closing segments and the active one whole, blocking.</summary>
    public DiskStatus Flush()
    {
        if (Failure != ErrorCode.None) return DiskStatus.IoError;
        var status = SettleClosingSegmentsNow();
        if (status == DiskStatus.Ok) status = ActiveSegment.SyncAll();
        if (status != DiskStatus.Ok)
        {
            Fail(status, "flushing");
            return status;
        }
        FlushedOffset = LogEndOffset;
        UpdateHighWatermark();
        return DiskStatus.Ok;
    }

    private void UpdateHighWatermark()
    {
        long candidate = Config.IsRelaxedDurability ? LogEndOffset : FlushedOffset;
        _localCommittable = Math.Max(_localCommittable, candidate);
        if (!HighWatermarkFromPartition) _highWatermark = _localCommittable;
    }

    private void Fail(DiskStatus status, string what)
    {
        if (Failure == ErrorCode.None)
            _log.Error("Log {Log}: storage failure ({Status}) while {What}; the log is offline", TopicPartition, status, what);
        Failure = ErrorCode.KafkaStorageError;
    }

    private void CheckInvariants()
    {
        Check.That(_segments.Count > 0);
        Check.That(LogStartOffset >= _segments[0].BaseOffset);
        Check.That(LogStartOffset <= _highWatermark && _highWatermark <= LogEndOffset);
        Check.That(FlushedOffset <= LogEndOffset);
        Check.That(_closing.Count == 0 || _closing[0].Done || FlushedOffset <= _closing[0].EndOffset);
        for (int i = 1; i < _closing.Count; i++) Check.That(_closing[i].Segment.BaseOffset >= _closing[i - 1].EndOffset);
        for (int i = 1; i < _segments.Count; i++) Check.That(_segments[i].BaseOffset >= _segments[i - 1].NextOffset);
    }

    /// <summary>Closes the files; does not sync (see <see cref="Flush"/>).</summary>
    public void Dispose()
    {
        foreach (var s in _segments) s.Dispose();
    }

    /// <summary>Closes and deletes everything (topic deletion).</summary>
    internal void DeleteAll()
    {
        Dispose();
        _segments.Clear();
        _disk.DeleteDirectory(Directory);
    }

    public override string ToString() => $"UnifiedLog({TopicPartition}, [{LogStartOffset}, {LogEndOffset}), hw {HighWatermark}, flushed {FlushedOffset})";
}
