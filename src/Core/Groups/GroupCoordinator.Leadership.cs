using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;

namespace DetKafka.Core.Groups;

// The coordinator follows partition leadership (quorum mode; REPLICATION.md "Coordinators on replicated partitions"):
// a node coordinates the groups of a __consumer_offsets partition while it leads it, and only after it has loaded it
// in its current epoch. Loading waits until the leader's own epoch-start entry (its LEADER_CHANGE batch) is below the
// high watermark: by Raft's rules everything before it in the leader's log is then committed, so the whole log up to
// the high watermark is loaded and nothing above it is ever served (Kafka's GroupMetadataManager reads the whole log
// at election, its ISR leader holding only what may be committed; a Raft leader may hold an uncommitted tail until
// its first entry commits). Meanwhile requests get COORDINATOR_LOAD_IN_PROGRESS. On losing leadership (or its replica
// going offline) the partition's groups are dropped: waiting joins and syncs answer NOT_COORDINATOR, timers stop, and
// in-flight writes end with NOT_LEADER_OR_FOLLOWER through the replica's completion (NOT_COORDINATOR to the client).
public sealed partial class GroupCoordinator
{
    /// <summary>Per __consumer_offsets partition this node leads: the epoch it leads in and whether it is loaded (the
    /// rule shared with the transaction coordinator, Broker/CoordinatorLeadership.cs).</summary>
    private CoordinatorLeadership? _leadershipState;
    private CoordinatorLeadership Leadership => _leadershipState ??= new CoordinatorLeadership(_broker, GroupRecords.OffsetsTopic, Load, Unload,
        () => (Faults & GroupFaults.LoadAboveHighWatermark) != 0);

    /// <summary>Partitions this node coordinates and has loaded (tests and the CLI).</summary>
    public IEnumerable<int> LoadedPartitions => Leadership.LoadedPartitions;

    /// <summary>Quorum mode: whether partition <paramref name="p"/> is loaded in this node's epoch (CheckCoordinator
    /// already found this node its leader). A single-replica partition has nothing uncommitted: loaded at once.</summary>
    private ErrorCode LoadError(int p) => Leadership.LoadError(p);

    /// <summary>A __consumer_offsets partition's role, epoch or high watermark moved: load, keep waiting, or unload.</summary>
    internal void OnOffsetsPartitionMoved(Partition partition)
        => Leadership.OnMoved(partition);

    /// <summary>Drops the groups of partition <paramref name="p"/> (Kafka's removeGroupsForPartition).</summary>
    private void Unload(int p, string why)
    {
        int dropped = 0;
        foreach (var group in _groups.Values.Where(g => PartitionFor(g.Id) == p).ToList())
        {
            group.JoinTimer?.Cancel();
            group.JoinTimer = null;
            foreach (var timer in group.PendingMembers.Values) timer.Cancel();
            group.PendingMembers.Clear();
            foreach (var m in group.Members)
            {
                if (m.AwaitingJoin is { } j) j.Respond(JoinError(j.Version, m.MemberId, ErrorCode.NotCoordinator));
                if (m.AwaitingSync is { } s) s.Respond(SyncError(s.Version, ErrorCode.NotCoordinator));
                m.AwaitingJoin = null;
                m.AwaitingSync = null;
                m.SessionTimer?.Cancel();
                m.SessionTimer = null;
            }
            if (group.Consumer is { } cg)
                foreach (var m in cg.Members.Values)
                {
                    m.SessionTimer?.Cancel();
                    m.RebalanceTimer?.Cancel();
                }
            group.TransitionTo(GroupState.Dead, WallNow);
            _groups.Remove(group.Id);
            dropped++;
        }
        foreach (var key in _pendingTxnOffsets.Keys.Where(k => k.Partition == p).ToList()) _pendingTxnOffsets.Remove(key);
        _broker.Log.Info("Unloaded {Groups} groups of {Topic}-{Partition}: {Why}", dropped, GroupRecords.OffsetsTopic, p, why);
    }
}
