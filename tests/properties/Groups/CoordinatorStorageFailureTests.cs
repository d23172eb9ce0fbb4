using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Transactions;
using DetKafka.Properties.Broker;
using DetKafka.Properties.Transactions;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Groups;

/// <summary>
/// A coordinator whose internal partition's log failed for good (a sync answered EIO: the log is offline, as Kafka
/// takes a log directory offline) must stop coordinating the keys of that partition with
/// COORDINATOR_NOT_AVAILABLE, so clients look elsewhere, while keys on healthy partitions keep working.
/// Removing the failure check in <c>BrokerNode.CoordinatorError</c> makes both tests fail.
/// </summary>
public sealed class CoordinatorStorageFailureTests
{
    private const int Partitions = 3;

    private static BrokerHarness Broker()
    {
        var h = new BrokerHarness(new BrokerConfig
        {
            NodeId = 1,
            DataDirectory = "data",
            OffsetsTopicNumPartitions = Partitions,
            TransactionStateLogNumPartitions = Partitions,
        });
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("t", 1, [], validateOnly: false, out _).Item1);
        return h;
    }

    /// <summary>Two keys that map to different partitions of an internal topic.</summary>
    private static (string Failing, string Healthy) KeysOnDifferentPartitions()
    {
        string a = "key-0";
        for (int i = 1; i < 100; i++)
        {
            string b = "key-" + i;
            if (GroupRecords.PartitionFor(b, Partitions) != GroupRecords.PartitionFor(a, Partitions)) return (a, b);
        }
        throw new InvalidOperationException("no two keys on different partitions");
    }

    /// <summary>Every later sync completion of the partition's files answers EIO.</summary>
    private static void FailSyncsOf(BrokerHarness h, string topic, int partition)
    {
        string dir = $"{topic}-{partition}/";
        h.Disk.FaultHook = (op, path) => op == SimDiskOperation.SyncCompletion && path.Contains(dir, StringComparison.Ordinal)
            ? DiskStatus.IoError : DiskStatus.Ok;
    }

    private static ErrorCode Find(BrokerHarness h, ConnectionId c, string key, sbyte keyType)
        => h.Call<FindCoordinatorResponse>(c, ApiKey.FindCoordinator, 1, new FindCoordinatorRequest { Key = key, KeyType = keyType }).ErrorCode;

    private static ErrorCode Commit(BrokerHarness h, ConnectionId c, string group, long offset)
        => h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 2, new OffsetCommitRequest
        {
            GroupId = group,
            GenerationId = -1,
            MemberId = "",
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CommittedOffset = offset }] }],
        }).Topics[0].Partitions[0].ErrorCode;

    [Fact]
    public void A_failed_offsets_partition_answers_coordinator_not_available_for_its_groups_only()
    {
        var h = Broker();
        var c = h.Connect();
        var (failing, healthy) = KeysOnDifferentPartitions();
        Assert.Equal(ErrorCode.None, Commit(h, c, failing, 1));
        Assert.Equal(ErrorCode.None, Commit(h, c, healthy, 1));

        FailSyncsOf(h, GroupRecords.OffsetsTopic, GroupRecords.PartitionFor(failing, Partitions));
        // The commit whose sync fails is not acknowledged as a success.
        Assert.NotEqual(ErrorCode.None, Commit(h, c, failing, 2));
        Assert.NotEqual(ErrorCode.None, h.Node.Replicas.GetPartition(GroupRecords.OffsetsTopic, GroupRecords.PartitionFor(failing, Partitions))!.Failure);

        Assert.Equal(ErrorCode.CoordinatorNotAvailable, Find(h, c, failing, 0));
        Assert.Equal(ErrorCode.CoordinatorNotAvailable, Commit(h, c, failing, 3));
        Assert.Equal(ErrorCode.None, Find(h, c, healthy, 0));
        Assert.Equal(ErrorCode.None, Commit(h, c, healthy, 2));
    }

    [Fact]
    public void A_failed_transaction_state_partition_answers_coordinator_not_available_for_its_ids_only()
    {
        var h = Broker();
        var c = h.Connect();
        var (failing, healthy) = KeysOnDifferentPartitions();
        Assert.Equal(ErrorCode.None, TransactionCoordinatorTests.Init(h, c, failing).ErrorCode);
        Assert.Equal(ErrorCode.None, TransactionCoordinatorTests.Init(h, c, healthy).ErrorCode);

        FailSyncsOf(h, TransactionRecords.StateTopic, TransactionRecords.PartitionFor(failing, Partitions));
        // Re-initialising writes a new epoch to the state partition; its sync fails.
        Assert.NotEqual(ErrorCode.None, TransactionCoordinatorTests.Init(h, c, failing).ErrorCode);

        Assert.Equal(ErrorCode.CoordinatorNotAvailable, Find(h, c, failing, 1));
        Assert.Equal(ErrorCode.None, Find(h, c, healthy, 1));
        Assert.Equal(ErrorCode.None, TransactionCoordinatorTests.Init(h, c, healthy).ErrorCode);
    }
}
