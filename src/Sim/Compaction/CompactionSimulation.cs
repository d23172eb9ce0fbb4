using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;

namespace DetKafka.Sim.Compaction;

/// <summary>Knobs of a compaction run. Defaults: small segments, a cleaner that runs every few milliseconds,
/// a small key space with a skewed distribution, tombstones, crashes and disk faults.</summary>
public sealed record CompactionSimOptions
{
    public int Steps { get; init; } = 4_000;
    public int Keys { get; init; } = 40;

    /// <summary>Skew: key = floor(Keys * u^Skew); 1 is uniform, larger favours the low keys.</summary>
    public double Skew { get; init; } = 3;

    public double TombstoneProbability { get; init; } = 0.08;
    public double CrashProbability { get; init; } = 0.004;
    public double DiskFaultProbability { get; init; } = 0.002;
    public long DeleteRetentionMs { get; init; } = 2_000;
    public long MinCompactionLagMs { get; init; } = 300;

    /// <summary>cleanup.policy=compact,delete with this retention.ms (data older than it may go with its segment).</summary>
    public long RetentionMs { get; init; } = 60_000;

    public int SegmentBytes { get; init; } = 1_200;
    public int MapEntries { get; init; } = 16;
    public int BytesPerStep { get; init; } = 600;
}

/// <summary>The outcome: the first failed check (null when all held), the trace hash, and counters.</summary>
public sealed record CompactionSimResult(ulong Seed, string? Violation, ulong TraceHash, IReadOnlyList<string> Trace,
    IReadOnlyDictionary<string, long> Counters)
{
    public bool Passed => Violation is null;
}

/// <summary>
/// The compaction workload: one partition log with cleanup.policy=compact,delete on a <see cref="SimDisk"/>,
/// driven by a seeded random through the same Core objects the broker uses (<see cref="LogManager"/>,
/// <see cref="UnifiedLog"/>, <see cref="LogCleaner"/>). Each step is one input: a produce of 1-4 keyed records
/// (keys drawn skewed, some tombstones, every other batch gzip), sync completions (which acknowledge), a
/// cleaner step (bounded, often), retention, a clock advance, a crash with torn tails and restart, or a disk
/// fault (a failed write, sync or directory sync; the log goes offline and the node restarts). After every
/// step the log is read from its start as a consumer would, and checked against the model of what was
/// acknowledged:
/// <list type="bullet">
/// <item>latest-value: every key's latest acknowledged record is present at its original offset with its
/// value (unless it is a tombstone older than delete.retention.ms, or retention took it lawfully);</item>
/// <item>offsets-increasing: offsets read strictly increase, and each record read is exactly what was written
/// at that offset (so a key's values appear in write order);</item>
/// <item>tombstone-retention: a tombstone that is its key's latest disappears only after delete.retention.ms;</item>
/// <item>above-cleaner-point: every acknowledged record at or above the highest pass end the cleaner reported is
/// present;</item>
/// <item>retention-bounds: a record below the log start offset is older than retention.ms.</item>
/// </list>
/// A pure function of (seed, options): the trace (one line per step) and its hash repeat exactly.
/// </summary>
public static class CompactionSimulation
{
    private const string Dir = "data";
    private static readonly TopicPartition Tp = new("compacted", 0);

    private sealed record Written(long Offset, string Key, string? Value, long Timestamp);

