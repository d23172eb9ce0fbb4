using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using Xunit;
using static DetKafka.Properties.Broker.BrokerTests;

namespace DetKafka.Properties.Broker;

/// <summary>
/// Partition roles on one node (issue 7's groundwork): becomeLeaderOrFollower through the replica manager, the
/// leader epoch stamped into the leader's batches, what a follower answers, the CurrentLeaderEpoch fence on Fetch,
/// ListOffsets and OffsetForLeaderEpoch, Fetch's DivergingEpoch, and OffsetForLeaderEpoch from the epoch cache.
/// </summary>
public class PartitionRoleTests
{
    private static readonly TopicPartition Tp = new("t", 0);

    private static (BrokerHarness H, Core.Abstractions.ConnectionId C) WithTopic(int records = 2)
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        if (records > 0)
        {
            h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(100, Enumerable.Range(0, records).Select(i => "v" + i).ToArray())));
            h.CompleteSyncs();
            Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9));
        }
        return (h, c);
    }

    private static FetchRequest Fetch12(long offset, int currentLeaderEpoch = -1, int lastFetchedEpoch = -1)
    {
        var fetch = Fetch("t", 0, offset);
        fetch.Topics[0].Partitions[0].CurrentLeaderEpoch = currentLeaderEpoch;
        fetch.Topics[0].Partitions[0].LastFetchedEpoch = lastFetchedEpoch;
        return fetch;
    }

    private static ListOffsetsRequest Latest(int currentLeaderEpoch = -1) => new()
    {
        Topics = { new ListOffsetsRequest.ListOffsetsTopic { Name = "t", Partitions = { new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = 0, Timestamp = -1, CurrentLeaderEpoch = currentLeaderEpoch } } } },
    };

    private static OffsetForLeaderEpochRequest EpochQuery(int leaderEpoch, int currentLeaderEpoch = -1) => new()
    {
        ReplicaId = -1,
        Topics = { new OffsetForLeaderEpochRequest.OffsetForLeaderTopic { Topic = "t", Partitions = { new OffsetForLeaderEpochRequest.OffsetForLeaderPartition { Partition = 0, LeaderEpoch = leaderEpoch, CurrentLeaderEpoch = currentLeaderEpoch } } } },
    };

    private static OffsetForLeaderEpochResponse.EpochEndOffset AskEpoch(BrokerHarness h, Core.Abstractions.ConnectionId c, int epoch, int current = -1, short version = 4)
        => h.Call<OffsetForLeaderEpochResponse>(c, ApiKey.OffsetForLeaderEpoch, version, EpochQuery(epoch, current)).Topics[0].Partitions[0];

    [Fact]
    public void A_follower_refuses_clients_with_not_leader_and_names_the_leader_where_the_version_allows()
    {
        var (h, c) = WithTopic();
        Assert.Equal(ErrorCode.None, h.Node.Replicas.MakeFollower(Tp, leaderId: 2, leaderEpoch: 1, replicas: [h.Config.NodeId, 2]));
        var partition = h.Node.Replicas.GetPartition(Tp)!;
        Assert.False(partition.IsLeader);

        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(200, "x")));
        var produce = Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9)).Body;
        Assert.Equal(ErrorCode.NotLeaderOrFollower, produce.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal(2, partition.LogEndOffset);

        var fetch = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch12(0)).Responses[0].Partitions[0];
        Assert.Equal(ErrorCode.NotLeaderOrFollower, fetch.ErrorCode);
        Assert.Equal(2, fetch.CurrentLeader.LeaderId);
        Assert.Equal(1, fetch.CurrentLeader.LeaderEpoch);
        Assert.True(fetch.Records is null || fetch.Records.Value.Length == 0);
        // v11 has no tagged fields: the error alone.
        var old = h.Call<FetchResponse>(c, ApiKey.Fetch, 11, Fetch("t", 0, 0)).Responses[0].Partitions[0];
        Assert.Equal(ErrorCode.NotLeaderOrFollower, old.ErrorCode);
        Assert.Equal(-1, old.CurrentLeader.LeaderId);

        Assert.Equal(ErrorCode.NotLeaderOrFollower, h.Call<ListOffsetsResponse>(c, ApiKey.ListOffsets, 7, Latest()).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.NotLeaderOrFollower, AskEpoch(h, c, 0).ErrorCode);
        var delete = new DeleteRecordsRequest { TimeoutMs = 1000, Topics = { new DeleteRecordsRequest.DeleteRecordsTopic { Name = "t", Partitions = { new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = 0, Offset = 1 } } } } };
        Assert.Equal(ErrorCode.NotLeaderOrFollower, h.Call<DeleteRecordsResponse>(c, ApiKey.DeleteRecords, 2, delete).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(0, partition.LogStartOffset);

        // Metadata reports the partition as the layer knows it.
        var md = h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t")).Topics[0].Partitions[0];
        Assert.Equal(2, md.LeaderId);
        Assert.Equal(1, md.LeaderEpoch);
        Assert.Equal(new[] { h.Config.NodeId, 2 }, md.ReplicaNodes);
        Assert.Equal(new[] { h.Config.NodeId, 2 }, md.IsrNodes);

        // Leadership back, in a newer epoch: served again, and the new batch carries the new epoch.
        Assert.Equal(ErrorCode.FencedLeaderEpoch, h.Node.Replicas.MakeLeader(Tp, 0, [h.Config.NodeId], [h.Config.NodeId]));
        Assert.Equal(ErrorCode.None, h.Node.Replicas.MakeLeader(Tp, 2, [h.Config.NodeId], [h.Config.NodeId]));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(300, "y")));
        h.CompleteSyncs();
        Assert.Equal(ErrorCode.None, h.Responses<ProduceResponse>(c, ApiKey.Produce, 9).Single().Body.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(2, 2)], partition.Log.LeaderEpochCache.Entries);
        var read = partition.Log.Read(2, 1 << 20, partition.LogEndOffset);
        Assert.True(RecordBatchHeader.TryRead(read.Records.Span, out var header));
        Assert.Equal(2, header.PartitionLeaderEpoch);
    }

    [Fact]
    public void A_produce_waiting_for_its_sync_answers_not_leader_when_leadership_moves()
    {
        var (h, c) = WithTopic(records: 0);
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(100, "a")));
        Assert.Empty(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9));
        Assert.Equal(ErrorCode.None, h.Node.Replicas.MakeFollower(Tp, 2, 1, [h.Config.NodeId, 2]));
        h.CompleteSyncs();
        var answer = Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9)).Body;
        Assert.Equal(ErrorCode.NotLeaderOrFollower, answer.Responses[0].PartitionResponses[0].ErrorCode);
        // The follower's high watermark did not move on its own sync: it learns it from the leader.
        var partition = h.Node.Replicas.GetPartition(Tp)!;
        Assert.Equal(0, partition.HighWatermark);
        Assert.True(partition.UpdateFollowerHighWatermark(5));
        Assert.Equal(1, partition.HighWatermark); // bounded by what this replica holds
    }

    [Fact]
    public void The_current_leader_epoch_fences_fetch_list_offsets_and_offset_for_leader_epoch()
    {
        var (h, c) = WithTopic();
        Assert.Equal(ErrorCode.None, h.Node.Replicas.MakeLeader(Tp, 3, [h.Config.NodeId], [h.Config.NodeId]));
        foreach (var (epoch, expected) in new[] { (2, ErrorCode.FencedLeaderEpoch), (4, ErrorCode.UnknownLeaderEpoch), (3, ErrorCode.None), (-1, ErrorCode.None) })
        {
            var fetch = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch12(0, currentLeaderEpoch: epoch)).Responses[0].Partitions[0];
            Assert.Equal(expected, fetch.ErrorCode);
            if (expected == ErrorCode.None) Assert.Equal(["v0", "v1"], Values(fetch.Records));
            var list = h.Call<ListOffsetsResponse>(c, ApiKey.ListOffsets, 4, Latest(epoch)).Topics[0].Partitions[0];
            Assert.Equal(expected, list.ErrorCode);
            if (expected == ErrorCode.None) Assert.Equal((2L, 3), (list.Offset, list.LeaderEpoch));
            Assert.Equal(expected, AskEpoch(h, c, 0, epoch, version: 2).ErrorCode);
        }
        // Before v4 ListOffsets carries no epoch, so nothing is fenced.
        Assert.Equal(ErrorCode.None, h.Call<ListOffsetsResponse>(c, ApiKey.ListOffsets, 3, Latest(2)).Topics[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public void Offset_for_leader_epoch_and_diverging_epoch_come_from_the_epoch_cache()
    {
        var (h, c) = WithTopic(records: 2);                      // epoch 0: offsets 0-1
        Assert.Equal(ErrorCode.None, h.Node.Replicas.MakeLeader(Tp, 3, [h.Config.NodeId], [h.Config.NodeId]));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(200, "a", "b", "c")));   // epoch 3: offsets 2-4
        h.CompleteSyncs();
        Assert.Single(h.Responses<ProduceResponse>(c, ApiKey.Produce, 9));
        foreach (short version in new short[] { 0, 1, 2, 3, 4 })
        {
            var e0 = AskEpoch(h, c, 0, version: version);
            Assert.Equal(ErrorCode.None, e0.ErrorCode);
            Assert.Equal(2, e0.EndOffset);
            Assert.Equal(version >= 1 ? 0 : -1, e0.LeaderEpoch);
        }
        var e1 = AskEpoch(h, c, 1);
        Assert.Equal((0, 2L), (e1.LeaderEpoch, e1.EndOffset));  // unknown epoch: the largest below it, ending where 3 starts
        var e3 = AskEpoch(h, c, 3);
        Assert.Equal((3, 5L), (e3.LeaderEpoch, e3.EndOffset));  // the latest epoch ends at the log end
        var e9 = AskEpoch(h, c, 9);
        Assert.Equal((-1, -1L), (e9.LeaderEpoch, e9.EndOffset));

        // A fetcher that last saw epoch 1 at offset 4 diverges: epoch 0 ended at 2 here.
        var diverged = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch12(4, lastFetchedEpoch: 1)).Responses[0].Partitions[0];
        Assert.Equal(ErrorCode.None, diverged.ErrorCode);
        Assert.Equal((0, 2L), (diverged.DivergingEpoch.Epoch, diverged.DivergingEpoch.EndOffset));
        Assert.True(diverged.Records is null || diverged.Records.Value.Length == 0);
        // One that last saw epoch 0 and fetches from 2 is in step.
        var inStep = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch12(2, lastFetchedEpoch: 0)).Responses[0].Partitions[0];
        Assert.Equal(-1, inStep.DivergingEpoch.Epoch);
        Assert.Equal(["a", "b", "c"], Values(inStep.Records));
    }

    [Fact]
    public void The_epoch_cache_survives_a_restart()
    {
        var (h, c) = WithTopic(records: 2);
        Assert.Equal(ErrorCode.None, h.Node.Replicas.MakeLeader(Tp, 5, [h.Config.NodeId], [h.Config.NodeId]));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(200, "a")));
        h.CompleteSyncs();
        h.CrashAndRestart();
        Assert.Equal(6, h.Node.Replicas.GetPartition(Tp)!.LeaderEpoch); // led again, in an epoch above the log's newest
        var log = h.Node.Replicas.GetPartition(Tp)!.Log;
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(5, 2)], log.LeaderEpochCache.Entries);
        Assert.Equal((0, 2L), log.EndOffsetForEpoch(4));
    }
}
