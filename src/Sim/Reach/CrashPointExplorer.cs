using System.Buffers.Binary;
using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Recovery at every step of a multi-file change, and from every combination of damaged or stale index and
/// checkpoint files (SIMULATION.md, "Crash points and damaged start-up files"). A scenario on a <see cref="SimDisk"/>
/// drives the storage layer (LogManager and UnifiedLog) through segment rolls, DeleteRecords (checkpoint written
/// beside, synced, renamed, directory synced; segments deleted, directory synced), retention and the deletion of a
/// second partition. Its disk operations are counted; run k crashes the process at the k-th operation (an exception
/// from the disk's fault hook unwinds the call, as a power cut stops the process there), crashes the disk (only what
/// the sync and directory-sync rules made durable survives) and recovers. After each recovery the log must hold
/// every acknowledged record at its offset, start no earlier than the last acknowledged DeleteRecords, serve only
/// records that were written, and an acknowledged partition deletion must stay deleted.
/// </summary>
public static class CrashPointExplorer
{
    public const string Root = "data";
    public static readonly TopicPartition Tp = new("crash", 0);
    public static readonly TopicPartition Doomed = new("doomed", 0);

    private sealed class CrashPoint : Exception
    {
    }

    /// <summary>What the scenario acknowledged before the crash.</summary>
    private sealed class Acked
    {
        public readonly SortedDictionary<long, long> Values = new();
        public readonly SortedDictionary<long, long> Written = new();
        public long LogStart;
        public long LogStartAsked;
        public bool DoomedDeleted;
    }

    public sealed record Report(int CrashPoints, int Recoveries, IReadOnlyList<string> Problems);

    private static LogConfig Config(IRandom r) => LogConfig.Default with
    {
        SegmentBytes = r.NextInt(300, 900),
        IndexIntervalBytes = r.NextInt(40, 200),
        SegmentIndexBytes = 8 * r.NextInt(4, 32),
    };

