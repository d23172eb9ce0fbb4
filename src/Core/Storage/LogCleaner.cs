using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>The cleaner's knobs, named after Kafka's broker configs where one exists.</summary>
public sealed record LogCleanerConfig
{
    /// <summary>log.cleaner.enable.</summary>
    public bool Enable { get; init; } = true;

    /// <summary>log.cleaner.backoff.ms: how long the cleaner sleeps when no log needs cleaning.</summary>
    public long BackoffMs { get; init; } = 15_000;

    /// <summary>Keys the offset map holds (Kafka bounds it by log.cleaner.dedupe.buffer.size; we bound entries and
    /// key bytes). A dirty section with more distinct keys is cleaned in several passes.</summary>
    public int MaxMapEntries { get; init; } = 1_000_000;

    /// <summary>Key bytes the offset map holds, besides <see cref="MaxMapEntries"/>.</summary>
    public long MaxMapKeyBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Log bytes read per step: one step is one <c>Poll</c>, so this bounds how long the cleaner holds
    /// the node's single thread between requests.</summary>
    public int BytesPerStep { get; init; } = 1024 * 1024;

    /// <summary>Delay between steps while a cleaning is under way (other inputs run in between).</summary>
    public long StepIntervalMs { get; init; } = 1;

    public static LogCleanerConfig Default { get; } = new();
}

/// <summary>Ways to break the cleaner on purpose, so tests can show each simulator check catches its bug.</summary>
public enum CleanerBreak
{
    None,

    /// <summary>Drops some keys' latest record.</summary>
    DropLatest,

    /// <summary>Drops tombstones at once, ignoring delete.retention.ms.</summary>
    EarlyTombstoneRemoval,

    /// <summary>Reports (and checkpoints) a pass end below the real one, so records removed lie above the
    /// point the cleaner admits to.</summary>
    UnderreportPassEnd,
}

/// <summary>Counters for tests, the simulator and the benchmark.</summary>
public sealed class LogCleanerStats
{
    public long Cleanings { get; internal set; }
    public long Passes { get; internal set; }
    public long Swaps { get; internal set; }
    public long Aborted { get; internal set; }
    public long BytesRead { get; internal set; }
    public long BytesWritten { get; internal set; }
    public long RecordsRemoved { get; internal set; }
    public long TombstonesRemoved { get; internal set; }
    public long Steps { get; internal set; }

    /// <summary>The highest pass end the cleaner has reported: no record at or above it was ever removed.</summary>
    public long HighestPassEnd { get; internal set; }
}

/// <summary>
/// Log compaction as Core work: <see cref="Step"/> runs on the node's thread from <c>Poll</c> and reads at most
/// <see cref="LogCleanerConfig.BytesPerStep"/> log bytes, so produce and fetch interleave with a long clean.
/// <para>One cleaning: pick the dirtiest eligible log (cleanup.policy has compact; dirty bytes / cleanable bytes
/// at least min.cleanable.dirty.ratio, or its oldest dirty record older than max.compaction.lag.ms). The
/// cleanable range ends at the active segment, at the high watermark and at the first segment holding a
/// record newer than min.compaction.lag.ms. Build the map key -&gt; latest offset over the dirty section
/// [cleaner checkpoint, end); when the map fills, the pass ends at that batch and the rest waits for the next
/// pass. Then rewrite every segment below the pass end in groups (consecutive segments whose total fits
/// segment.bytes) into one <c>.cleaned</c> segment each, keeping a record when no later offset for its key is
/// in the map, or it is at or above the pass end; a tombstone (null value) the map keeps is still dropped once
/// older than delete.retention.ms. Offsets and timestamps never change: a batch that loses records keeps its
/// base and last offset, its base timestamp and its attributes; the survivors' bytes are copied as they were
/// (recompressed with the batch's own codec when it was compressed) and the CRC recomputed.</para>
/// <para>The swap of a group is atomic across crashes: the output is synced, then a swap record naming the
/// group (<c>cleaner-swap.checkpoint</c>: first and last replaced base offsets) is written, synced and renamed
/// into place with a directory sync: that is the commit. Then the <c>.cleaned</c> files are renamed over the
/// first replaced segment, the other replaced segments deleted, the directory synced, and the swap record
/// deleted. Recovery (<see cref="RecoverSwap"/>) redoes those idempotent steps when a swap record is present
/// and deletes stray <c>.cleaned</c> files when not, so a crash anywhere leaves the old set or the new one.
/// Groups are swapped oldest first, so an older value a tombstone shadowed is gone before the tombstone can go.</para>
/// </summary>
public sealed class LogCleaner
{
    public const string CleanedSuffix = ".cleaned";
    public const string SwapFile = "cleaner-swap.checkpoint";
    private const int SwapVersion = 0;
    private const int SwapSize = 24;