    public static CompactionSimResult Run(ulong seed, CompactionSimOptions? options = null)
    {
        options ??= new CompactionSimOptions();
        var random = new SeededRandom(seed);
        var crashRandom = new SeededRandom(SimulationOptions.SubSeed(seed, 77));
        var disk = new SimDisk();
        var clock = new ManualClock();
        var trace = new List<string>();
        ulong hash = 14695981039346656037UL;
        var counters = new SortedDictionary<string, long>(StringComparer.Ordinal);
        void Count(string name) => counters[name] = counters.GetValueOrDefault(name) + 1;
        void Trace(string line)
        {
            trace.Add(line);
            foreach (char c in line) hash = (hash ^ c) * 1099511628211UL;
            hash = (hash ^ '\n') * 1099511628211UL;
        }

        var config = LogConfig.Default with
        {
            CleanupPolicy = "compact,delete",
            SegmentBytes = options.SegmentBytes,
            IndexIntervalBytes = 200,
            MinCleanableDirtyRatio = 0.2,
            DeleteRetentionMs = options.DeleteRetentionMs,
            MinCompactionLagMs = options.MinCompactionLagMs,
            RetentionMs = options.RetentionMs,
            SegmentMs = 1_000,
        };
        var cleanerConfig = new LogCleanerConfig { MaxMapEntries = options.MapEntries, BytesPerStep = options.BytesPerStep };
        LogManager manager = null!;
        UnifiedLog log = null!;
        LogCleaner? cleaner = null;
        long swaps = 0, removed = 0;
        void Boot()
        {
            if (cleaner is not null)
            {
                swaps += cleaner.Stats.Swaps;
                removed += cleaner.Stats.RecordsRemoved;
            }
            manager = new LogManager(disk, Dir, NullBrokerLog.Instance);
            manager.LoadAll(_ => config, clock.WallClockMs);
            log = manager.GetOrCreateLog(Tp, config, clock.WallClockMs);
            cleaner = new LogCleaner(cleanerConfig, NullBrokerLog.Instance);
        }
        Boot();

        // The model: what was written at each offset, and how far writes are acknowledged (durable).
        var written = new SortedDictionary<long, Written>();
        long acked = 0;
        long cleanerPoint = 0;
        long version = 0;
        string? violation = null;

        for (int step = 0; step < options.Steps && violation is null; step++)
        {
            double roll = random.NextDouble();
            string what;
            if (log.Failure != ErrorCode.None || roll < options.CrashProbability)
            {
                // A crash (or the restart an offline log needs): torn tails, then recovery.
                var report = disk.Crash(crashRandom, partialTails: true, bitFlips: crashRandom.NextBool(0.3) ? 1 : 0);
                disk.FaultHook = null;
                Boot();
                // Offsets the crash took back will be handed out again: forget those writes.
                foreach (var o in written.Keys.Where(o => o >= log.LogEndOffset).ToList()) written.Remove(o);
                // Recovery serves (and so acknowledges) what survived; acknowledged writes must all be there.
                acked = Math.Max(acked, log.HighWatermark);
                what = $"crash lost={report.UnsyncedBytesLost} -> [{log.LogStartOffset},{log.LogEndOffset})";
                Count("crashes");
            }
            else if (roll < options.CrashProbability + options.DiskFaultProbability)
            {
                // The next disk operation of one kind fails once.
                var kind = (SimDiskOperation)random.NextInt(0, 3);
                bool fired = false;
                disk.FaultHook = (op, _) =>
                {
                    if (fired || op != kind) return DiskStatus.Ok;
                    fired = true;
                    return DiskStatus.IoError;
                };
                what = $"fault {kind}";
                Count("faults");
            }
            else if (roll < 0.45)
            {
                int n = random.NextInt(1, 5);
                var records = new List<SimpleRecord>();
                long ts = clock.WallClockMs;
                var pending = new List<(string Key, string? Value)>();
                for (int i = 0; i < n; i++)
                {
                    int k = (int)(options.Keys * Math.Pow(random.NextDouble(), options.Skew));
                    string key = "k" + k.ToString(CultureInfo.InvariantCulture);
                    string? value = random.NextDouble() < options.TombstoneProbability ? null : "v" + (++version).ToString(CultureInfo.InvariantCulture);
                    records.Add(new SimpleRecord(Encoding.UTF8.GetBytes(key), value is null ? null : Encoding.UTF8.GetBytes(value), ts));
                    pending.Add((key, value));
                }
                var codec = step % 2 == 0 ? CompressionCodec.None : CompressionCodec.Gzip;
                var result = log.Append(RecordBatchBuilder.Build(records, codec), ts);
                if (result.Error == ErrorCode.None)
                {
                    for (int i = 0; i < n; i++)
                        written[result.BaseOffset + i] = new Written(result.BaseOffset + i, pending[i].Key, pending[i].Value, ts);
                    log.MaybeStartSync(clock.MonotonicMs);
                }
                what = $"produce {n} -> {result.Error} {result.BaseOffset}";
                Count("produces");
            }
            else if (roll < 0.65)
            {
                int completed = 0;
                foreach (var (token, status) in disk.CompletePendingSyncs())
                {
                    manager.OnSyncCompleted(token, status, clock.MonotonicMs);
                    completed++;
                }
                acked = Math.Max(acked, log.HighWatermark);
                what = $"syncs {completed} hw={log.HighWatermark}";
            }
            else if (roll < 0.85)
            {
                bool busy = cleaner!.Step(manager, clock.WallClockMs);
                cleanerPoint = Math.Max(cleanerPoint, cleaner.Stats.HighestPassEnd);
                what = $"clean busy={busy} point={cleanerPoint} swaps={cleaner.Stats.Swaps}";
                Count("cleaner-steps");
            }
            else if (roll < 0.88)
            {
                log.MaybeRollByTime(clock.WallClockMs);
                int deleted = log.ApplyRetention(clock.WallClockMs);
                what = $"retention deleted={deleted} start={log.LogStartOffset}";
            }
            else
            {
                long ms = random.NextInt(1, 120);
                clock.Advance(ms);
                what = $"advance {ms}";
            }
            Trace(string.Create(CultureInfo.InvariantCulture, $"{step} t={clock.MonotonicMs} {what}"));
            if (log.Failure == ErrorCode.None) violation = CheckLog(log, written, acked, cleanerPoint, config, clock.WallClockMs);
            if (violation is not null) Trace("violation " + violation);
        }
        counters["swaps"] = swaps + cleaner!.Stats.Swaps;
        counters["records-removed"] = removed + cleaner.Stats.RecordsRemoved;
        return new CompactionSimResult(seed, violation, hash, trace, counters);
    }

