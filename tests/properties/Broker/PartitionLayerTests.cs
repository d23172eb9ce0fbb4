using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using Xunit;
using static DetKafka.Properties.Broker.BrokerTests;

namespace DetKafka.Properties.Broker;

/// <summary>The partition layer (ReplicaManager -> Partition -> log) and the purgatory's keyed waiting (issue 16).</summary>
public class PartitionLayerTests
{
    [Fact]
    public void The_partition_owns_the_high_watermark_and_the_log_holds_what_it_was_told()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        var partition = h.Node.Replicas.GetPartition("t", 0)!;
        Assert.True(partition.IsLeader);
        Assert.Equal(h.Config.NodeId, partition.LeaderId);
        Assert.Equal(0, partition.LeaderEpoch);
        Assert.Equal(new[] { h.Config.NodeId }, partition.Replicas);
        Assert.Same(h.Node.FindLog("t", 0), partition.Log);

        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(100, "a", "b")));
        // Written, not synced: the log could acknowledge nothing yet, so the partition did not move.
        Assert.Equal(2, partition.LogEndOffset);
        Assert.Equal(0, partition.Log.LocalCommittableOffset);
        Assert.Equal(0, partition.HighWatermark);
        h.CompleteSyncs();
        Assert.Equal(2, partition.HighWatermark);
        Assert.Equal(partition.HighWatermark, partition.Log.HighWatermark);
        Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9));

        // Metadata describes the partition as the layer knows it.
        var md = h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        var p = Assert.Single(md.Topics[0].Partitions);
        Assert.Equal(partition.LeaderId, p.LeaderId);
        Assert.Equal(partition.LeaderEpoch, p.LeaderEpoch);
        Assert.Equal(partition.Replicas, p.ReplicaNodes);
        Assert.Equal(partition.InSyncReplicas, p.IsrNodes);
    }

    [Fact]
    public void Deleting_a_topic_removes_its_partitions_from_the_layer()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        var log = h.Node.FindLog("t", 0)!;
        Assert.True(log.HighWatermarkFromPartition);
        h.Node.DeleteTopic("t");
        Assert.Null(h.Node.Replicas.GetPartition("t", 0));
    }

    [Fact]
    public void A_sync_wakes_only_the_waiters_of_its_partition()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("a", "b"));
        // A fetch waits on a-0; a produce to b-0 waits for its sync.
        var consumer = h.Connect();
        h.Send(consumer, ApiKey.Fetch, 12, Fetch("a", 0, 0, maxWaitMs: 500));
        var producer = h.Connect();
        h.Send(producer, ApiKey.Produce, 9, Produce("b", 0, Batch(1, "x")));
        Assert.Equal(2, h.Node.Purgatory.Count);
        Assert.Equal(2, h.Node.Purgatory.WatchedKeys);

        h.CompleteSyncs();
        // The produce answered; the fetch on the other partition was not retried and still waits.
        Assert.Single(h.Responses<ProduceResponse>(producer, ApiKey.Produce, 9));
        Assert.Empty(h.Network.TakeFrames(consumer));
        Assert.Equal(1, h.Node.Purgatory.Count);
        Assert.Equal(1, h.Node.Purgatory.WatchedKeys);

        h.Send(producer, ApiKey.Produce, 9, Produce("a", 0, Batch(2, "y")));
        h.CompleteSyncs();
        Assert.Single(h.Responses<FetchResponse>(consumer, ApiKey.Fetch, 12));
        Assert.Equal(0, h.Node.Purgatory.Count);
        Assert.Equal(0, h.Node.Purgatory.WatchedKeys);
    }

    [Fact]
    public void A_fetch_of_several_partitions_leaves_every_watcher_list_once_answered_or_expired()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("a", "b"));
        var consumer = h.Connect();
        var fetch = Fetch("a", 0, 0, maxWaitMs: 500);
        fetch.Topics.Add(new FetchRequest.FetchTopic { Topic = "b", Partitions = { new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1024 } } });
        // The same partition twice is watched once.
        fetch.Topics.Add(new FetchRequest.FetchTopic { Topic = "b", Partitions = { new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1024 } } });
        h.Send(consumer, ApiKey.Fetch, 12, fetch);
        Assert.Equal(2, h.Node.Purgatory.WatchedKeys);
        h.AdvanceTime(500);
        Assert.Single(h.Responses<FetchResponse>(consumer, ApiKey.Fetch, 12));
        Assert.Equal(0, h.Node.Purgatory.WatchedKeys);

        h.Send(consumer, ApiKey.Fetch, 12, fetch);
        h.Send(c, ApiKey.Produce, 9, Produce("b", 0, Batch(3, "z")));
        h.CompleteSyncs();
        Assert.Single(h.Responses<FetchResponse>(consumer, ApiKey.Fetch, 12));
        Assert.Equal(0, h.Node.Purgatory.Count);
        Assert.Equal(0, h.Node.Purgatory.WatchedKeys);
    }

    [Fact]
    public void An_answer_does_not_run_the_next_request_inside_it_the_step_end_does()
    {
        // Two produces pipelined on one connection with one in-flight slot: the second stays buffered until the
        // first is answered, and then runs in the same input (the sync completion), after the answer.
        var h = new BrokerHarness(new BrokerConfig { MaxInFlightRequestsPerConnection = 1 });
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(1, "a")));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(2, "b")));
        Assert.Equal(1, h.Node.FindLog("t", 0)!.LogEndOffset);
        h.CompleteSyncs();
        Assert.Equal(2, h.Node.FindLog("t", 0)!.LogEndOffset); // resumed at the end of the sync's step
        Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9));
        h.CompleteSyncs();
        Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9));
        Assert.Equal(2, h.Node.Replicas.GetPartition(new TopicPartition("t", 0))!.HighWatermark);
    }
}