    private readonly LogCleanerConfig _config;
    private readonly IBrokerLog _log;
    private readonly Dictionary<byte[], long> _map = new(ByteArrayComparer.Instance);
    private long _mapKeyBytes;
    private byte[] _readBuffer = new byte[64 * 1024];
    private Job? _job;

    public LogCleaner(LogCleanerConfig config, IBrokerLog log)
    {
        _config = config;
        _log = log;
    }

    public LogCleanerConfig Config => _config;
    public LogCleanerStats Stats { get; } = new();

    /// <summary>Test-only switch: each simulator check must be shown to fail when the cleaner is broken on
    /// purpose. Never set outside tests.</summary>
    public static CleanerBreak BreakForTests
    {
        get => _breakForTests;
        set => _breakForTests = value;
    }

    // Per thread, so a test breaking the cleaner cannot reach tests running beside it.
    [ThreadStatic] private static CleanerBreak _breakForTests;

    /// <summary>The log being cleaned and the end of the current pass, for the simulator's checks.</summary>
    public (TopicPartition Log, long PassEnd)? Current => _job is { MapDone: true } j ? (j.Log.TopicPartition, j.ReportedPassEnd) : null;

    private enum Phase { BuildMap, Rewrite }

    private sealed class Job(UnifiedLog log, long dirtyStart, long cleanableEnd)
    {
        public readonly UnifiedLog Log = log;
        public readonly long DirtyStart = dirtyStart;
        public readonly long CleanableEnd = cleanableEnd;
        public Phase Phase = Phase.BuildMap;
        public bool MapDone;
        public long PassEnd;
        public long ReportedPassEnd;
        // Map building: the segment and byte position of the next batch to read.
        public int SegmentAt;
        public int Position;
        // Rewriting: the group under way, its output, and the next batch to copy.
        public List<LogSegment> Group = new();
        // The log's segments below the cleanable end as the cleaner last saw them: any other change (retention,
        // DeleteRecords) abandons the cleaning.
        public List<LogSegment> Snapshot = new();

        public void TakeSnapshot()
        {
            Snapshot.Clear();
            foreach (var s in Log.Segments)
                if (s.BaseOffset < CleanableEnd && !ReferenceEquals(s, Log.ActiveSegment)) Snapshot.Add(s);
        }
        public int GroupMember;
        public LogSegment? Output;
    }

    /// <summary>
    /// One bounded piece of cleaning. Returns true while a cleaning is under way (call again after
    /// <see cref="LogCleanerConfig.StepIntervalMs"/>), false when idle (after <see cref="LogCleanerConfig.BackoffMs"/>).
    /// </summary>
    public bool Step(LogManager logs, long nowMs)
    {
        if (!_config.Enable) return false;
        Stats.Steps++;
        if (_job is null)
        {
            _job = Select(logs, nowMs);
            if (_job is null) return false;
            Stats.Cleanings++;
        }
        var job = _job;
        if (!StillValid(logs, job))
        {
            Abort(job, "the log changed under the cleaner");
            return true;
        }
        long budget = _config.BytesPerStep;
        try
        {
            while (budget > 0 && _job == job)
            {
                if (job.Phase == Phase.BuildMap) BuildMap(job, ref budget);
                else Rewrite(job, nowMs, ref budget);
            }
        }
        catch (CleanerStorageException e)
        {
            Abort(job, e.Message);
        }
        return true;
    }

