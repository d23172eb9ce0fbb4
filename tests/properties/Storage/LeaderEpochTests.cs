using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Storage;

/// <summary>The leader-epoch cache on its own: Kafka's endOffsetFor answers, assignment, truncation, the file.</summary>
public class LeaderEpochCacheTests
{
    private static LeaderEpochFileCache Cache(params (int Epoch, long Start)[] entries)
    {
        var cache = new LeaderEpochFileCache();
        foreach (var (e, s) in entries) Assert.True(cache.Assign(e, s));
        return cache;
    }

    [Fact]
    public void End_offset_for_an_epoch_follows_kafka()
    {
        var cache = Cache((2, 10), (4, 20), (7, 35));
        const long leo = 50;
        Assert.Equal((-1, -1L), cache.EndOffsetFor(-1, leo));           // undefined request
        Assert.Equal((1, 10L), cache.EndOffsetFor(1, leo));             // below the first: (requested, first start)
        Assert.Equal((2, 20L), cache.EndOffsetFor(2, leo));             // an epoch ends where the next starts
        Assert.Equal((2, 20L), cache.EndOffsetFor(3, leo));             // unknown epoch: the largest below it
        Assert.Equal((4, 35L), cache.EndOffsetFor(4, leo));
        Assert.Equal((4, 35L), cache.EndOffsetFor(6, leo));
        Assert.Equal((7, leo), cache.EndOffsetFor(7, leo));             // the latest ends at the log end
        Assert.Equal((-1, -1L), cache.EndOffsetFor(8, leo));            // above the latest
        Assert.Equal((-1, -1L), new LeaderEpochFileCache().EndOffsetFor(0, leo));
    }

    [Fact]
    public void Assign_keeps_epochs_and_starts_increasing_and_drops_conflicts()
    {
        var cache = Cache((0, 0), (3, 10));
        Assert.False(cache.Assign(3, 15));                              // same epoch, later batch
        Assert.False(cache.Assign(-1, 16));                             // a batch without an epoch
        Assert.True(cache.Assign(5, 10));                               // same start, newer epoch: replaces
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(5, 10)], cache.Entries);
        Assert.True(cache.Assign(4, 12));                               // an older epoch after a newer: the newer goes
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(4, 12)], cache.Entries);
        Assert.Equal(0, cache.EpochForOffset(11));
        Assert.Equal(4, cache.EpochForOffset(12));
        Assert.Null(Cache((1, 5)).EpochForOffset(4));
    }

    [Fact]
    public void Truncation_from_either_end()
    {
        var cache = Cache((1, 0), (2, 10), (3, 20));
        Assert.True(cache.TruncateFromEnd(20));
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(2, 10)], cache.Entries);
        Assert.False(cache.TruncateFromEnd(11));
        Assert.True(cache.TruncateFromStart(12));
        Assert.Equal([new EpochEntry(2, 12)], cache.Entries);
        Assert.False(cache.TruncateFromStart(12));
        Assert.True(cache.TruncateFromEnd(12));
        Assert.True(cache.IsEmpty);
    }

    [Fact]
    public void The_file_round_trips_and_any_damage_is_detected()
    {
        var cache = Cache((0, 0), (3, 17), (9, 1L << 40));
        var bytes = cache.Serialize();
        Assert.Equal(cache.Entries, LeaderEpochFileCache.TryParse(bytes));
        Assert.Empty(LeaderEpochFileCache.TryParse(new LeaderEpochFileCache().Serialize())!);
        for (int i = 0; i < bytes.Length; i++)
            for (int bit = 0; bit < 8; bit++)
            {
                var damaged = (byte[])bytes.Clone();
                damaged[i] ^= (byte)(1 << bit);
                Assert.Null(LeaderEpochFileCache.TryParse(damaged));
            }
        for (int length = 0; length < bytes.Length; length++) Assert.Null(LeaderEpochFileCache.TryParse(bytes.AsSpan(0, length)));
    }
}

/// <summary>
/// Follower log operations against a model: a leader log (its own disk) takes appends in non-decreasing epochs and
/// sometimes loses its tail and moves to a new epoch (a leader change); a follower log on another disk fetches from
/// it with <see cref="UnifiedLog.AppendAsFollower"/>, reconciles divergence with the epoch caches (Kafka's KIP-279
/// loop: OffsetForLeaderEpoch, truncate, repeat), truncates at random, is restarted after crashes with its
/// checkpoint sometimes damaged or deleted, and is sometimes truncated fully. After every step: the follower's
/// batches are exactly the model's, byte for byte; its epoch cache is the one the batches imply; the durable
/// checkpoint file says the same; the indexes check out. After reconciling, the follower is a prefix of the leader.
/// </summary>
public class FollowerLogTests
{
    private const string LeaderDir = "data/leader-0";

