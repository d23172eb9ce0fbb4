using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>
/// What replication needs from a log (REPLICATION.md), kept apart from the leader's append path: the leader-epoch
/// cache and its <c>leader-epoch-checkpoint</c> file, the follower's append (the leader's offsets and epochs kept
/// as they are) and truncation (to an offset, or the whole log to a new start). Kafka's names: <c>appendAsFollower</c>,
/// <c>truncateTo</c>, <c>truncateFullyAndStartAt</c>, <c>endOffsetForEpoch</c>.
/// </summary>
public sealed partial class UnifiedLog
{
    public const string LeaderEpochCheckpointFile = "leader-epoch-checkpoint";

    /// <summary>Largest checkpoint file read at recovery (header, 2^20 entries, crc); a longer one is damaged.</summary>
    private const long LeaderEpochCheckpointMaxBytes = 8 + LeaderEpochFileCache.MaxEntries * 12L + 4;

    private readonly LeaderEpochFileCache _epochs = new();

    /// <summary>Batches prepared by <see cref="AppendAsFollower"/>: their place in the fetched records.</summary>
    private readonly List<AppendedBatch> _followerLayout = new();

    /// <summary>The leader-epoch cache: (epoch, start offset) for every epoch the log's batches carry.</summary>
    public LeaderEpochFileCache LeaderEpochCache => _epochs;

    /// <summary>The newest epoch the log holds, or -1 (Kafka's <c>latestEpoch</c>).</summary>
    public int LatestEpoch => _epochs.Latest?.Epoch ?? LeaderEpochFileCache.UndefinedEpoch;

    /// <summary>OffsetForLeaderEpoch's answer from this log (<see cref="LeaderEpochFileCache.EndOffsetFor"/>).</summary>
    public (int Epoch, long EndOffset) EndOffsetForEpoch(int epoch) => _epochs.EndOffsetFor(epoch, LogEndOffset);

    /// <summary>
    /// The batch about to be written at <paramref name="startOffset"/> carries <paramref name="epoch"/>: a new epoch
    /// enters the cache and the checkpoint is rewritten before the batch is, so the file never misses an epoch the
    /// durable log holds. A failed checkpoint write costs nothing but a warning: recovery checks the file against
    /// the batch headers and rebuilds it when they disagree.
    /// </summary>
    private void AssignLeaderEpoch(int epoch, long startOffset)
    {
        if (!_epochs.Assign(epoch, startOffset)) return;
        WriteLeaderEpochCheckpoint();
    }

    /// <summary>
    /// Recovery: the checkpoint (when it loads) cut to the recovered log [log start, log end), then checked against
    /// every batch header (each batch's epoch must be the one the cache places at its offset); when the file is
    /// missing, damaged or disagrees, the cache is rebuilt from the headers and the file rewritten. Runs after the
    /// segments are recovered, so the headers are the truth.
    /// </summary>
    private void RecoverLeaderEpochCache()
    {
        var loaded = ReadLeaderEpochCheckpoint(out bool fileExists);
        var rebuilt = new LeaderEpochFileCache();
        bool agrees = loaded is not null;
        var check = new LeaderEpochFileCache();
        if (loaded is not null)
        {
            check.Reset(loaded);
            check.TruncateFromEnd(LogEndOffset);
            check.TruncateFromStart(LogStartOffset);
        }
        foreach (var segment in _segments)
        {
            if (segment.NextOffset <= LogStartOffset) continue;
            int position = 0;
            while (segment.TryReadHeader(position, out var header))
            {
                position += (int)header.TotalSize;
                if (header.LastOffset < LogStartOffset) continue;
                rebuilt.Assign(header.PartitionLeaderEpoch, Math.Max(header.BaseOffset, LogStartOffset));
                if (agrees && header.PartitionLeaderEpoch >= 0 && check.EpochForOffset(Math.Max(header.BaseOffset, LogStartOffset)) != header.PartitionLeaderEpoch)
                    agrees = false;
            }
        }
        if (agrees)
        {
            _epochs.Reset(check.Entries);
            // Entries cut at either end (a torn tail, retention) are written back; an unchanged file is left alone.
            if (!check.Entries.SequenceEqual(loaded!)) WriteLeaderEpochCheckpoint();
            return;
        }
        if (fileExists)
            _log.Warn("Log {Log}: the leader epoch checkpoint is damaged or disagrees with the log; rebuilt from batch headers as {Entries}",
                TopicPartition, rebuilt);
        _epochs.Reset(rebuilt.Entries);
        if (fileExists || !_epochs.IsEmpty) WriteLeaderEpochCheckpoint();
    }

