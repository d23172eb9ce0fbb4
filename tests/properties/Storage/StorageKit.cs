using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Storage;

/// <summary>A log on a <see cref="SimDisk"/> plus the checks the storage properties share.</summary>
public sealed class StorageKit
{
    public const string Dir = "data/t-0";
    public static readonly TopicPartition Tp = new("t", 0);

    public SimDisk Disk { get; } = new();
    private long _token;

    /// <summary>Tiny segments and a dense index so a handful of batches exercise rolls and lookups.</summary>
    public static LogConfig Tiny(int segmentBytes = 400, int indexInterval = 100) => LogConfig.Default with
    {
        SegmentBytes = segmentBytes,
        IndexIntervalBytes = indexInterval,
    };

    public UnifiedLog Open(LogConfig config, long nowMs = 0)
        => UnifiedLog.Open(Disk, Dir, Tp, config, () => ++_token, NullBrokerLog.Instance, nowMs);

    /// <summary>Completes every pending sync and feeds it to the log, as the driver would.</summary>
    public void CompleteSyncs(UnifiedLog log)
    {
        foreach (var (token, status) in Disk.CompletePendingSyncs()) log.OnSyncCompleted(token, status);
    }

    /// <summary>Appends and waits for the sync, as a strict produce does before its ack.</summary>
    public AppendResult AppendSynced(UnifiedLog log, byte[] batch, long nowMs = 0)
    {
        var result = log.Append(batch, nowMs);
        Assert.Equal(ErrorCode.None, result.Error);
        log.MaybeStartSync(nowMs);
        CompleteSyncs(log);
        Assert.True(log.FlushedOffset > result.LastOffset);
        return result;
    }

    /// <summary>Every record from <paramref name="from"/> up to the high watermark, fetched the way a consumer does.</summary>
    public static List<DecodedRecord> ReadAll(UnifiedLog log, long? from = null, int maxBytes = 1 << 20, long? upTo = null,
        bool compacted = false)
    {
        var records = new List<DecodedRecord>();
        long offset = from ?? log.LogStartOffset;
        long limit = upTo ?? log.HighWatermark;
        for (int guard = 0; guard < 100_000; guard++)
        {
            var read = log.Read(offset, maxBytes, limit);
            Assert.Equal(ErrorCode.None, read.Error);
            if (read.Records.Length == 0) break;
            var batch = new List<DecodedRecord>();
            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(read.Records.Span, batch));
            Assert.NotEmpty(batch);
            Assert.True(batch[^1].Offset < limit, "nothing at or above the limit is served");
            records.AddRange(batch.Where(r => r.Offset >= offset));
            if (compacted)
            {
                // After compaction the offset asked may fall in a gap, and a batch may end in removed records:
                // the next read starts after the last batch's last offset, as a consumer's does.
                long next = offset;
                var span = read.Records.Span;
                for (int at = 0; at < span.Length;)
                {
                    Assert.True(RecordBatchHeader.TryRead(span[at..], out var h));
                    next = Math.Max(next, h.NextOffset);
                    at += (int)h.TotalSize;
                }
                Assert.True(next > offset, "a read makes progress");
                offset = next;
                continue;
            }
            Assert.True(batch[0].Offset <= offset, "a read starts at the batch holding the fetch offset");
            offset = batch[^1].Offset + 1;
        }
        return records;
    }

    /// <summary>
    /// Structural invariants of every segment: contiguous batches filling the file, offset-index entries that name
    /// batch starts, time-index entries that name the first batch reaching each new maximum, index files equal to
    /// the in-memory indexes, and the log's offsets in order.
    /// </summary>
    public void AssertConsistent(UnifiedLog log)
    {
        Assert.True(log.LogStartOffset <= log.HighWatermark && log.HighWatermark <= log.LogEndOffset);
        Assert.True(log.FlushedOffset <= log.LogEndOffset);
        long expectedBase = log.Segments[0].BaseOffset;
        foreach (var segment in log.Segments)
        {
            Assert.Equal(expectedBase, segment.BaseOffset);
            Assert.Equal(segment.Size, segment.LogFile.Length);
            var batches = new List<(int Position, RecordBatchHeader Header)>();
            long next = segment.BaseOffset;
            int position = 0;
            while (position < segment.Size)
            {
                Assert.True(segment.TryReadHeader(position, out var header));
                Assert.Equal(next, header.BaseOffset);
                batches.Add((position, header));
                next = header.NextOffset;
                position += (int)header.TotalSize;
            }
            Assert.Equal(segment.Size, position);
            Assert.Equal(next, segment.NextOffset);
            long largest = batches.Count == 0 ? RecordBatch.NoTimestamp : batches.Max(b => b.Header.MaxTimestamp);
            Assert.Equal(largest, segment.LargestTimestamp);

            var byOffset = batches.ToDictionary(b => b.Header.BaseOffset);
            OffsetPosition? previous = null;
            foreach (var e in segment.OffsetIndex.ReadEntries())
            {
                Assert.True(byOffset.TryGetValue(e.Offset, out var b), $"index entry {e} names no batch");
                Assert.Equal(b.Position, e.Position);
                if (previous is { } p) Assert.True(e.Offset > p.Offset && e.Position > p.Position);
                previous = e;
            }
            foreach (var e in segment.TimeIndex.ReadEntries())
            {
                Assert.True(byOffset.TryGetValue(e.Offset, out var b), $"time entry {e} names no batch");
                Assert.Equal(e.Timestamp, b.Header.MaxTimestamp);
                Assert.All(batches.Where(x => x.Header.BaseOffset < e.Offset), x => Assert.True(x.Header.MaxTimestamp < e.Timestamp));
            }
            string stem = StorageKit.Dir + "/" + LogSegment.FileStem(segment.BaseOffset);
            if (!segment.OffsetIndex.FileDamaged)
                Assert.Equal(segment.OffsetIndex.Count * OffsetIndex.EntrySize, Disk.ReadVolatile(stem + ".index").Length);
            if (!segment.TimeIndex.FileDamaged)
                Assert.Equal(segment.TimeIndex.Count * TimeIndex.EntrySize, Disk.ReadVolatile(stem + ".timeindex").Length);
            expectedBase = next;
        }
        Assert.Equal(expectedBase, log.LogEndOffset);
    }

    public static byte[] Batch(long timestamp, params string[] values)
        => RecordBatchBuilder.Build(values.Select(v => new SimpleRecord(null, System.Text.Encoding.UTF8.GetBytes(v), timestamp)).ToList());

    public static string Text(DecodedRecord r) => System.Text.Encoding.UTF8.GetString(r.Value!);
}
