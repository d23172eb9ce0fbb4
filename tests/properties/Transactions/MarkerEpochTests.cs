using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Properties.Storage;
using Xunit;

namespace DetKafka.Properties.Transactions;

/// <summary>A marker moves the producer's epoch in the partition, as Kafka's appendEndTxnMarker does
/// (TRANSACTIONS.md, "Markers"): after a fence's abort marker at a newer epoch, a zombie's batch at the old epoch is
/// refused by the partition itself, also after recovery rebuilt the state from the log.</summary>
public sealed class MarkerEpochTests
{
    private static byte[] Txn(short epoch, int sequence, string value)
        => RecordBatchBuilder.Build([new SimpleRecord(null, System.Text.Encoding.UTF8.GetBytes(value), 1)], producerId: 5,
            producerEpoch: epoch, baseSequence: sequence, isTransactional: true);

    [Fact]
    public void A_marker_at_a_newer_epoch_fences_the_old_epoch_in_the_partition()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 4096));
        Assert.Equal(ErrorCode.None, log.Append(Txn(0, 0, "a"), 1).Error);
        // The coordinator fenced the producer (epoch 0 -> 1) and aborted its transaction with a marker at epoch 1.
        Assert.Equal(ErrorCode.None, log.Append(ControlRecord.BuildMarker(5, 1, 1, commit: false, 1), 1, fromCoordinator: true).Error);
        Assert.Equal((short)1, log.Producers.EpochOf(5));
        Assert.Equal(ErrorCode.InvalidProducerEpoch, log.Append(Txn(0, 1, "zombie"), 1).Error);
        // The new epoch starts its sequences at 0.
        Assert.NotEqual(ErrorCode.None, log.Append(Txn(2, 3, "gap"), 1).Error);
        Assert.Equal(ErrorCode.None, log.Append(Txn(2, 0, "b"), 1).Error);
        Assert.Equal(ErrorCode.None, log.Append(ControlRecord.BuildMarker(5, 2, 1, commit: true, 1), 1, fromCoordinator: true).Error);
        log.MaybeStartSync(1);
        kit.CompleteSyncs(log);
        log.Dispose();

        var reopened = kit.Open(StorageKit.Tiny(segmentBytes: 4096));
        Assert.Equal((short)2, reopened.Producers.EpochOf(5));
        Assert.Equal(ErrorCode.InvalidProducerEpoch, reopened.Append(Txn(1, 0, "zombie"), 1).Error);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("uncompressed")]
    public void A_marker_is_written_uncompressed_whatever_the_topics_compression_type(string compression)
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 4096) with { CompressionType = compression });
        Assert.Equal(ErrorCode.None, log.Append(Txn(0, 0, "a"), 1).Error);
        // Recompressing a control batch made the partition's own marker check fail (found by the swarm).
        Assert.Equal(ErrorCode.None, log.Append(ControlRecord.BuildMarker(5, 0, 1, commit: true, 1), 1, fromCoordinator: true).Error);
        Assert.Equal(0, log.Transactions.OpenCount);
    }
}