    private static List<byte[]> Batches(UnifiedLog log)
    {
        var batches = new List<byte[]>();
        long offset = log.LogStartOffset;
        for (int guard = 0; guard < 100_000 && offset < log.LogEndOffset; guard++)
        {
            var read = log.Read(offset, 1 << 20, log.LogEndOffset);
            Assert.Equal(ErrorCode.None, read.Error);
            var span = read.Records.Span;
            Assert.True(span.Length > 0, "a read below the log end returns data");
            for (int at = 0; at < span.Length;)
            {
                Assert.True(RecordBatchHeader.TryRead(span[at..], out var h));
                batches.Add(span.Slice(at, (int)h.TotalSize).ToArray());
                offset = h.NextOffset;
                at += (int)h.TotalSize;
            }
        }
        return batches;
    }

    private static IReadOnlyList<EpochEntry> ExpectedEpochs(IEnumerable<byte[]> batches)
    {
        var cache = new LeaderEpochFileCache();
        foreach (var b in batches)
        {
            Assert.True(RecordBatchHeader.TryRead(b, out var h));
            cache.Assign(h.PartitionLeaderEpoch, h.BaseOffset);
        }
        return cache.Entries.ToList();
    }

    private static void AssertMatchesModel(StorageKit kit, UnifiedLog log, List<byte[]> model, string what)
    {
        kit.AssertConsistent(log);
        var actual = Batches(log);
        Assert.True(model.Count == actual.Count, $"{what}: {actual.Count} batches where the model has {model.Count}");
        for (int i = 0; i < model.Count; i++) Assert.True(model[i].AsSpan().SequenceEqual(actual[i]), $"{what}: batch {i} differs");
        var expected = ExpectedEpochs(model);
        Assert.Equal(expected, log.LeaderEpochCache.Entries);
        string path = StorageKit.Dir + "/" + UnifiedLog.LeaderEpochCheckpointFile;
        var onDisk = kit.Disk.FileExists(path) ? LeaderEpochFileCache.TryParse(kit.Disk.ReadDurable(path)) : [];
        Assert.True(onDisk is not null, $"{what}: the durable checkpoint parses");
        Assert.Equal(expected, onDisk);
        Assert.Equal(model.Count == 0 ? log.LogStartOffset : NextOffset(model[^1]), log.LogEndOffset);
    }

    private static long NextOffset(byte[] batch)
    {
        Assert.True(RecordBatchHeader.TryRead(batch, out var h));
        return h.NextOffset;
    }

    private static long BaseOffset(byte[] batch)
    {
        Assert.True(RecordBatchHeader.TryRead(batch, out var h));
        return h.BaseOffset;
    }

    /// <summary>Fetches everything the leader has past the follower's end, as a follower's fetch loop would.</summary>
    private static void Fetch(UnifiedLog leader, UnifiedLog follower, List<byte[]> model, long nowMs)
    {
        for (int guard = 0; guard < 1000 && follower.LogEndOffset < leader.LogEndOffset; guard++)
        {
            var read = leader.Read(follower.LogEndOffset, 600, leader.LogEndOffset);
            Assert.Equal(ErrorCode.None, read.Error);
            var result = follower.AppendAsFollower(read.Records, nowMs);
            Assert.True(result.Error == ErrorCode.None, $"follower append: {result.Error} {result.ErrorMessage}");
            var span = read.Records.Span;
            for (int at = 0; at < span.Length;)
            {
                Assert.True(RecordBatchHeader.TryRead(span[at..], out var h));
                model.Add(span.Slice(at, (int)h.TotalSize).ToArray());
                at += (int)h.TotalSize;
            }
        }
    }