    /// <summary>Reads the whole log as a consumer and runs every check; the first failure, or null.</summary>
    private static string? CheckLog(UnifiedLog log, SortedDictionary<long, Written> written, long acked,
        long cleanerPoint, LogConfig config, long nowMs)
    {
        var read = new List<DecodedRecord>();
        long offset = log.LogStartOffset;
        for (int guard = 0; guard < 1_000_000 && offset < log.HighWatermark; guard++)
        {
            var r = log.Read(offset, 64 * 1024, log.HighWatermark);
            if (r.Error != ErrorCode.None) return $"read at {offset}: {r.Error}";
            if (r.Records.Length == 0) break;
            var batch = new List<DecodedRecord>();
            if (RecordBatchDecoder.Decode(r.Records.Span, batch) != ErrorCode.None) return $"read at {offset}: undecodable";
            read.AddRange(batch.Where(x => x.Offset >= offset));
            long next = offset;
            var span = r.Records.Span;
            for (int at = 0; at < span.Length;)
            {
                RecordBatchHeader.TryRead(span[at..], out var h);
                next = Math.Max(next, h.NextOffset);
                at += (int)h.TotalSize;
            }
            offset = next;
        }
        return Check(read, written, acked, cleanerPoint, log.LogStartOffset, config, nowMs);
    }

    /// <summary>The checks over one consumer read; public so tests can feed them broken reads directly.</summary>
    public static string? Check(IReadOnlyList<DecodedRecord> read, IReadOnlyDictionary<long, (string Key, string? Value, long Timestamp)> written,
        long acked, long cleanerPoint, long logStart, LogConfig config, long nowMs)
        => Check(read, new SortedDictionary<long, Written>(written.ToDictionary(kv => kv.Key, kv => new Written(kv.Key, kv.Value.Key, kv.Value.Value, kv.Value.Timestamp))),
            acked, cleanerPoint, logStart, config, nowMs);

    private static string? Check(IReadOnlyList<DecodedRecord> read, SortedDictionary<long, Written> written, long acked,
        long cleanerPoint, long logStart, LogConfig config, long nowMs)
    {
        var present = new Dictionary<long, DecodedRecord>();
        for (int i = 0; i < read.Count; i++)
        {
            var r = read[i];
            if (i > 0 && r.Offset <= read[i - 1].Offset)
                return $"[offsets-increasing] offset {r.Offset} after {read[i - 1].Offset}";
            if (!written.TryGetValue(r.Offset, out var w)) return $"[offsets-increasing] offset {r.Offset} was never written";
            string key = r.Key is null ? "" : Encoding.UTF8.GetString(r.Key);
            string? value = r.Value is null ? null : Encoding.UTF8.GetString(r.Value);
            if (key != w.Key || value != w.Value)
                return $"[offsets-increasing] offset {r.Offset} holds {key}={value ?? "null"}, written {w.Key}={w.Value ?? "null"}";
            present[r.Offset] = r;
        }
        var latest = new Dictionary<string, Written>();
        foreach (var w in written.Values)
        {
            if (w.Offset >= acked) break;
            latest[w.Key] = w;
        }
        foreach (var w in written.Values)
        {
            if (w.Offset >= acked) break;
            bool isPresent = present.ContainsKey(w.Offset);
            if (w.Offset < logStart)
            {
                // retention.ms took it with its segment: that segment's newest record (at least this one's
                // timestamp) was older than retention.ms.
                if (nowMs - w.Timestamp <= config.RetentionMs)
                    return $"[retention-bounds] offset {w.Offset} (t={w.Timestamp}) is below the log start {logStart} at {nowMs}, within retention.ms {config.RetentionMs}";
                continue;
            }
            if (isPresent) continue;
            if (w.Offset >= cleanerPoint)
                return $"[above-cleaner-point] offset {w.Offset} ({w.Key}) is gone, above the cleaner's point {cleanerPoint}";
            if (ReferenceEquals(latest[w.Key], w))
            {
                if (w.Value is not null) return $"[latest-value] {w.Key}'s latest value {w.Value} at offset {w.Offset} is gone";
                if (nowMs - w.Timestamp <= config.DeleteRetentionMs)
                    return $"[tombstone-retention] {w.Key}'s tombstone at offset {w.Offset} (t={w.Timestamp}) is gone at {nowMs}, within delete.retention.ms {config.DeleteRetentionMs}";
            }
        }
        return null;
    }
}
