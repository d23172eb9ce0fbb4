using System.Buffers.Binary;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using Xunit;

namespace DetKafka.Properties.Client;

/// <summary>
/// The Core client against a node whose partition is made a follower (issue 7's groundwork): the broker answers
/// NOT_LEADER_OR_FOLLOWER, the client refreshes its metadata and retries, and once the node leads again (a newer
/// epoch) every record lands exactly once, in order, and the consumer reads them all.
/// </summary>
public class FollowerRoleClientTests
{
    [Fact]
    public void Producer_and_consumer_refresh_metadata_and_retry_until_the_node_leads_again()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var tp = new TopicPartition("t", 0);
        var client = net.NewClient();
        var producer = new Producer(client, new ProducerOptions { Acks = -1, LingerMs = 0, RetryBackoffMs = 20, DeliveryTimeoutMs = 60_000 });
        var delivered = new List<(ErrorCode Error, long? Offset)>();
        producer.Send(new ProducerRecord("t", 0, null, Loopback.Long(0)), r => delivered.Add((r.Error, r.Offset)));
        net.Run();
        Assert.Equal([(ErrorCode.None, (long?)0)], delivered);
        var consumer = new Consumer(client, new ConsumerOptions { FetchMaxWaitMs = 5 });
        var consumerErrors = new List<ErrorCode>();
        consumer.PartitionError = (_, e, _) => consumerErrors.Add(e);
        consumer.Assign([tp], new Dictionary<TopicPartition, long> { [tp] = 0 });
        net.Run();
        Assert.Single(consumer.TakeRecords(100));

        // Another node leads now (as the metadata says); this node refuses clients.
        Assert.Equal(ErrorCode.None, net.Broker.Replicas.MakeFollower(tp, leaderId: 2, leaderEpoch: 1, replicas: [1, 2]));
        int metadataBefore = net.RequestsSent.Count(k => k == ApiKey.Metadata);
        for (int i = 1; i <= 5; i++) producer.Send(new ProducerRecord("t", 0, null, Loopback.Long(i)), r => delivered.Add((r.Error, r.Offset)));
        net.Run(500);
        Assert.Single(delivered); // nothing acknowledged by a follower
        Assert.Equal(1, net.Broker.Replicas.GetPartition(tp)!.LogEndOffset);
        Assert.True(net.RequestsSent.Count(k => k == ApiKey.Metadata) > metadataBefore, "NOT_LEADER_OR_FOLLOWER made the client refresh its metadata");
        Assert.True(net.RequestsSent.Count(k => k == ApiKey.Produce) >= 2, "the producer kept retrying");
        Assert.Empty(consumer.TakeRecords(100));

        // Leadership comes back in a newer epoch: the retries land, once each, in order.
        Assert.Equal(ErrorCode.None, net.Broker.Replicas.MakeLeader(tp, leaderEpoch: 2, replicas: [1], isr: [1]));
        net.Run(2000);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => (ErrorCode.None, (long?)i)), delivered);
        var records = consumer.TakeRecords(100);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), records.Select(r => r.Offset));
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), records.Select(r => BinaryPrimitives.ReadInt64BigEndian(r.Value)));
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(2, 1)], net.Broker.Replicas.GetPartition(tp)!.Log.LeaderEpochCache.Entries);
    }
}