    private sealed class CleanerStorageException(string message) : Exception(message);

    /// <summary>The dirtiest log worth cleaning now, or null.</summary>
    private Job? Select(LogManager logs, long nowMs)
    {
        Job? best = null;
        double bestRatio = -1;
        foreach (var log in logs.Logs)
        {
            var c = log.Config;
            if (!c.Compacts || log.Failure != ErrorCode.None || log.Segments.Count < 2) continue;
            long end = FirstUncleanableOffset(log, nowMs);
            long dirtyStart = Math.Max(log.CleanerCheckpoint, log.LogStartOffset);
            if (dirtyStart >= end) continue;
            long clean = 0, dirty = 0;
            long oldestDirtyTimestamp = long.MaxValue;
            for (int i = 0; i < log.Segments.Count - 1; i++)
            {
                var s = log.Segments[i];
                if (s.BaseOffset >= end) break;
                bool isDirty = log.Segments[i + 1].BaseOffset > dirtyStart;
                if (isDirty)
                {
                    dirty += s.Size;
                    if (s.LargestTimestamp >= 0) oldestDirtyTimestamp = Math.Min(oldestDirtyTimestamp, s.LargestTimestamp);
                }
                else clean += s.Size;
            }
            if (dirty == 0) continue;
            double ratio = (double)dirty / (clean + dirty);
            bool overdue = c.MaxCompactionLagMs != long.MaxValue && oldestDirtyTimestamp != long.MaxValue
                           && nowMs - oldestDirtyTimestamp > c.MaxCompactionLagMs;
            if (ratio < c.MinCleanableDirtyRatio && !overdue) continue;
            if (overdue) ratio += 1; // Kafka cleans logs past max.compaction.lag.ms first
            if (ratio > bestRatio)
            {
                bestRatio = ratio;
                best = new Job(log, dirtyStart, end);
            }
        }
        if (best is null) return null;
        // Map building starts at the segment holding the dirty start.
        var segments = best.Log.Segments;
        while (best.SegmentAt < segments.Count - 1 && segments[best.SegmentAt + 1].BaseOffset <= best.DirtyStart) best.SegmentAt++;
        best.PassEnd = best.CleanableEnd;
        best.TakeSnapshot();
        _map.Clear();
        _mapKeyBytes = 0;
        _log.Debug("Cleaner: cleaning {Log} from {Start} to {End}", best.Log.TopicPartition, best.DirtyStart, best.CleanableEnd);
        return best;
    }

    /// <summary>Kafka's first uncleanable offset: the active segment's base, the high watermark, and the first
    /// segment holding a record younger than min.compaction.lag.ms. Always a segment base (or the watermark).</summary>
    public static long FirstUncleanableOffset(UnifiedLog log, long nowMs)
    {
        // A rolled segment still waiting for its syncs is never cleaned: recovery reads a gap after it as a lost
        // tail (STORAGE.md, "Segment roll"). Strict logs' high watermark already stops there; relaxed ones' not.
        long end = Math.Min(Math.Min(log.ActiveSegment.BaseOffset, log.HighWatermark), log.FirstClosingBaseOffset);
        long lag = log.Config.MinCompactionLagMs;
        if (lag > 0)
        {
            foreach (var s in log.Segments)
            {
                if (s.BaseOffset >= end) break;
                if (!s.IsEmpty && s.LargestTimestamp > nowMs - lag)
                {
                    end = s.BaseOffset;
                    break;
                }
            }
        }
        // Only whole segments are cleaned: the end must be a segment boundary.
        long boundary = log.Segments[0].BaseOffset;
        foreach (var s in log.Segments)
            if (s.BaseOffset <= end) boundary = s.BaseOffset;
        return boundary;
    }

