using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Properties.Storage;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Idempotence;

/// <summary>
/// The partition side of idempotence: whatever order and number of retries idempotent producers' batches arrive
/// in, each batch (producer, epoch, sequence range) is written at most once, a retry is answered with the
/// original offsets, sequences are only accepted in order, and all of this survives a crash (state rebuilt from
/// snapshots and the log).
/// </summary>
public class ProducerStateTests
{
    private static byte[] Batch(long pid, short epoch, int sequence, int records, string tag)
        => RecordBatchBuilder.Build(
            Enumerable.Range(0, records).Select(i => new SimpleRecord(null, System.Text.Encoding.UTF8.GetBytes($"{tag}-{i}"), 1000 + i)).ToList(),
            producerId: pid, producerEpoch: epoch, baseSequence: sequence);

    [Fact]
    public void Retries_of_the_last_five_batches_are_answered_with_their_offsets_and_not_written_again()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 1 << 20));
        var first = kit.AppendSynced(log, Batch(7, 0, 0, 3, "a"));
        var second = kit.AppendSynced(log, Batch(7, 0, 3, 2, "b"));
        long end = log.LogEndOffset;

        var again = log.Append(Batch(7, 0, 0, 3, "a"), 0);
        Assert.Equal(ErrorCode.None, again.Error);
        Assert.Equal((first.BaseOffset, first.LastOffset), (again.BaseOffset, again.LastOffset));
        Assert.Equal(end, log.LogEndOffset);

        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, log.Append(Batch(7, 0, 9, 1, "gap"), 0).Error);
        Assert.Equal(ErrorCode.UnknownProducerId, log.Append(Batch(8, 0, 4, 1, "new"), 0).Error);
        Assert.Equal(ErrorCode.None, log.Append(Batch(8, 0, 0, 1, "new"), 0).Error);
        Assert.Equal(ErrorCode.None, log.Append(Batch(7, 1, 0, 1, "bumped"), 0).Error);
        Assert.Equal(ErrorCode.InvalidProducerEpoch, log.Append(Batch(7, 0, 5, 1, "fenced"), 0).Error);
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, log.Append(Batch(7, 2, 3, 1, "epoch-not-at-0"), 0).Error);
        Assert.Equal(second.LastOffset + 2, log.LogEndOffset - 1); // two more single-record batches, nothing else
    }

    [Fact]
    public void Sequences_wrap_from_int_max_to_zero()
    {
        Assert.Equal(int.MaxValue, ProducerStateManager.LastSequenceOf(int.MaxValue - 2, 3));
        Assert.Equal(1, ProducerStateManager.LastSequenceOf(int.MaxValue - 1, 4));
        var state = new ProducerStateManager();
        state.Update(1, 0, new ProducerBatch(int.MaxValue - 1, int.MaxValue, 0, 1, 0));
        Assert.Equal(ErrorCode.None, state.Check(1, 0, 0, 4).Error);
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, state.Check(1, 0, 1, 4).Error);
    }

    [Fact]
    public void Any_interleaving_of_retries_writes_each_batch_once_and_in_sequence_order_even_across_crashes()
    {
        // A seed drives: 1-3 producers each sending a run of batches; every step either sends a producer's next
        // batch, re-sends one of its last five, or crashes the disk (unsynced data lost, state rebuilt).
        ForAll(Gen.Choose(0, int.MaxValue), seed =>
        {
            var random = new Random(seed);
            var kit = new StorageKit();
            var config = StorageKit.Tiny(segmentBytes: 600);
            var log = kit.Open(config);
            int producers = random.Next(1, 4);
            var next = new int[producers];
            var sent = new List<(int Producer, int Sequence, int Count)>[producers];
            for (int p = 0; p < producers; p++) sent[p] = new();
            var acked = new Dictionary<(int, int), (long, long)>();
            for (int step = 0; step < 60; step++)
            {
                int p = random.Next(producers);
                int roll = random.Next(10);
                if (roll == 0)
                {
                    kit.Disk.Crash();
                    log = kit.Open(config);
                    continue;
                }
                (int Producer, int Sequence, int Count) batch;
                if (roll < 4 && sent[p].Count > 0) batch = sent[p][^Math.Min(sent[p].Count, random.Next(1, 6))];
                else batch = (p, next[p], random.Next(1, 4));
                var result = log.Append(Batch(100 + p, 0, batch.Sequence, batch.Count, $"p{p}s{batch.Sequence}"), step);
                if (result.Error == ErrorCode.None)
                {
                    if (batch.Sequence == next[p]) { next[p] += batch.Count; sent[p].Add(batch); }
                    log.MaybeStartSync(step);
                    kit.CompleteSyncs(log);
                    if (acked.TryGetValue((p, batch.Sequence), out var original))
                        Assert.Equal(original, (result.BaseOffset, result.LastOffset));
                    else
                        acked[(p, batch.Sequence)] = (result.BaseOffset, result.LastOffset);
                }
                else
                {
                    // Refused only when the sequence is not the next one (a crash lost unsynced batches: none here,
                    // every append is synced before the next step) or the retry fell out of the five kept.
                    Assert.True(result.Error is ErrorCode.OutOfOrderSequenceNumber, $"{result.Error}: {result.ErrorMessage}");
                }
            }
            // Every value in the log appears once, and per producer in sequence order.
            var values = StorageKit.ReadAll(log).Select(r => System.Text.Encoding.UTF8.GetString(r.Value!)).ToList();
            Assert.Equal(values.Count, values.Distinct().Count());
            for (int p = 0; p < producers; p++)
            {
                var mine = values.Where(v => v.StartsWith($"p{p}s", StringComparison.Ordinal))
                    .Select(v => int.Parse(v.Split('-')[0][$"p{p}s".Length..])).ToList();
                Assert.Equal(mine.OrderBy(x => x), mine);
            }
        }, maxTest: 60);
    }

    [Fact]
    public void Recovery_rebuilds_the_state_from_the_newest_snapshot_and_the_batches_after_it()
    {
        var kit = new StorageKit();
        var config = StorageKit.Tiny(segmentBytes: 300);
        var log = kit.Open(config);
        for (int i = 0; i < 20; i++) kit.AppendSynced(log, Batch(5, 0, i, 1, $"v{i}"), i);
        Assert.True(log.Segments.Count > 3);
        var snapshots = kit.Disk.List(StorageKit.Dir).Where(n => n.EndsWith(ProducerStateManager.SnapshotSuffix, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, snapshots.Count); // the newest two are kept

        kit.Disk.Crash();
        log = kit.Open(config);
        Assert.Equal((short)0, log.Producers.Describe(5)!.Value.Epoch);
        Assert.Equal(19, log.Producers.Describe(5)!.Value.LastSequence);
        long end = log.LogEndOffset;
        Assert.Equal(ErrorCode.None, log.Append(Batch(5, 0, 19, 1, "v19"), 99).Error);
        Assert.Equal(end, log.LogEndOffset); // a duplicate after the restart
        Assert.Equal(ErrorCode.None, log.Append(Batch(5, 0, 20, 1, "v20"), 99).Error);

        // A damaged newest snapshot: the older one and a longer replay give the same state.
        log.Dispose();
        kit.Disk.Crash();
        var newest = kit.Disk.List(StorageKit.Dir).Where(n => n.EndsWith(ProducerStateManager.SnapshotSuffix, StringComparison.Ordinal)).Max(StringComparer.Ordinal)!;
        using (var f = kit.Disk.Open(StorageKit.Dir + "/" + newest, create: false)) f.Write(10, [0xFF, 0xFF]);
        log = kit.Open(config);
        Assert.Equal(19, log.Producers.Describe(5)!.Value.LastSequence); // v20 was not synced: lost in the crash
        Assert.Equal(ErrorCode.None, log.Append(Batch(5, 0, 19, 1, "v19"), 99).Error);
        Assert.Equal(end, log.LogEndOffset);
    }

    [Fact]
    public void Idle_producers_expire_and_producers_below_the_log_start_are_forgotten()
    {
        var state = new ProducerStateManager();
        state.Update(1, 0, new ProducerBatch(0, 0, 10, 10, MaxTimestamp: 1_000));
        state.Update(2, 0, new ProducerBatch(0, 0, 20, 20, MaxTimestamp: 5_000));
        state.Update(3, 0, new ProducerBatch(0, 0, 30, 30, MaxTimestamp: 9_000));
        Assert.Equal(1, state.RemoveExpired(expireBeforeMs: 2_000));
        Assert.Null(state.Describe(1));
        state.RemoveBelow(logStartOffset: 25);
        Assert.Null(state.Describe(2));
        Assert.NotNull(state.Describe(3));
        Assert.Equal(1, state.ProducerCount);
        // A forgotten producer's next batch must start a sequence again.
        Assert.Equal(ErrorCode.UnknownProducerId, state.Check(2, 0, 1, 1).Error);
    }

    [Fact]
    public void A_snapshot_round_trips_and_refuses_damage()
    {
        var state = new ProducerStateManager();
        for (int i = 0; i < 7; i++) state.Update(3, 1, new ProducerBatch(i * 2, i * 2 + 1, i * 10, i * 10 + 1, 500 + i));
        state.Update(9, 0, new ProducerBatch(0, 0, 100, 100, 900));
        byte[] bytes = state.SerializeSnapshot(101);
        var loaded = new ProducerStateManager();
        Assert.True(loaded.TryLoadSnapshot(bytes, 101));
        Assert.Equal(bytes, loaded.SerializeSnapshot(101));
        Assert.True(loaded.Check(3, 1, 8, 9).IsDuplicate);   // one of the last five
        Assert.False(loaded.Check(3, 1, 2, 3).IsDuplicate);  // older than five batches
        Assert.False(loaded.TryLoadSnapshot(bytes, 102));
        for (int i = 0; i < bytes.Length; i += 7)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[i] ^= 0x20;
            Assert.False(new ProducerStateManager().TryLoadSnapshot(damaged, 101));
        }
    }
}