    /// <summary>KIP-279's loop: ask the leader where the follower's latest epoch ends; truncate there; when the
    /// leader answered with an older epoch, ask again for that one. Ends with the follower a prefix of the leader.</summary>
    private static void Reconcile(UnifiedLog leader, UnifiedLog follower, List<byte[]> model)
    {
        for (int guard = 0; guard < 1000; guard++)
        {
            int epoch = follower.LatestEpoch;
            if (epoch < 0) return;
            var (leaderEpoch, end) = leader.EndOffsetForEpoch(epoch);
            long target = leaderEpoch == LeaderEpochFileCache.UndefinedEpoch ? follower.LogStartOffset
                : leaderEpoch == epoch ? Math.Min(end, follower.LogEndOffset)
                : Math.Min(end, follower.EndOffsetForEpoch(leaderEpoch).EndOffset);
            if (leaderEpoch != epoch && follower.EndOffsetForEpoch(leaderEpoch).Epoch == LeaderEpochFileCache.UndefinedEpoch)
                target = follower.LogStartOffset;
            Truncate(follower, model, target);
            if (leaderEpoch == epoch || follower.LogEndOffset == follower.LogStartOffset) return;
        }
        Assert.Fail("reconciliation did not converge");
    }

    private static void Truncate(UnifiedLog log, List<byte[]> model, long offset)
    {
        Assert.Equal(ErrorCode.None, log.TruncateTo(offset));
        // Whole batches: the one holding the offset goes too.
        model.RemoveAll(b => NextOffset(b) > offset);
    }

