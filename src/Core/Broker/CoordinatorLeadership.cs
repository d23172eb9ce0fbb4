using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;

namespace DetKafka.Core.Broker;

/// <summary>
/// How a coordinator follows the leadership of its internal partitions in a quorum (REPLICATION.md "Coordinators on
/// replicated partitions"), one piece for the group coordinator (<c>__consumer_offsets</c>) and the transaction
/// coordinator (<c>__transaction_state</c>): a node coordinates a partition's keys while it leads it, and only after it
/// has loaded it in its current epoch. Loading waits until the leader's own epoch-start entry (its LEADER_CHANGE batch)
/// is below the high watermark: by Raft's rules everything before it in the leader's log is then committed, so the log
/// up to the high watermark is loaded and nothing above it is ever served (a Raft leader may hold an uncommitted tail
/// until its first entry commits). Meanwhile requests get COORDINATOR_LOAD_IN_PROGRESS. On losing leadership (or its
/// replica going offline, or a new epoch) the partition is unloaded. The coordinator supplies what loading and
/// unloading mean: <c>load(partition, upTo)</c> replays the log below <c>upTo</c>; <c>unload(partition, why)</c> drops it.
/// </summary>
internal sealed class CoordinatorLeadership(BrokerNode broker, string topic, Action<int, long> load, Action<int, string> unload,
    Func<bool> loadAboveHighWatermark)
{
    /// <summary>Per partition this node leads: the epoch it leads in and whether it is loaded.</summary>
    private readonly Dictionary<int, (int Epoch, bool Loaded)> _state = new();

    /// <summary>Partitions this node coordinates and has loaded.</summary>
    public IEnumerable<int> LoadedPartitions => _state.Where(kv => kv.Value.Loaded).Select(kv => kv.Key).Order();

    /// <summary>The leader epoch partition <paramref name="p"/> was loaded in (Kafka's coordinator epoch), -1 when it is
    /// not loaded here.</summary>
    public int LoadedEpoch(int p) => _state.TryGetValue(p, out var s) && s.Loaded ? s.Epoch : -1;

    /// <summary>Whether partition <paramref name="p"/> is loaded in this node's epoch (the caller already found this
    /// node its leader): None, COORDINATOR_LOAD_IN_PROGRESS while waiting, NOT_COORDINATOR without a local replica.</summary>
    public ErrorCode LoadError(int p)
    {
        if (broker.Replicas.GetPartition(topic, p) is not { } partition) return ErrorCode.NotCoordinator;
        OnMoved(partition);
        return _state.TryGetValue(p, out var l) && l.Loaded && l.Epoch == partition.LeaderEpoch
            ? ErrorCode.None
            : ErrorCode.CoordinatorLoadInProgress;
    }

    /// <summary>A partition's role, epoch or high watermark moved: load, keep waiting, or unload.
    /// <c>loadAboveHighWatermark</c> is a planted bug (tests): load up to the log end at once.</summary>
    public void OnMoved(Partition partition)
    {
        bool planted = loadAboveHighWatermark();
        int p = partition.TopicPartition.Partition;
        bool leading = partition.IsLeader && partition.Failure == ErrorCode.None && partition.Replica is not { Offline: true };
        bool known = _state.TryGetValue(p, out var state);
        if (!leading)
        {
            if (known)
            {
                _state.Remove(p);
                if (state.Loaded) unload(p, "no longer its leader");
            }
            return;
        }
        int epoch = partition.LeaderEpoch;
        if (known && state.Epoch == epoch && state.Loaded) return;
        if (known && state.Epoch != epoch && state.Loaded) unload(p, "a new leader epoch");
        _state[p] = (epoch, false);
        if (partition.Replica is { } replica && !planted)
        {
            var raft = replica.Raft;
            long start = raft.EpochStartOffset;
            if (raft.Role != RaftRole.Leader || raft.Epoch != epoch || start < 0 || partition.HighWatermark <= start) return;
        }
        long upTo = planted ? partition.Log.LogEndOffset : partition.HighWatermark;
        // Marked loaded first: what the load starts (markers of prepared transactions) may ask whether it is loaded.
        _state[p] = (epoch, true);
        load(p, upTo);
    }
}