    private static bool StillValid(LogManager logs, Job job)
    {
        var log = job.Log;
        if (!ReferenceEquals(logs.GetLog(log.TopicPartition), log) || log.Failure != ErrorCode.None || !log.Config.Compacts)
            return false;
        if (log.Segments.Count <= job.Snapshot.Count) return false;
        for (int i = 0; i < job.Snapshot.Count; i++)
            if (!ReferenceEquals(log.Segments[i], job.Snapshot[i])) return false;
        return true;
    }

    private void Abort(Job job, string why)
    {
        _log.Warn("Cleaner: abandoning the cleaning of {Log}: {Why}", job.Log.TopicPartition, why);
        if (job.Output is { } output) DeleteQuietly(output);
        job.Output = null;
        _job = null;
        _map.Clear();
        _mapKeyBytes = 0;
        Stats.Aborted++;
    }

    private void DeleteQuietly(LogSegment output)
    {
        try
        {
            output.Delete();
        }
        catch (InvalidOperationException)
        {
            // Files already gone: nothing to clean up.
        }
    }

    // ---- phase 1: the offset map ---------------------------------------------------------------------------

    private void BuildMap(Job job, ref long budget)
    {
        var segments = job.Log.Segments;
        while (budget > 0)
        {
            if (job.SegmentAt >= segments.Count || segments[job.SegmentAt].BaseOffset >= job.CleanableEnd)
            {
                FinishMap(job, job.CleanableEnd);
                return;
            }
            var segment = segments[job.SegmentAt];
            if (!segment.TryReadHeader(job.Position, out var header))
            {
                job.SegmentAt++;
                job.Position = 0;
                continue;
            }
            if (header.LastOffset < job.DirtyStart)
            {
                job.Position += (int)header.TotalSize;
                continue;
            }
            // The map is full: this pass ends before this batch (never before the first one, which always fits).
            bool full = _map.Count + header.RecordsCount > _config.MaxMapEntries || _mapKeyBytes > _config.MaxMapKeyBytes;
            if (full && _map.Count > 0)
            {
                FinishMap(job, header.BaseOffset);
                return;
            }
            if (!header.IsControl && !header.IsTransactional && CleanerCodec.CanRewrite(header.Codec))
            {
                int size = (int)header.TotalSize;
                if (_readBuffer.Length < size) _readBuffer = new byte[Math.Max(size, 2 * _readBuffer.Length)];
                segment.CopyTo(job.Position, _readBuffer.AsSpan(0, size));
                ReadOnlySpan<byte> body = _readBuffer.AsSpan(RecordBatch.RecordsOffset, size - RecordBatch.RecordsOffset);
                if (header.Codec != CompressionCodec.None) body = CleanerCodec.Decompress(header.Codec, body);
                AddKeys(body, header, job.DirtyStart);
            }
            job.Position += (int)header.TotalSize;
            budget -= header.TotalSize;
            Stats.BytesRead += header.TotalSize;
        }
    }

    /// <summary>Records each key's offset in the map, walking the records in place: a key already mapped is
    /// looked up by its bytes (no allocation); only a new key is copied.</summary>
    private void AddKeys(ReadOnlySpan<byte> body, in RecordBatchHeader header, long dirtyStart)
    {
        var lookup = _map.GetAlternateLookup<ReadOnlySpan<byte>>();
        var reader = new SpanReader(body);
        for (int i = 0; i < header.RecordsCount; i++)
        {
            if (!reader.TryReadVarInt(out int length) || length < 0 || length > reader.Remaining)
                throw new InvariantViolationException("the cleaner read an invalid record from a validated batch");
            var record = new SpanReader(reader.Take(length));
            if (!(record.TryReadByte(out _) && record.TryReadVarLong(out _) && record.TryReadVarInt(out int offsetDelta)
                  && record.TryReadNullableBytes(out var key, out bool keyNull)))
                throw new InvariantViolationException("the cleaner read an invalid record from a validated batch");
            long offset = header.BaseOffset + offsetDelta;
            if (offset < dirtyStart || keyNull) continue;
            if (!lookup.ContainsKey(key)) _mapKeyBytes += key.Length + 48;
            lookup[key] = offset;
        }
    }