    [Fact]
    public void Recovery_replaces_a_checkpoint_that_parses_but_disagrees_with_the_batches()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(400));
        for (int i = 0; i < 6; i++)
            Assert.Equal(ErrorCode.None, log.Append(StorageKit.Batch(i, "x" + i, "y" + i), i, leaderEpoch: i < 3 ? 1 : 4).Error);
        log.Flush();
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(4, 6)], log.LeaderEpochCache.Entries);
        log.Dispose();
        // A well-formed file that says something else (a write the disk lost, a file from another log).
        var wrong = new LeaderEpochFileCache();
        wrong.Assign(1, 0);
        wrong.Assign(2, 4);
        string path = StorageKit.Dir + "/" + UnifiedLog.LeaderEpochCheckpointFile;
        kit.Disk.Replace(path, wrong.Serialize());
        var reopened = kit.Open(StorageKit.Tiny(400));
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(4, 6)], reopened.LeaderEpochCache.Entries);
        Assert.Equal(reopened.LeaderEpochCache.Entries, LeaderEpochFileCache.TryParse(kit.Disk.ReadDurable(path)));
        Assert.Equal((1, 6L), reopened.EndOffsetForEpoch(3));
    }

    [Fact]
    public void A_follower_append_refuses_gaps_old_or_future_epochs_and_damage_and_changes_nothing()
    {
        var leaderDisk = new SimDisk();
        long token = 0;
        var leader = UnifiedLog.Open(leaderDisk, LeaderDir, StorageKit.Tp, StorageKit.Tiny(5000), () => ++token, NullBrokerLog.Instance, 0);
        Assert.Equal(ErrorCode.None, leader.Append(StorageKit.Batch(1, "a", "b"), 1, leaderEpoch: 2).Error);   // 0-1, epoch 2
        Assert.Equal(ErrorCode.None, leader.Append(StorageKit.Batch(2, "c"), 2, leaderEpoch: 3).Error);        // 2, epoch 3
        var all = leader.Read(0, 1 << 20, leader.LogEndOffset).Records.ToArray();
        Assert.True(RecordBatchHeader.TryRead(all, out var first));
        var second = all.AsMemory((int)first.TotalSize);

        var kit = new StorageKit();
        var follower = kit.Open(StorageKit.Tiny(5000));
        Assert.Equal(ErrorCode.CorruptMessage, follower.AppendAsFollower(second, 0).Error);                 // starts past the end
        Assert.Equal(ErrorCode.CorruptMessage, follower.AppendAsFollower(all, 0, maxEpoch: 2).Error);       // epoch 3 from a leader of 2
        var damaged = (byte[])all.Clone();
        damaged[^1] ^= 1;
        Assert.NotEqual(ErrorCode.None, follower.AppendAsFollower(damaged, 0).Error);                       // CRC
        Assert.Equal(0, follower.LogEndOffset);
        Assert.True(follower.LeaderEpochCache.IsEmpty);

        var ok = follower.AppendAsFollower(all, 0);
        Assert.Equal((ErrorCode.None, 0L, 2L), (ok.Error, ok.BaseOffset, ok.LastOffset));
        Assert.Equal([new EpochEntry(2, 0), new EpochEntry(3, 2)], follower.LeaderEpochCache.Entries);
        // A batch of an epoch older than the log's latest cannot follow.
        Assert.Equal(ErrorCode.None, leader.Append(StorageKit.Batch(3, "d"), 3, leaderEpoch: 2).Error);        // 3, epoch 2
        var older = leader.Read(3, 1 << 20, leader.LogEndOffset).Records;
        Assert.Equal(ErrorCode.CorruptMessage, follower.AppendAsFollower(older, 0).Error);
        Assert.Equal(3, follower.LogEndOffset);
        kit.AssertConsistent(follower);
    }

    [Fact]
    public void Append_truncate_crash_sequences_keep_the_follower_equal_to_the_model()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from segmentBytes in Gen.Elements(300, 700, 5000)
                  from steps in Gen.Choose(10, 60)
                  select (seed, segmentBytes, steps);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var random = new SeededRandom((ulong)t.seed);
            var config = StorageKit.Tiny(t.segmentBytes, 60);
            var leaderDisk = new SimDisk();
            long token = 0;
            var leader = UnifiedLog.Open(leaderDisk, LeaderDir, StorageKit.Tp, config, () => ++token, NullBrokerLog.Instance, 0);
            var kit = new StorageKit();
            var follower = kit.Open(config);
            var model = new List<byte[]>();
            int epoch = 0;
            long now = 0;
            // What counts as committed: a leader change never cuts below it (a full truncation starts the follower there).
            long committed = 0;
            for (int step = 0; step < t.steps; step++)
            {
                now += 10;
                string what;
                switch (random.NextInt(0, 100))
                {
                    case < 35:
                        what = "leader append";
                        var values = Enumerable.Range(0, random.NextInt(1, 4)).Select(j => $"s{step}-{j}-{new string('v', random.NextInt(0, 40))}").ToArray();
                        Assert.Equal(ErrorCode.None, leader.Append(StorageKit.Batch(now, values), now, epoch).Error);
                        break;
                    case < 60:
                        what = "fetch";
                        Reconcile(leader, follower, model);
                        Fetch(leader, follower, model, now);
                        Assert.Equal(Batches(leader).Skip(Batches(leader).Count - model.Count).Select(Convert.ToHexString), model.Select(Convert.ToHexString));
                        break;
                    case < 70:
                        what = "leader change";
                        // The new leader lacks the old one's tail: the leader log loses it, then writes in a newer epoch.
                        epoch += random.NextInt(1, 3);
                        long cut = random.NextInt((int)Math.Max(leader.LogStartOffset, committed), (int)leader.LogEndOffset + 1);
                        Assert.Equal(ErrorCode.None, leader.TruncateTo(cut));
                        break;
                    case < 78:
                        what = "follower truncate";
                        Truncate(follower, model, random.NextInt((int)follower.LogStartOffset, (int)follower.LogEndOffset + 1));
                        break;
                    case < 88:
                        what = "follower sync";
                        follower.MaybeStartSync(now);
                        kit.CompleteSyncs(follower);
                        break;
                    case < 97:
                        what = "follower crash";
                        long flushed = follower.FlushedOffset;
                        kit.Disk.Crash(random);
                        string checkpoint = StorageKit.Dir + "/" + UnifiedLog.LeaderEpochCheckpointFile;
                        if (kit.Disk.FileExists(checkpoint) && random.NextBool(0.4))
                        {
                            if (random.NextBool(0.5)) kit.Disk.DeleteFile(checkpoint);
                            else kit.Disk.FlipBit(checkpoint, random.NextInt(0, kit.Disk.ReadDurable(checkpoint).Length), random.NextInt(0, 8));
                            kit.Disk.Crash();
                        }
                        follower = kit.Open(config, now);
                        // Recovery keeps a prefix of what was written, at least what was flushed.
                        Assert.True(follower.LogEndOffset >= flushed, $"recovered end {follower.LogEndOffset} below flushed {flushed}");
                        model.RemoveAll(b => NextOffset(b) > follower.LogEndOffset);
                        break;
                    default:
                        what = "follower truncated fully";
                        long start = leader.LogEndOffset;
                        committed = start;
                        Assert.Equal(ErrorCode.None, follower.TruncateFullyAndStartAt(start, now));
                        model.Clear();
                        Assert.Equal(start, follower.LogStartOffset);
                        break;
                }
                AssertMatchesModel(kit, follower, model, $"step {step} ({what})");
                if (model.Count > 0) Assert.True(follower.LogStartOffset <= BaseOffset(model[0]));
            }
        }).QuickCheckThrowOnFailure();
    }
}