    /// <summary>Runs the scenario once per disk operation it performs, crashing there. <paramref name="skipCheckpoint"/>
    /// plants the lost-checkpoint bug (DeleteRecords without its checkpoint).</summary>
    public static Report Explore(ulong seed, bool skipCheckpoint = false, int pointsMax = 2_000)
    {
        int total = CountOperations(seed, skipCheckpoint);
        var problems = new List<string>();
        int recoveries = 0;
        int points = Math.Min(total, pointsMax);
        for (int k = 0; k <= points; k++)
        {
            var disk = new SimDisk();
            var acked = new Acked();
            int ops = 0;
            disk.FaultHook = (_, _) =>
            {
                if (ops++ == k) throw new CrashPoint();
                return DiskStatus.Ok;
            };
            try
            {
                Scenario(seed, disk, acked, skipCheckpoint);
            }
            catch (CrashPoint)
            {
            }
            disk.FaultHook = null;
            disk.Crash();
            recoveries++;
            if (Verify(disk, acked, new SeededRandom(SimulationOptions.SubSeed(seed, 90))) is { } problem)
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"seed {seed}, crash at disk operation {k} of {total}: {problem}"));
        }
        return new Report(points + 1, recoveries, problems);
    }

    private static int CountOperations(ulong seed, bool skipCheckpoint)
    {
        var disk = new SimDisk();
        int ops = 0;
        disk.FaultHook = (_, _) =>
        {
            ops++;
            return DiskStatus.Ok;
        };
        Scenario(seed, disk, new Acked(), skipCheckpoint);
        return ops;
    }

    private static byte[] Batch(long value, long timestamp)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return RecordBatchBuilder.Build([new SimpleRecord([1], bytes, timestamp)]);
    }

    private static void Scenario(ulong seed, SimDisk disk, Acked acked, bool skipCheckpoint)
    {
        var r = new SeededRandom(SimulationOptions.SubSeed(seed, 91));
        var config = Config(r) with { TestOnlySkipLogStartCheckpoint = skipCheckpoint };
        var manager = new LogManager(disk, Root, NullBrokerLog.Instance);
        manager.LoadAll(_ => config, 0);
        var log = manager.GetOrCreateLog(Tp, config, 0);
        var doomed = manager.GetOrCreateLog(Doomed, config, 0);
        long now = 1_000;
        long value = 0;
        void Sync()
        {
            manager.MaybeStartSyncs(now);
            foreach (var (token, status) in disk.CompletePendingSyncs()) manager.OnSyncCompleted(token, status, now);
        }
        int steps = r.NextInt(12, 30);
        for (int step = 0; step < steps; step++)
        {
            now += r.NextInt(1, 50);
            double roll = r.NextDouble();
            if (roll < 0.7)
            {
                var target = r.NextBool(0.8) || acked.DoomedDeleted ? log : doomed;
                int n = r.NextInt(1, 4);
                var offsets = new List<(long Offset, long Value)>();
                for (int i = 0; i < n; i++)
                {
                    var result = target.Append(Batch(++value, now), now);
                    if (result.Error != ErrorCode.None) return;
                    if (target == log)
                    {
                        acked.Written[result.BaseOffset] = value;
                        offsets.Add((result.BaseOffset, value));
                    }
                }
                Sync();
                // Acknowledged once synced (acks=all).
                foreach (var (o, v) in offsets)
                    if (o < log.HighWatermark) acked.Values[o] = v;
            }
            else if (roll < 0.85)
            {
                long to = log.LogStartOffset + (long)r.NextBelow((ulong)(log.HighWatermark - log.LogStartOffset + 1));
                acked.LogStartAsked = Math.Max(acked.LogStartAsked, to);
                var (error, low) = log.DeleteRecordsBefore(to);
                if (error == ErrorCode.None) acked.LogStart = Math.Max(acked.LogStart, low);
            }
            else if (roll < 0.92)
            {
                log.MaybeRollByTime(now + 10_000_000);
            }
            else if (!acked.DoomedDeleted && manager.GetLog(Doomed) is not null)
            {
                if (manager.DeleteLog(Doomed)) acked.DoomedDeleted = true;
            }
        }
    }

    /// <summary>Opens the crashed disk and checks what recovery promises; null when it holds.</summary>
    private static string? Verify(SimDisk disk, Acked acked, IRandom r)
    {
        var config = LogConfig.Default;
        LogManager manager;
        try
        {
            manager = new LogManager(disk, Root, NullBrokerLog.Instance);
            manager.LoadAll(_ => config, 0);
        }
        catch (Exception e)
        {
            return "recovery threw " + e.GetType().Name + ": " + e.Message;
        }
        if (acked.DoomedDeleted && manager.GetLog(Doomed) is not null) return "a partition whose deletion was acknowledged came back";
        var log = manager.GetLog(Tp);
        if (log is null) return acked.Values.Count > 0 ? "the partition with acknowledged records is gone" : null;
        if (log.LogStartOffset < acked.LogStart)
            return $"log start offset {log.LogStartOffset} is below the acknowledged DeleteRecords {acked.LogStart}";
        foreach (var o in acked.Values.Keys)
            if (o >= acked.LogStartAsked && o < log.LogStartOffset)
                return $"log start offset {log.LogStartOffset} passed acknowledged offset {o}, which no DeleteRecords asked to delete (asked up to {acked.LogStartAsked})";
        var read = new List<DecodedRecord>();
        long offset = log.LogStartOffset;
        for (int guard = 0; guard < 10_000 && offset < log.HighWatermark; guard++)
        {
            var slice = log.Read(offset, 1 << 20, log.HighWatermark);
            if (slice.Error != ErrorCode.None) return $"reading at {offset} failed: {slice.Error}";
            if (slice.Records.Length == 0) break;
            var batch = new List<DecodedRecord>();
            if (RecordBatchDecoder.Decode(slice.Records.Span, batch) != ErrorCode.None) return $"undecodable records at {offset}";
            read.AddRange(batch.Where(x => x.Offset >= offset));
            offset = batch[^1].Offset + 1;
        }
        var byOffset = new Dictionary<long, long>();
        foreach (var rec in read)
        {
            long v = rec.Value is { Length: 8 } b ? BinaryPrimitives.ReadInt64BigEndian(b) : -1;
            if (!acked.Written.TryGetValue(rec.Offset, out var written) || written != v)
                return $"offset {rec.Offset} holds value {v}, which was not written there";
            byOffset[rec.Offset] = v;
        }
        foreach (var (o, v) in acked.Values)
        {
            if (o < log.LogStartOffset) continue;
            if (!byOffset.TryGetValue(o, out var got)) return $"acknowledged offset {o} (value {v}) is missing after recovery";
        }
        // A by-timestamp lookup of a surviving record finds it or an earlier offset with the same or a later timestamp.
        if (read.Count > 0)
        {
            var probe = read[r.NextInt(0, read.Count)];
            if (log.OffsetForTimestamp(probe.Timestamp) is not { } found || found.Offset > probe.Offset)
                return $"the time index lost record {probe.Offset} (timestamp {probe.Timestamp})";
        }
        manager.Dispose();
        return null;
    }

    // ---- damaged and stale files at start-up ------------------------------------------------------------------

    /// <summary>How a start-up file is found: as written, bits flipped, cut short, missing, or an older version.</summary>
    public enum FileDamage { Intact, BitFlips, Truncated, Missing, Stale }

    /// <summary>
    /// Every combination of damage to the offset index, the time index and the log start checkpoint (5 x 5 x 5), applied
    /// to a random segment (or the checkpoint) after a clean scenario: recovery must not throw, must serve only
    /// written records, and must keep every acknowledged record at or above the start it chose, which may not be
    /// below the first segment's base. A stale checkpoint may bring back deleted records (the broker cannot know);
    /// it may not lose acknowledged ones.
    /// </summary>
    public static Report DamageCombinations(ulong seed)
    {
        var problems = new List<string>();
        int runs = 0;
        foreach (var offsetIndex in Enum.GetValues<FileDamage>())
        foreach (var timeIndex in Enum.GetValues<FileDamage>())
        foreach (var checkpoint in Enum.GetValues<FileDamage>())
        {
            var disk = new SimDisk();
            var acked = new Acked();
            Scenario(seed, disk, acked, skipCheckpoint: false);
            var r = new SeededRandom(SimulationOptions.SubSeed(seed, (ulong)(92 + runs)));
            string dir = Root + "/" + Tp.Topic + "-0";
            // Stale files are what the disk held before the last change: snapshot them first.
            var files = disk.DirectoryExists(dir) ? disk.List(dir).ToList() : [];
            Damage(disk, dir, files.Where(f => f.EndsWith(LogSegment.IndexSuffix, StringComparison.Ordinal)).ToList(), offsetIndex, r);
            Damage(disk, dir, files.Where(f => f.EndsWith(LogSegment.TimeIndexSuffix, StringComparison.Ordinal)).ToList(), timeIndex, r);
            if (checkpoint == FileDamage.Stale && files.Contains(UnifiedLog.LogStartOffsetCheckpointFile))
            {
                // An older checkpoint: the log start as it was before the last DeleteRecords (here: 0).
                acked.LogStart = 0;
                WriteCheckpoint(disk, dir + "/" + UnifiedLog.LogStartOffsetCheckpointFile, 0);
            }
            else if (checkpoint != FileDamage.Stale)
            {
                if (checkpoint != FileDamage.Intact) acked.LogStart = 0;
                Damage(disk, dir, files.Where(f => f == UnifiedLog.LogStartOffsetCheckpointFile).ToList(), checkpoint, r);
            }
            runs++;
            disk.Crash();
            if (Verify(disk, acked, r) is { } problem)
                problems.Add($"seed {seed}, offset index {offsetIndex}, time index {timeIndex}, checkpoint {checkpoint}: {problem}");
        }
        return new Report(runs, runs, problems);
    }

    private static void Damage(SimDisk disk, string dir, List<string> names, FileDamage damage, IRandom r)
    {
        if (names.Count == 0 || damage == FileDamage.Intact) return;
        string path = dir + "/" + names[r.NextInt(0, names.Count)];
        var bytes = disk.ReadDurable(path);
        switch (damage)
        {
            case FileDamage.BitFlips:
                if (bytes.Length == 0) return;
                for (int i = 0; i < 3; i++) disk.FlipBit(path, (long)r.NextBelow((ulong)bytes.Length), r.NextInt(0, 8));
                return;
            case FileDamage.Truncated:
                disk.Replace(path, bytes.AsSpan(0, bytes.Length / 2));
                return;
            case FileDamage.Missing:
                disk.DeleteFile(path);
                disk.SyncDirectory(dir);
                return;
            case FileDamage.Stale:
                // An index as it was a few entries ago: its tail zeroed (entries never written, or lost).
                var stale = bytes.ToArray();
                int keep = (stale.Length / 16) * 8;
                stale.AsSpan(keep).Clear();
                disk.Replace(path, stale);
                return;
        }
    }

    private static void WriteCheckpoint(SimDisk disk, string path, long offset)
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(4), offset);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), Crc32C.Compute(bytes.AsSpan(0, 12)));
        disk.Replace(path, bytes);
    }
}
