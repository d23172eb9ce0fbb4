using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Properties.Broker;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Broker;

/// <summary>
/// Producer-id blocks are ProducerIdsRecords in the metadata log (Kafka's ProducerIdsRecord), never a side file:
/// an id handed out is covered by a committed block, so no crash, torn tail, snapshot or migration ever lets a
/// second producer get it.
/// </summary>
public sealed class ProducerIdBlockTests
{
    private static long InitProducerId(BrokerHarness h, Core.Abstractions.ConnectionId? connection = null)
    {
        var c = connection ?? h.Connect();
        var r = h.Call<InitProducerIdResponse>(c, ApiKey.InitProducerId, 4, new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000 });
        Assert.Equal(ErrorCode.None, r.ErrorCode);
        return r.ProducerId;
    }

    [Fact]
    public void Ids_are_never_handed_out_twice_across_crashes_with_torn_tails()
    {
        for (ulong seed = 1; seed <= 30; seed++)
        {
            var h = new BrokerHarness(seed: seed);
            var random = new SeededRandom(seed);
            var seen = new HashSet<long>();
            for (int round = 0; round < 4; round++)
            {
                // A round takes ids, sometimes a whole block and more, and creates a topic whose sync it may not
                // see complete before the crash (a torn metadata tail after the block's record).
                int n = 1 + (int)random.NextBelow(1500UL);
                var c = h.Connect();
                for (int i = 0; i < n; i++) Assert.True(seen.Add(InitProducerId(h, c)), $"seed {seed}: a producer id was handed out twice");
                h.Send(c, ApiKey.CreateTopics, 7, new CreateTopicsRequest
                {
                    Topics = [new() { Name = $"t{round}", NumPartitions = 1, ReplicationFactor = 1 }],
                    TimeoutMs = 1000,
                });
                h.CrashAndRestart(random);
            }
        }
    }

    [Fact]
    public void The_block_survives_a_metadata_snapshot()
    {
        var h = new BrokerHarness();
        h.Node.MetadataLog.SnapshotEveryBatches = 1;
        long first = InitProducerId(h);
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("t", 1, [], validateOnly: false, out _).Error);
        Assert.True(h.Node.MetadataLog.SnapshotOffset >= 0, "a snapshot was written");
        h.CrashAndRestart();
        Assert.True(InitProducerId(h) > first);
    }

    [Fact]
    public void The_old_producer_ids_file_is_migrated_into_the_metadata_log_and_removed()
    {
        var disk = new SimDisk();
        disk.CreateDirectory("data");
        var bytes = new byte[16];
        "DKP1"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(4), 5000);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), Crc32C.Compute(bytes.AsSpan(0, 12)));
        using (var f = disk.Open("data/__detkafka_producer_ids", create: true))
        {
            f.Write(0, bytes);
            f.SyncNow();
        }
        var h = new BrokerHarness(disk: disk);
        Assert.False(disk.FileExists("data/__detkafka_producer_ids"));
        Assert.True(InitProducerId(h) >= 5000);
        h.CrashAndRestart();
        Assert.True(InitProducerId(h) >= 6000, "the next block starts past the migrated one");
    }
}