    private void FinishMap(Job job, long passEnd)
    {
        job.PassEnd = passEnd;
        job.ReportedPassEnd = BreakForTests == CleanerBreak.UnderreportPassEnd ? job.DirtyStart : passEnd;
        Stats.HighestPassEnd = Math.Max(Stats.HighestPassEnd, job.ReportedPassEnd);
        job.MapDone = true;
        job.Phase = Phase.Rewrite;
        job.SegmentAt = 0;
        job.Position = 0;
        Stats.Passes++;
        if (!NextGroup(job)) Finish(job);
    }

    // ---- phase 2: rewriting groups -------------------------------------------------------------------------

    /// <summary>Chooses the next group (from the segment at <c>SegmentAt</c>) and opens its output; false when no
    /// segment below the pass end is left.</summary>
    private bool NextGroup(Job job)
    {
        var segments = job.Log.Segments;
        job.Group.Clear();
        job.GroupMember = 0;
        job.Position = 0;
        int at = job.SegmentAt;
        if (at >= segments.Count - 1 || segments[at].BaseOffset >= job.PassEnd) return false;
        long size = 0;
        long first = segments[at].BaseOffset;
        while (at < segments.Count - 1 && segments[at].BaseOffset < job.PassEnd)
        {
            var s = segments[at];
            long groupEnd = segments[at + 1].BaseOffset;
            bool fits = job.Group.Count == 0
                        || (size + s.Size <= job.Log.Config.SegmentBytes && groupEnd - first - 1 <= int.MaxValue);
            if (!fits) break;
            job.Group.Add(s);
            size += s.Size;
            at++;
        }
        var log = job.Log;
        job.Output = LogSegment.OpenWithSuffix(log.Disk, log.Directory, first, log.Config, 0, CleanedSuffix);
        return true;
    }

    private void Rewrite(Job job, long nowMs, ref long budget)
    {
        var output = job.Output!;
        var records = new List<RawRecord>();
        while (budget > 0)
        {
            if (job.GroupMember >= job.Group.Count)
            {
                Swap(job);
                job.SegmentAt = IndexOf(job.Log.Segments, job.Output!) + 1;
                job.Output = null;
                if (!NextGroup(job)) Finish(job);
                return;
            }
            var segment = job.Group[job.GroupMember];
            if (!segment.TryReadHeader(job.Position, out var header))
            {
                job.GroupMember++;
                job.Position = 0;
                continue;
            }
            var bytes = segment.ReadBytes(job.Position, job.Position + (int)header.TotalSize);
            job.Position += (int)header.TotalSize;
            budget -= header.TotalSize;
            Stats.BytesRead += header.TotalSize;
            var kept = Filter(job, bytes, header, nowMs, records);
            if (kept is null) continue;
            Check.That(RecordBatchHeader.TryRead(kept, out var keptHeader));
            var v = RecordBatchValidator.ValidateBatch(kept, RecordValidationOptions.ForRecovery());
            Check.That(v.IsValid, "a cleaned batch is a valid batch");
            long maxTimestamp = keptHeader.MaxTimestamp;
            var status = output.AppendCleaned(kept, keptHeader, maxTimestamp);
            if (status != DiskStatus.Ok) throw new CleanerStorageException($"writing the cleaned segment: {status}");
            Stats.BytesWritten += kept.Length;
        }
    }