    private List<EpochEntry>? ReadLeaderEpochCheckpoint(out bool exists)
    {
        string path = PathOf(LeaderEpochCheckpointFile);
        exists = _disk.FileExists(path);
        if (!exists) return null;
        using var file = _disk.Open(path, create: false);
        if (file.Length > LeaderEpochCheckpointMaxBytes) return null;
        var bytes = new byte[file.Length];
        if (file.Read(0, bytes) != bytes.Length) return null;
        return LeaderEpochFileCache.TryParse(bytes);
    }

    /// <summary>Written beside the log as <c>.tmp</c>, synced, renamed over the old file, directory synced: a crash
    /// leaves the old or the new cache. A failure is logged (recovery rebuilds from the batches); true when written.</summary>
    private bool WriteLeaderEpochCheckpoint()
    {
        string path = PathOf(LeaderEpochCheckpointFile);
        string tmp = path + TmpSuffix;
        DiskStatus status;
        using (var file = _disk.Open(tmp, create: true))
        {
            file.Truncate(0);
            status = file.Write(0, _epochs.Serialize());
            if (status == DiskStatus.Ok) status = file.SyncNow();
        }
        if (status == DiskStatus.Ok)
        {
            _disk.Rename(tmp, path);
            status = _disk.SyncDirectory(Directory);
        }
        else _disk.DeleteFile(tmp);
        if (status != DiskStatus.Ok)
            _log.Warn("Log {Log}: writing the leader epoch checkpoint failed ({Status}); recovery will rebuild it", TopicPartition, status);
        return status == DiskStatus.Ok;
    }

    /// <summary>
    /// A follower's append (Kafka's <c>appendAsFollower</c>): batches fetched from the leader, stored with the
    /// leader's offsets, timestamps and epochs. Every batch is validated (CRC, structure, like recovery), the first
    /// must start at <see cref="LogEndOffset"/> and each next one right after the previous (no gaps), and epochs
    /// never go below the cache's latest nor above <paramref name="maxEpoch"/> (the epoch the follower knows its leader
    /// in: a leader never sends batches of a later epoch). Indexes, producer state, transactions and the epoch cache
    /// follow. Nothing is durable until a sync, as for the leader.
    /// </summary>
    public AppendResult AppendAsFollower(ReadOnlyMemory<byte> records, long nowMs, int maxEpoch = int.MaxValue)
    {
        if (Failure != ErrorCode.None) return AppendResult.Failed(Failure, "log is offline after a storage failure", LogStartOffset);
        if (records.Length == 0) return AppendResult.Failed(ErrorCode.None, null, LogStartOffset);
        if (records.Length > Config.SegmentBytes)
            return AppendResult.Failed(ErrorCode.RecordListTooLarge,
                $"{records.Length} bytes of records exceed segment.bytes {Config.SegmentBytes}", LogStartOffset);
        var span = records.Span;
        var validation = RecordBatchValidator.ValidateRecords(span, RecordValidationOptions.ForRecovery());
        if (!validation.IsValid) return AppendResult.Failed(validation.Error, validation.Message, LogStartOffset);

        _followerLayout.Clear();
        long expected = LogEndOffset;
        int latestEpoch = LatestEpoch;
        long maxTimestamp = RecordBatch.NoTimestamp;
        int position = 0;
        while (position < span.Length)
        {
            Check.That(RecordBatchHeader.TryRead(span[position..], out var header), "validated batches have headers");
            if (header.BaseOffset != expected)
                return AppendResult.Failed(ErrorCode.CorruptMessage,
                    $"batch at offset {header.BaseOffset} where {expected} was expected (a follower's log has no gaps)", LogStartOffset);
            if (header.PartitionLeaderEpoch < latestEpoch)
                return AppendResult.Failed(ErrorCode.CorruptMessage,
                    $"batch at offset {header.BaseOffset} has leader epoch {header.PartitionLeaderEpoch}, below the log's {latestEpoch}", LogStartOffset);
            if (header.PartitionLeaderEpoch > maxEpoch)
                return AppendResult.Failed(ErrorCode.CorruptMessage,
                    $"batch at offset {header.BaseOffset} has leader epoch {header.PartitionLeaderEpoch}, above the leader's {maxEpoch}", LogStartOffset);
            latestEpoch = header.PartitionLeaderEpoch;
            _followerLayout.Add(new AppendedBatch(position, (int)header.TotalSize, header.BaseOffset, header.LastOffset, header.MaxTimestamp));
            maxTimestamp = Math.Max(maxTimestamp, header.MaxTimestamp);
            expected = header.LastOffset + 1;
            position += (int)header.TotalSize;
        }
        Check.That(_followerLayout.Count > 0 && position == span.Length);
        long baseOffset = _followerLayout[0].BaseOffset;
        long lastOffset = _followerLayout[^1].LastOffset;
        if (ActiveSegment.ShouldRoll(Config, span.Length, lastOffset, maxTimestamp, nowMs))
        {
            var rollError = Roll(nowMs);
            if (rollError != ErrorCode.None) return AppendResult.Failed(rollError, "roll failed", LogStartOffset);
        }
        // New epochs reach the checkpoint before their batches reach the segment (see AssignLeaderEpoch).
        foreach (var b in _followerLayout)
        {
            RecordBatchHeader.TryRead(span[b.Position..], out var header);
            AssignLeaderEpoch(header.PartitionLeaderEpoch, header.BaseOffset);
        }
        var status = ActiveSegment.Append(span, _followerLayout);
        if (status != DiskStatus.Ok)
        {
            if (status != DiskStatus.NoSpace) Fail(status, "appending as follower");
            // The epochs assigned above start at the unchanged log end: harmless, the next append re-assigns them.
            return AppendResult.Failed(ErrorCode.KafkaStorageError, $"write failed: {status}", LogStartOffset);
        }
        Check.That(LogEndOffset == lastOffset + 1);
        foreach (var b in _followerLayout)
        {
            RecordBatchHeader.TryRead(span[b.Position..], out var header);
            _producers.Replay(header);
            ReplayTransactionState(header, span.Slice(b.Position, b.Size));
        }
        UpdateHighWatermark();
        CheckInvariants();
        return new AppendResult(ErrorCode.None, null, baseOffset, lastOffset, -1, LogStartOffset, validation.RecordCount);
    }

