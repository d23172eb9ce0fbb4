using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;

namespace DetKafka.Sim.World;

// Who leads what, as the running nodes' partition layers say: the workload's liveness goal and the checks ask
// here instead of assuming a node, so they keep meaning the same once partitions have several replicas.
public sealed partial class SimWorld
{
    /// <summary>The running node whose partition layer says it leads <paramref name="tp"/>, or null (none is up,
    /// or none leads it).</summary>
    public SimNode? LeaderOf(TopicPartition tp)
    {
        foreach (var node in _nodes)
            if (node.Broker?.Replicas.GetPartition(tp) is { IsLeader: true }) return node;
        return null;
    }

    /// <summary>The leader's view of <paramref name="tp"/> (its high watermark is the committed end), or null.</summary>
    public Partition? LeaderPartition(TopicPartition tp) => LeaderOf(tp)?.Broker?.Replicas.GetPartition(tp);

    /// <summary>The broker coordinating <paramref name="groupId"/>: the leader of its <c>__consumer_offsets</c>
    /// partition, or null while none leads it.</summary>
    public BrokerNode? CoordinatorOf(string groupId)
    {
        foreach (var node in _nodes)
        {
            if (node.Broker is not { } broker) continue;
            var tp = new TopicPartition(GroupRecords.OffsetsTopic, broker.Groups.PartitionFor(groupId));
            if (broker.Replicas.GetPartition(tp) is { IsLeader: true }) return broker;
        }
        return null;
    }
}
