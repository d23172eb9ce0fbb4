using DetKafka.Core.Util;

namespace DetKafka.Core.Partitions;

/// <summary>
/// What a replicated partition's <see cref="PartitionReplica"/> sets beyond the roles (REPLICATION.md, "Partitions on
/// Raft"): the starting point of a partition whose leader and epoch come from its Raft state, the in-sync replicas the
/// leader measures, and the replicas it considers offline.
/// </summary>
public sealed partial class Partition
{
    private int[] _offline = [];

    /// <summary>This node's Raft replica when the partition is replicated (more than one replica, this node among
    /// them, in quorum mode): produce, the high watermark and the role go through it. Null otherwise.</summary>
    public PartitionReplica? Replica { get; internal set; }

    /// <summary>Replicas whose broker the leader has not heard from within replica.lag.time.max.ms (Metadata's
    /// offline_replicas); empty on a follower and on a single-replica partition.</summary>
    public IReadOnlyList<int> OfflineReplicas => _offline;

    /// <summary>
    /// A replicated partition, just opened: no leader known yet, in <paramref name="epoch"/> (its Raft epoch, which
    /// may be below the "latest + 1" a single-replica partition starts in), with its high watermark at the log start
    /// (the recovered tail may be uncommitted and truncated later; the commit index will say). Only before any
    /// other role change.
    /// </summary>
    internal void StartReplicated(int epoch, IReadOnlyList<int> replicas)
    {
        Check.That(epoch >= 0);
        CheckReplicaSet(replicas, replicas);
        AwaitingImage = false;
        LeaderId = -1;
        LeaderEpoch = epoch;
        _replicas = replicas.ToArray();
        _isr = _replicas;
        _highWatermark = Log.LogStartOffset;
        Log.ResetHighWatermarkForReplication(_highWatermark);
    }

    /// <summary>True from a quorum-mode start until the metadata image says what the partition is: a recovered log may
    /// hold a replicated partition's uncommitted tail, so nothing is served from it before its replica opens.</summary>
    internal bool AwaitingImage { get; private set; }

    /// <summary>Quorum mode, at start: no leader until the image replays the partition (<see cref="StartReplicated"/>
    /// or <see cref="LeadAlone"/>).</summary>
    internal void AwaitImage()
    {
        AwaitingImage = true;
        LeaderId = -1;
    }

    /// <summary>The image says the partition has this node as its only replica: it leads as before.</summary>
    internal void LeadAlone()
    {
        if (!AwaitingImage) return;
        AwaitingImage = false;
        LeaderId = LocalNodeId;
    }

    /// <summary>The leader's measure of its in-sync replicas (itself included) and of the offline ones.</summary>
    internal void SetReplicaStates(IReadOnlyList<int> isr, IReadOnlyList<int> offline)
    {
        Check.That(IsLeader && isr.Contains(LocalNodeId), "the leader measures the ISR and is in it");
        CheckReplicaSet(_replicas, isr);
        Check.That(offline.All(_replicas.Contains) && !offline.Contains(LocalNodeId));
        if (!_isr.SequenceEqual(isr)) _isr = isr.ToArray();
        if (!_offline.SequenceEqual(offline)) _offline = offline.ToArray();
    }

    /// <summary>A follower does not measure replicas: it reports the replica set as in sync and none offline.</summary>
    internal void ClearReplicaStates() => _offline = [];
}
