using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Storage;

public class RecoveryTests
{
    private static readonly LogConfig Config = StorageKit.Tiny(segmentBytes: 700, indexInterval: 60);

    private sealed record Scenario(StorageKit Kit, UnifiedLog Log, List<string> Synced, List<(string Value, long Offset)> Unsynced,
        List<(long Base, long Next, int Position, int Size)> ActiveBatches, string ActiveLogPath);

    /// <summary>Eight synced batches (several segments), then unsynced ones in the active segment, one of them
    /// covered by a sync that was requested but has not completed.</summary>
    private static Scenario Build()
    {
        var kit = new StorageKit();
        var log = kit.Open(Config);
        var synced = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            var values = Enumerable.Range(0, 1 + i % 3).Select(j => $"synced-{i}-{j}").ToArray();
            kit.AppendSynced(log, StorageKit.Batch(1000 + 10 * i, values));
            synced.AddRange(values);
        }
        var unsynced = new List<(string, long)>();
        for (int i = 0; i < 4; i++)
        {
            var values = Enumerable.Range(0, 1 + i % 2).Select(j => $"unsynced-{i}-{j}-{new string('x', 20 * i)}").ToArray();
            var r = log.Append(StorageKit.Batch(5000 - 10 * i, values), 0);
            Assert.Equal(ErrorCode.None, r.Error);
            unsynced.AddRange(values.Select((v, j) => (v, r.BaseOffset + j)));
            if (i == 1) Assert.True(log.MaybeStartSync(0));
        }
        Assert.True(log.Segments.Count >= 2);
        var active = log.ActiveSegment;
        var batches = new List<(long, long, int, int)>();
        for (int position = 0; position < active.Size;)
        {
            Assert.True(active.TryReadHeader(position, out var h));
            batches.Add((h.BaseOffset, h.NextOffset, position, (int)h.TotalSize));
            position += (int)h.TotalSize;
        }
        return new Scenario(kit, log, synced, unsynced, batches, StorageKit.Dir + "/" + LogSegment.FileStem(active.BaseOffset) + ".log");
    }

    [Fact]
    public void A_crash_at_any_byte_of_the_unsynced_tail_recovers_exactly_the_whole_batches_before_it()
    {
        var probe = Build();
        int durable = probe.Kit.Disk.ReadDurable(probe.ActiveLogPath).Length;
        int volatileLength = probe.Kit.Disk.ReadVolatile(probe.ActiveLogPath).Length;
        Assert.True(volatileLength - durable > 200, "the scenario leaves a real unsynced tail");
        // The durable part of the active segment ends exactly where the flushed offset says.
        Assert.Contains(probe.ActiveBatches, b => b.Position + b.Size == durable && b.Next == probe.Log.FlushedOffset);

        for (int keep = durable; keep <= volatileLength; keep++)
        {
            var s = Build();
            int k = keep;
            // The log file keeps k bytes; index files keep an arbitrary part of their own unsynced tails.
            s.Kit.Disk.Crash((path, d, v) => path == s.ActiveLogPath ? k : d + (k * 7919L) % (v - d + 1));
            var survivors = s.ActiveBatches.Where(b => b.Position + b.Size <= k).ToList();
            long expectedEnd = survivors.Count == 0 ? s.ActiveBatches[0].Base : survivors[^1].Next;

            var log = s.Kit.Open(Config);
            Assert.Equal(expectedEnd, log.LogEndOffset);
            Assert.Equal((expectedEnd, expectedEnd), (log.FlushedOffset, log.HighWatermark));
            s.Kit.AssertConsistent(log);
            Assert.Equal(survivors.Count == 0 ? 0 : survivors[^1].Position + survivors[^1].Size, log.ActiveSegment.Size);
            // The recovered state was synced before being served.
            Assert.Equal(s.Kit.Disk.ReadVolatile(s.ActiveLogPath), s.Kit.Disk.ReadDurable(s.ActiveLogPath));

            var expected = s.Synced.Concat(s.Unsynced.Where(u => u.Offset < expectedEnd).Select(u => u.Value)).ToList();
            var read = StorageKit.ReadAll(log);
            Assert.Equal(expected, read.Select(StorageKit.Text));
            Assert.Equal(Enumerable.Range(0, expected.Count).Select(i => (long)i), read.Select(r => r.Offset));

            // Offsets continue without a gap or reuse, and the log survives another restart.
            var next = s.Kit.AppendSynced(log, StorageKit.Batch(9000, "after"));
            Assert.Equal(expectedEnd, next.BaseOffset);
            log.Dispose();
            var again = s.Kit.Open(Config);
            s.Kit.AssertConsistent(again);
            Assert.Equal(expected.Append("after"), StorageKit.ReadAll(again).Select(StorageKit.Text));
        }
    }

    [Fact]
    public void Repeated_random_crashes_keep_every_acknowledged_record_and_serve_a_prefix_of_what_was_written()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from segmentBytes in Gen.Elements(300, 700, 5000)
                  from interval in Gen.Elements(0, 60, 4096)
                  select (seed, segmentBytes, interval);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var random = new SeededRandom((ulong)t.seed);
            var config = StorageKit.Tiny(t.segmentBytes, t.interval);
            var kit = new StorageKit();
            var written = new List<string>();
            int acknowledged = 0;
            for (int round = 0; round < 5; round++)
            {
                var log = kit.Open(config);
                kit.AssertConsistent(log);
                var read = StorageKit.ReadAll(log).Select(StorageKit.Text).ToList();
                Assert.True(read.Count >= acknowledged, $"lost acknowledged records: {read.Count} < {acknowledged}");
                Assert.Equal(written.Take(read.Count), read);
                written = read;
                acknowledged = read.Count;
                int appends = random.NextInt(1, 12);
                for (int i = 0; i < appends; i++)
                {
                    var values = Enumerable.Range(0, random.NextInt(1, 4)).Select(j => $"r{round}-{i}-{j}-{new string('p', random.NextInt(0, 60))}").ToArray();
                    Assert.Equal(ErrorCode.None, log.Append(StorageKit.Batch(random.NextInt(0, 10_000), values), 0).Error);
                    written.AddRange(values);
                    if (random.NextBool(0.5)) log.MaybeStartSync(0);
                    if (random.NextBool(0.4))
                    {
                        kit.CompleteSyncs(log);
                        acknowledged = (int)log.HighWatermark;
                    }
                }
                kit.Disk.Crash(random);
            }
        }).QuickCheckThrowOnFailure();
    }

    private static (StorageKit Kit, List<string> Values, string FirstStem) ClosedLogWithSegments()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 500, indexInterval: 0));
        var values = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            var v = $"value-{i}";
            kit.AppendSynced(log, StorageKit.Batch(100 + i * (i % 3), v));
            values.Add(v);
        }
        Assert.True(log.Segments.Count >= 3);
        Assert.True(log.Segments[0].OffsetIndex.Count >= 3 && log.Segments[0].TimeIndex.Count >= 2);
        Assert.Equal(DiskStatus.Ok, log.Flush());
        log.Dispose();
        return (kit, values, StorageKit.Dir + "/" + LogSegment.FileStem(0));
    }

    public static TheoryData<string> Damages => new()
    {
        "delete-index", "delete-timeindex", "empty-index", "empty-both", "odd-size-index", "odd-size-timeindex",
        "zero-index", "swap-index", "past-log-index", "mid-batch-index", "zero-timeindex", "wrong-time", "garbage-both",
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void Damaged_index_files_are_rebuilt(string damage)
    {
        var (kit, values, stem) = ClosedLogWithSegments();
        string index = stem + ".index", timeIndex = stem + ".timeindex";
        byte[] idx = kit.Disk.ReadDurable(index), tix = kit.Disk.ReadDurable(timeIndex);
        switch (damage)
        {
            case "delete-index": kit.Disk.DeleteFile(index); break;
            case "delete-timeindex": kit.Disk.DeleteFile(timeIndex); break;
            case "empty-index": kit.Disk.Replace(index, []); break;
            case "empty-both": kit.Disk.Replace(index, []); kit.Disk.Replace(timeIndex, []); break;
            case "odd-size-index": kit.Disk.Replace(index, idx[..^3]); break;
            case "odd-size-timeindex": kit.Disk.Replace(timeIndex, tix[..^5]); break;
            case "zero-index": kit.Disk.Replace(index, new byte[idx.Length]); break;
            case "swap-index": kit.Disk.Replace(index, [.. idx[8..16], .. idx[..8], .. idx[16..]]); break;
            case "past-log-index": kit.Disk.Replace(index, [.. idx[..^4], 0x7F, 0, 0, 0]); break;
            case "mid-batch-index":
                var mid = (byte[])idx.Clone();
                mid[^1] += 3;
                kit.Disk.Replace(index, mid);
                break;
            case "zero-timeindex": kit.Disk.Replace(timeIndex, new byte[tix.Length]); break;
            case "wrong-time":
                var wrong = (byte[])tix.Clone();
                wrong[^5] += 1;
                kit.Disk.Replace(timeIndex, wrong);
                break;
            case "garbage-both":
                kit.Disk.Replace(index, Enumerable.Range(0, idx.Length).Select(i => (byte)(i * 37)).ToArray());
                kit.Disk.Replace(timeIndex, Enumerable.Range(0, tix.Length).Select(i => (byte)(i * 91)).ToArray());
                break;
        }
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 500, indexInterval: 0));
        kit.AssertConsistent(log);
        Assert.Equal(values, StorageKit.ReadAll(log).Select(StorageKit.Text));
        var first = log.Segments[0];
        Assert.True(first.OffsetIndex.Count >= 3 && first.TimeIndex.Count >= 2, "the index was rebuilt, not left empty");
        Assert.Equal(idx, kit.Disk.ReadVolatile(index));
        Assert.Equal(tix, kit.Disk.ReadVolatile(timeIndex));
        for (long ts = 90; ts < 160; ts += 7)
        {
            var all = StorageKit.ReadAll(log);
            var expected = all.FirstOrDefault(r => r.Timestamp >= ts);
            Assert.Equal(expected?.Offset, log.OffsetForTimestamp(ts)?.Offset);
        }
    }

    [Fact]
    public void Undamaged_old_segments_open_from_their_indexes()
    {
        var (kit, values, stem) = ClosedLogWithSegments();
        var index = kit.Disk.ReadDurable(stem + ".index");
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 500, indexInterval: 0));
        Assert.Equal(index, kit.Disk.ReadVolatile(stem + ".index"));
        Assert.Equal(values, StorageKit.ReadAll(log).Select(StorageKit.Text));
        kit.AssertConsistent(log);
    }

    [Fact]
    public void A_corrupt_batch_in_an_older_segment_cuts_the_log_there()
    {
        var (kit, values, stem) = ClosedLogWithSegments();
        // Damage the last batch of the first segment; its tail scan notices, the later segments go.
        var logBytes = kit.Disk.ReadDurable(stem + ".log");
        kit.Disk.FlipBit(stem + ".log", logBytes.Length - 2, 3);
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 500, indexInterval: 0));
        kit.AssertConsistent(log);
        Assert.Single(log.Segments);
        var read = StorageKit.ReadAll(log).Select(StorageKit.Text).ToList();
        Assert.Equal(values.Take(read.Count), read);
        Assert.Equal(read.Count, log.LogEndOffset);
        Assert.True(read.Count < values.Count);
        Assert.Equal(read.Count, kit.AppendSynced(log, StorageKit.Batch(1, "next")).BaseOffset);
    }

    [Fact]
    public void Leftovers_are_cleaned_and_a_start_offset_past_the_end_restarts_the_log_there()
    {
        var kit = new StorageKit();
        var relaxed = LogConfig.Default with { FlushMessages = 100 };
        var log = kit.Open(relaxed);
        for (int i = 0; i < 5; i++) log.Append(StorageKit.Batch(1, $"v{i}"), 0);
        // Relaxed: the high watermark is the end, so records can be deleted before they are durable.
        Assert.Equal(ErrorCode.None, log.DeleteRecordsBefore(4).Error);
        kit.Disk.Crash();
        kit.Disk.CreateDirectory(StorageKit.Dir);
        using (var f = kit.Disk.Open(StorageKit.Dir + "/log-start-offset.checkpoint.tmp", create: true)) f.Write(0, [1, 2, 3]);
        using (var f = kit.Disk.Open(StorageKit.Dir + "/00000000000000000099.index", create: true)) f.SyncNow();
        log = kit.Open(relaxed);
        Assert.Equal((4L, 4L), (log.LogStartOffset, log.LogEndOffset));
        Assert.Equal(4, log.ActiveSegment.BaseOffset);
        Assert.False(kit.Disk.FileExists(StorageKit.Dir + "/log-start-offset.checkpoint.tmp"));
        Assert.False(kit.Disk.FileExists(StorageKit.Dir + "/00000000000000000099.index"));
        Assert.Equal(4, log.Append(StorageKit.Batch(1, "x"), 0).BaseOffset);
    }
}