    /// <summary>
    /// Replication's sync request (<see cref="UnifiedRaftLog.RequestSync"/>): like <see cref="MaybeStartSync"/> but
    /// regardless of a relaxed flush policy, because a replica's copy counts for the high watermark only once it is
    /// durable. Nothing to do when a sync is in flight or everything is flushed. True when a sync was started.
    /// </summary>
    internal bool StartSyncForReplication(long nowMs)
    {
        if (Failure != ErrorCode.None || _syncToken.HasValue || LogEndOffset == FlushedOffset) return false;
        long token = _nextSyncToken();
        _syncToken = token;
        _syncCoversOffset = LogEndOffset;
        // Which segment the sync covers: its coverage must wait for every segment before it still closing (a stale
        // base let a follower's flushed offset pass a rolled segment whose syncs were outstanding: a core assertion
        // that stopped a node in the chaos coordinator test).
        _syncSegmentBase = ActiveSegment.BaseOffset;
        _lastSyncStartMs = nowMs;
        ActiveSegment.LogFile.RequestSync(token);
        return true;
    }

    /// <summary>A replicated partition opened: its high watermark is not known until the leader (or, as leader, a
    /// majority) says so, so it starts at <paramref name="offset"/> (the log start), not at the recovered log end a
    /// single-replica log may serve at once.</summary>
    internal void ResetHighWatermarkForReplication(long offset)
    {
        Check.That(offset >= LogStartOffset && offset <= LogEndOffset, "the high watermark stays within the log");
        _highWatermark = offset;
        CheckInvariants();
    }

    /// <summary>A replicated batch's effect on open and aborted transactions, as recovery derives it from the log.</summary>
    private void ReplayTransactionState(in RecordBatchHeader header, ReadOnlySpan<byte> batch)
    {
        if (header.ProducerId < 0) return;
        if (header.IsControl)
        {
            if (ControlRecord.TryReadMarker(batch, out bool commit, out int epoch))
                Transactions.OnMarker(header.ProducerId, commit, epoch, header.BaseOffset);
        }
        else if (header.IsTransactional) Transactions.OnTransactionalData(header.ProducerId, header.BaseOffset);
    }