    /// <summary>The batch as it survives cleaning: itself when every record stays, null when none does, else a
    /// rebuilt batch holding the survivors.</summary>
    private byte[]? Filter(Job job, byte[] batch, in RecordBatchHeader header, long nowMs, List<RawRecord> records)
    {
        if (header.IsControl || header.IsTransactional || !CleanerCodec.CanRewrite(header.Codec)) return batch;
        // An idempotent producer's newest batch stays whole, as Kafka's cleaner keeps it: producer state rebuilt
        // from the log (a restart without a usable snapshot) must still know the producer's last sequence.
        if (header.ProducerId >= 0 && job.Log.Producers.IsLastBatch(header.ProducerId, header.LastOffset)) return batch;
        records.Clear();
        byte[] body = header.Codec != CompressionCodec.None
            ? CleanerCodec.Decompress(header.Codec, batch.AsSpan(RecordBatch.RecordsOffset))
            : batch.AsSpan(RecordBatch.RecordsOffset).ToArray();
        RawRecord.ParseAll(body, header, records);
        int kept = 0;
        long deleteHorizon = nowMs - job.Log.Config.DeleteRetentionMs;
        foreach (var r in records)
        {
            r.Keep = ShouldKeep(job, r, deleteHorizon);
            if (r.Keep) kept++;
            else
            {
                Stats.RecordsRemoved++;
                if (r.IsTombstone) Stats.TombstonesRemoved++;
            }
        }
        if (kept == records.Count) return batch;
        if (kept == 0) return null;

        // Survivors keep their bytes (deltas stay relative to the unchanged base offset and base timestamp).
        var survivors = new List<byte>(body.Length);
        long maxTimestamp = RecordBatch.NoTimestamp;
        Span<byte> varint = stackalloc byte[5];
        foreach (var r in records)
        {
            if (!r.Keep) continue;
            int n = WriteVarInt(varint, r.Length);
            for (int i = 0; i < n; i++) survivors.Add(varint[i]);
            survivors.AddRange(body.AsSpan(r.Start, r.Length));
            maxTimestamp = Math.Max(maxTimestamp, r.Timestamp);
        }
        byte[] payload = survivors.ToArray();
        if (header.Codec != CompressionCodec.None) payload = CleanerCodec.Compress(header.Codec, payload);
        var rebuilt = new byte[RecordBatch.HeaderSize + payload.Length];
        batch.AsSpan(0, RecordBatch.HeaderSize).CopyTo(rebuilt);
        payload.CopyTo(rebuilt.AsSpan(RecordBatch.HeaderSize));
        var s = rebuilt.AsSpan();
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.BatchLengthOffset..], rebuilt.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.RecordsCountOffset..], kept);
        // Under LogAppendTime the max timestamp is the append time, which stays; under CreateTime it is the
        // survivors' largest, as Kafka's builder computes it.
        if (header.TimestampType == TimestampType.CreateTime)
            BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.MaxTimestampOffset..], maxTimestamp);
        RecordBatch.WriteCrc(s);
        return rebuilt;
    }

    private bool ShouldKeep(Job job, RawRecord r, long deleteHorizon)
    {
        long offset = r.Offset;
        if (offset >= job.PassEnd) return true; // above this pass: untouched
        if (r.Key is null) return false; // Kafka drops keyless records from a compacted log
        if (_map.TryGetValue(r.Key, out long latest) && latest > offset) return false;
        if (BreakForTests == CleanerBreak.DropLatest && latest == offset && (offset & 1) == 0) return false;
        if (BreakForTests == CleanerBreak.EarlyTombstoneRemoval && r.IsTombstone) return false;
        // The latest record of its key (or clean before this pass and not superseded). A tombstone goes once it
        // is older than delete.retention.ms: every older value of its key is below it, in this pass's groups.
        if (r.IsTombstone && r.Timestamp < deleteHorizon) return false;
        return true;
    }

    private static int IndexOf(IReadOnlyList<LogSegment> segments, LogSegment segment)
    {
        for (int i = 0; i < segments.Count; i++)
            if (ReferenceEquals(segments[i], segment)) return i;
        return -1;
    }

    private static int WriteVarInt(Span<byte> destination, int value)
    {
        uint v = (uint)((value << 1) ^ (value >> 31));
        int n = 0;
        while (v >= 0x80)
        {
            destination[n++] = (byte)(v | 0x80);
            v >>= 7;
        }
        destination[n++] = (byte)v;
        return n;
    }

    // ---- the swap ------------------------------------------------------------------------------------------

    private void Swap(Job job)
    {
        var log = job.Log;
        var disk = log.Disk;
        var output = job.Output!;
        var status = output.SyncAll();
        if (status != DiskStatus.Ok) throw new CleanerStorageException($"syncing the cleaned segment: {status}");
        // Commit: the swap record, durable (its rename made durable by the directory sync).
        long first = job.Group[0].BaseOffset, last = job.Group[^1].BaseOffset;
        status = WriteSwapRecord(disk, log.Directory, first, last, out bool renamed);
        if (status != DiskStatus.Ok)
        {
            if (renamed)
            {
                // The record is in place but not known durable; a later directory sync could make it so after
                // the output is deleted. Remove it, and take the log offline as after any failed sync.
                disk.DeleteFile(LogSegment.PathOf(log.Directory, SwapFile));
                log.FailFromCleaner(status, "syncing the directory for a cleaner swap");
            }
            throw new CleanerStorageException($"writing the swap record: {status}");
        }
        // From here the new set is the log's, whatever happens: recovery finishes a committed swap.
        status = CompleteSwap(disk, log.Directory, first, last);
        output.OnRenamedLive();
        log.ReplaceSegments(job.Group, output);
        job.TakeSnapshot();
        Stats.Swaps++;
        if (status != DiskStatus.Ok) log.FailFromCleaner(status, "completing a cleaner swap");
    }

    private static DiskStatus WriteSwapRecord(IDisk disk, string directory, long first, long last, out bool renamed)
    {
        renamed = false;
        string path = LogSegment.PathOf(directory, SwapFile);
        string tmp = path + ".tmp";
        Span<byte> bytes = stackalloc byte[SwapSize];
        BinaryPrimitives.WriteInt32BigEndian(bytes, SwapVersion);
        BinaryPrimitives.WriteInt64BigEndian(bytes[4..], first);
        BinaryPrimitives.WriteInt64BigEndian(bytes[12..], last);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[20..], Crc32C.Compute(bytes[..20]));
        DiskStatus status;
        using (var file = disk.Open(tmp, create: true))
        {
            file.Truncate(0);
            status = file.Write(0, bytes);
            if (status == DiskStatus.Ok) status = file.SyncNow();
        }
        if (status != DiskStatus.Ok)
        {
            disk.DeleteFile(tmp);
            return status;
        }
        disk.Rename(tmp, path);
        renamed = true;
        return disk.SyncDirectory(directory);
    }

    /// <summary>The idempotent second half of a swap: the <c>.cleaned</c> files become the first replaced
    /// segment, the other replaced segments go, the directory is synced, then the swap record goes.</summary>
    private static DiskStatus CompleteSwap(IDisk disk, string directory, long first, long last)
    {
        string firstStem = LogSegment.PathOf(directory, LogSegment.FileStem(first));
        // The index files first and the log last: a .log.cleaned present means the indexes may still be to do.
        foreach (var suffix in new[] { LogSegment.IndexSuffix, LogSegment.TimeIndexSuffix, LogSegment.LogSuffix })
        {
            string cleaned = firstStem + suffix + CleanedSuffix;
            if (disk.FileExists(cleaned)) disk.Rename(cleaned, firstStem + suffix);
        }
        foreach (var name in disk.List(directory))
        {
            foreach (var suffix in new[] { LogSegment.LogSuffix, LogSegment.IndexSuffix, LogSegment.TimeIndexSuffix })
            {
                if (LogSegment.TryParseFileName(name, suffix, out long b) && b > first && b <= last)
                    disk.DeleteFile(LogSegment.PathOf(directory, name));
            }
        }
        var status = disk.SyncDirectory(directory);
        if (status != DiskStatus.Ok) return status;
        disk.DeleteFile(LogSegment.PathOf(directory, SwapFile));
        return disk.SyncDirectory(directory);
    }

    /// <summary>
    /// Recovery of a log directory, before its segments are opened: a valid swap record means the swap was
    /// committed, so it is completed; otherwise (or when the record is damaged, which only a crash before its
    /// rename can leave, as a .tmp) any <c>.cleaned</c> file is an unfinished output and is deleted.
    /// </summary>
    public static void RecoverSwap(IDisk disk, string directory, TopicPartition tp, IBrokerLog log)
    {
        string path = LogSegment.PathOf(directory, SwapFile);
        if (disk.FileExists(path) && ReadSwapRecord(disk, path) is { } swap)
        {
            log.Warn("Log {Log}: completing the cleaner's swap of segments {First}..{Last} after a crash", tp, swap.First, swap.Last);
            var status = CompleteSwap(disk, directory, swap.First, swap.Last);
            if (status != DiskStatus.Ok) throw new InvalidOperationException($"{tp}: completing a cleaner swap failed: {status}");
            return;
        }
        if (disk.FileExists(path))
        {
            log.Warn("Log {Log}: ignoring a damaged cleaner swap record", tp);
            disk.DeleteFile(path);
        }
        bool deleted = false;
        foreach (var name in disk.List(directory))
        {
            if (!name.EndsWith(CleanedSuffix, StringComparison.Ordinal)) continue;
            disk.DeleteFile(LogSegment.PathOf(directory, name));
            deleted = true;
        }
        if (deleted) log.Info("Log {Log}: discarded an unfinished cleaner output", tp);
    }

    private static (long First, long Last)? ReadSwapRecord(IDisk disk, string path)
    {
        using var file = disk.Open(path, create: false);
        Span<byte> bytes = stackalloc byte[SwapSize];
        if (file.Length != SwapSize || file.Read(0, bytes) != SwapSize
            || BinaryPrimitives.ReadInt32BigEndian(bytes) != SwapVersion
            || BinaryPrimitives.ReadUInt32BigEndian(bytes[20..]) != Crc32C.Compute(bytes[..20]))
            return null;
        return (BinaryPrimitives.ReadInt64BigEndian(bytes[4..]), BinaryPrimitives.ReadInt64BigEndian(bytes[12..]));
    }

    private void Finish(Job job)
    {
        job.Log.CleanerCheckpoint = Math.Max(job.Log.CleanerCheckpoint, job.ReportedPassEnd);
        _log.Debug("Cleaner: {Log} clean up to {End}", job.Log.TopicPartition, job.PassEnd);
        _job = null;
        _map.Clear();
        _mapKeyBytes = 0;
    }

    /// <summary>One record inside a batch body: where its bytes are and what the cleaner needs to decide.</summary>
    private sealed class RawRecord
    {
        public int Start;
        public int Length;
        public long Offset;
        public long Timestamp;
        public byte[]? Key;
        public bool IsTombstone;
        public bool Keep;

        public static void ParseAll(byte[] body, in RecordBatchHeader header, List<RawRecord> into)
        {
            var reader = new SpanReader(body);
            for (int i = 0; i < header.RecordsCount; i++)
            {
                Check.That(reader.TryReadVarInt(out int length) && length >= 0 && length <= reader.Remaining, "valid record");
                int start = body.Length - reader.Remaining;
                var record = new SpanReader(reader.Take(length));
                if (!(record.TryReadByte(out _) && record.TryReadVarLong(out long timestampDelta)
                      && record.TryReadVarInt(out int offsetDelta)
                      && record.TryReadNullableBytes(out var key, out bool keyNull)
                      && record.TryReadNullableBytes(out _, out bool valueNull)))
                    throw new InvariantViolationException("the cleaner read an invalid record from a validated batch");
                into.Add(new RawRecord
                {
                    Start = start,
                    Length = length,
                    Offset = header.BaseOffset + offsetDelta,
                    Timestamp = header.TimestampType == TimestampType.LogAppendTime ? header.MaxTimestamp : header.BaseTimestamp + timestampDelta,
                    Key = keyNull ? null : key.ToArray(),
                    IsTombstone = valueNull,
                });
            }
        }
    }
}

/// <summary>Byte-wise key equality with a deterministic FNV-1a hash (string.GetHashCode/HashCode are banned).</summary>
internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] key) => Hash(key);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<byte> key)
    {
        uint h = 2166136261;
        foreach (byte b in key) h = (h ^ b) * 16777619;
        return (int)h;
    }
}
