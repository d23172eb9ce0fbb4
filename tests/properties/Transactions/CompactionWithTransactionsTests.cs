using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Transactions;

/// <summary>The cleaner over a compacted partition with transactions (TRANSACTIONS.md, "Compaction"): it keeps
/// transactional batches and markers whole, so after cleaning a read_committed reader still sees no aborted value
/// (the abort marker and the aborted-transaction list survive) and every committed one the compaction keeps.</summary>
public sealed class CompactionWithTransactionsTests
{
    private static readonly TopicPartition Tp = new("t", 0);

    private static byte[] Text(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Cleaning_keeps_markers_and_transactional_batches_and_the_aborted_list()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var config = LogConfig.Default with { SegmentBytes = 300, IndexIntervalBytes = 100, CleanupPolicy = "compact", MinCleanableDirtyRatio = 0, DeleteRetentionMs = 0 };
        var log = manager.GetOrCreateLog(Tp, config, 0);
        long ts = 1000;
        void Append(byte[] batch, bool marker = false)
        {
            Assert.Equal(ErrorCode.None, log.Append(batch, ts++, fromCoordinator: marker).Error);
            log.MaybeStartSync(0);
            foreach (var (token, status) in disk.CompletePendingSyncs()) manager.OnSyncCompleted(token, status, 0);
        }
        byte[] Plain(string key, string value) => RecordBatchBuilder.Build([new SimpleRecord(Text(key), Text(value), ts)]);
        byte[] Txn(long pid, int seq, string key, string value)
            => RecordBatchBuilder.Build([new SimpleRecord(Text(key), Text(value), ts)], producerId: pid, producerEpoch: 0, baseSequence: seq, isTransactional: true);

        Append(Plain("k", "v1"));
        Append(Txn(7, 0, "k", "aborted"));
        Append(ControlRecord.BuildMarker(7, 0, 1, commit: false, ts), marker: true);
        Append(Txn(8, 0, "k", "committed"));
        Append(ControlRecord.BuildMarker(8, 0, 1, commit: true, ts), marker: true);
        for (int i = 0; i < 12; i++) Append(Plain("other" + (i % 3), "x" + i)); // later segments: the head is cleanable
        Append(Plain("k", "v2"));

        var (controlsBefore, transactionalBefore) = Count(log);
        Assert.Equal((2, 2), (controlsBefore, transactionalBefore));
        var before = new List<DecodedRecord>();
        Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(ReadAllBytes(log), before));
        var cleaner = new LogCleaner(new LogCleanerConfig { BytesPerStep = 150 }, NullBrokerLog.Instance);
        for (int guard = 0; guard < 100_000; guard++)
            if (!cleaner.Step(manager, 1_000_000) && cleaner.Current is null) break;

        // Walk what is left: markers and transactional batches are all there.
        var (controls, transactional) = Count(log);
        Assert.Equal((2, 2), (controls, transactional));
        var bytes = ReadAllBytes(log);
        // The cleaner did clean (superseded plain records are gone), and the aborted and committed values are still
        // there with the aborted one still listed as aborted for read_committed readers.
        var decoded = new List<DecodedRecord>();
        Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(bytes, decoded));
        Assert.True(decoded.Count < before.Count, $"cleaning removed superseded records ({before.Count} -> {decoded.Count})");
        Assert.Contains(decoded, r => r.Value is not null && System.Text.Encoding.UTF8.GetString(r.Value) == "aborted");
        Assert.Contains(decoded, r => r.Value is not null && System.Text.Encoding.UTF8.GetString(r.Value) == "committed");
        Assert.Contains(log.Transactions.AbortedIn(0, log.HighWatermark), a => a.ProducerId == 7);
        manager.Dispose();
    }

    private static byte[] ReadAllBytes(UnifiedLog log)
    {
        var all = new List<byte>();
        long offset = log.LogStartOffset;
        for (int round = 0; round < 1000 && offset < log.HighWatermark; round++)
        {
            var read = log.Read(offset, 1 << 20, log.HighWatermark);
            var bytes = read.Records.ToArray();
            if (bytes.Length == 0) break;
            all.AddRange(bytes);
            int pos = 0;
            while (pos + RecordBatch.HeaderSize <= bytes.Length && RecordBatchHeader.TryRead(bytes.AsSpan(pos), out var h))
            {
                offset = h.LastOffset + 1;
                pos += (int)h.TotalSize;
            }
        }
        return all.ToArray();
    }

    private static (int Controls, int Transactional) Count(UnifiedLog log)
    {
        var bytes = ReadAllBytes(log);
        int controls = 0, transactional = 0, pos = 0;
        while (pos + RecordBatch.HeaderSize <= bytes.Length && RecordBatchHeader.TryRead(bytes.AsSpan(pos), out var h))
        {
            if (h.IsControl) controls++;
            else if (h.IsTransactional) transactional++;
            pos += (int)h.TotalSize;
        }
        return (controls, transactional);
    }
}