    /// <summary>
    /// Kafka's <c>truncateTo</c>: removes every batch from the one holding <paramref name="offset"/> on (truncation
    /// works on whole batches, so the log end becomes that batch's base offset when the offset falls inside one).
    /// Segments past it are deleted, the one holding it is cut and its indexes rebuilt, all of it made durable
    /// before the epoch cache, producer state and transactions are cut to match. The high watermark and flushed
    /// offset come down to the new end when they were above it (the partition decides whether that is allowed).
    /// An offset at or past the log end changes nothing. Returns the error when the disk failed.
    /// </summary>
    public ErrorCode TruncateTo(long offset)
    {
        Check.That(offset >= 0, "truncation offsets are offsets");
        if (Failure != ErrorCode.None) return Failure;
        if (offset >= LogEndOffset) return ErrorCode.None;
        // Kafka's rule; the new segment's creation time only matters for segment.ms without record timestamps.
        if (offset < LogStartOffset) return TruncateFullyAndStartAt(offset, ActiveSegment.CreatedMs);
        // Truncation blocks anyway (the cut segment is synced whole): rolled segments still closing are made
        // durable first, so the closing queue is empty while the segment list changes.
        var settled = SettleClosingSegmentsNow();
        if (settled != DiskStatus.Ok)
        {
            Fail(settled, "syncing rolled segments before truncating");
            return ErrorCode.KafkaStorageError;
        }
        Check.That(_closing.Count == 0 && _deferredCoverage is null);
        long oldEnd = LogEndOffset;
        int at = SegmentIndexFor(offset);
        bool deleted = false;
        while (_segments.Count - 1 > at)
        {
            _segments[^1].Delete();
            _segments.RemoveAt(_segments.Count - 1);
            deleted = true;
        }
        var segment = _segments[at];
        if (offset < segment.NextOffset)
        {
            int cutAt = offset <= segment.BaseOffset ? 0 : segment.TranslateOffset(offset);
            segment.LogFile.Truncate(cutAt);
            // Rebuilds both indexes (files included) and the segment's timestamps from what is left.
            segment.Recover(_log, allowOffsetGaps: true);
        }
        var status = segment.SyncAll();
        if (status == DiskStatus.Ok && deleted) status = _disk.SyncDirectory(Directory);
        if (status != DiskStatus.Ok)
        {
            Fail(status, "truncating");
            return ErrorCode.KafkaStorageError;
        }
        AfterTruncation();
        _log.Info("Log {Log}: truncated to offset {Offset} (log end {Old} -> {New})", TopicPartition, offset, oldEnd, LogEndOffset);
        return ErrorCode.None;
    }

    /// <summary>
    /// Kafka's <c>truncateFullyAndStartAt</c> (a follower far behind the leader's log start): every segment is
    /// deleted and the log restarts empty at <paramref name="newOffset"/>, which becomes the log start, the log end
    /// and the high watermark. The new log start is checkpointed first, so a crash leaves either the old log or
    /// one that starts at <paramref name="newOffset"/> (recovery drops what lies below it).
    /// </summary>
    public ErrorCode TruncateFullyAndStartAt(long newOffset, long nowMs)
    {
        Check.That(newOffset >= 0, "a log starts at an offset");
        if (Failure != ErrorCode.None) return Failure;
        var status = WriteLogStartOffsetCheckpoint(newOffset);
        if (status != DiskStatus.Ok)
        {
            if (status != DiskStatus.NoSpace) Fail(status, "writing the log start offset for a full truncation");
            return ErrorCode.KafkaStorageError;
        }
        // Every segment goes: nothing is needed from the syncs of those still closing.
        foreach (var c in _closing)
        {
            c.Settled = true;
            RemoveClosingMarker(c);
        }
        _closing.Clear();
        _deferredCoverage = null;
        foreach (var s in _segments) s.Delete();
        _segments.Clear();
        _segments.Add(LogSegment.Open(_disk, Directory, newOffset, Config, nowMs));
        foreach (long snapshot in SnapshotOffsets()) _disk.DeleteFile(PathOf(ProducerStateManager.SnapshotFileName(snapshot)));
        status = ActiveSegment.SyncAll();
        if (status == DiskStatus.Ok) status = _disk.SyncDirectory(Directory);
        if (status != DiskStatus.Ok)
        {
            Fail(status, "restarting the log empty");
            return ErrorCode.KafkaStorageError;
        }
        LogStartOffset = newOffset;
        _highWatermark = newOffset;
        _localCommittable = newOffset;
        FlushedOffset = newOffset;
        _syncCoversOffset = Math.Min(_syncCoversOffset, newOffset);
        CleanerCheckpoint = newOffset;
        _epochs.Clear();
        WriteLeaderEpochCheckpoint();
        _producers.Clear();
        Transactions.Clear();
        CheckInvariants();
        _log.Info("Log {Log}: truncated fully; starts empty at offset {Offset}", TopicPartition, newOffset);
        return ErrorCode.None;
    }

    /// <summary>The segments were cut (and are durable): every offset-derived state comes down to the new end.</summary>
    private void AfterTruncation()
    {
        long end = LogEndOffset;
        FlushedOffset = Math.Min(FlushedOffset, end);
        // A sync in flight covered offsets that no longer exist: it must not claim the ones appended next.
        _syncCoversOffset = Math.Min(_syncCoversOffset, end);
        _localCommittable = Math.Min(_localCommittable, end);
        _highWatermark = Math.Min(_highWatermark, end);
        CleanerCheckpoint = Math.Min(CleanerCheckpoint, end);
        if (_epochs.TruncateFromEnd(end)) WriteLeaderEpochCheckpoint();
        // Snapshots past the new end describe removed batches; recovery's rebuild deletes them and replays the rest.
        RecoverProducerState();
        CheckInvariants();
    }
}
