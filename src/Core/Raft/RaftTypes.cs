using DetKafka.Core.Util;

namespace DetKafka.Core.Raft;

/// <summary>A replica's identity (KIP-853): its node id and the directory id drawn when its log directory was
/// created. A node restarted with an empty disk draws a new directory id, so it is a different replica and cannot
/// vote as the one whose log it lost.</summary>
public readonly record struct ReplicaKey(int Id, Guid DirectoryId)
{
    public override string ToString() => $"{Id}/{DirectoryId.ToString()[..8]}";
}

/// <summary>An offset and the epoch of the entry before it (Kafka's OffsetAndEpoch): a log end, a diverging
/// point, a snapshot id.</summary>
public readonly record struct OffsetAndEpoch(long Offset, int Epoch)
{
    /// <summary>Raft's "at least as up to date": compare the last epoch, then the offset.</summary>
    public int CompareTo(OffsetAndEpoch other) => Epoch != other.Epoch ? Epoch.CompareTo(other.Epoch) : Offset.CompareTo(other.Offset);
}

/// <summary>The voters of one replicated log. Static for now (KIP-853's AddRaftVoter/RemoveRaftVoter are later
/// work): a replica whose key is not here is an observer: it fetches, never votes, never counts for the
/// high watermark.</summary>
public sealed class VoterSet
{
    public const int MaxVoters = 15;
    private readonly ReplicaKey[] _voters;

    public VoterSet(IEnumerable<ReplicaKey> voters)
    {
        _voters = voters.OrderBy(v => v.Id).ToArray();
        Check.That(_voters.Length is >= 1 and <= MaxVoters);
        for (int i = 1; i < _voters.Length; i++) Check.That(_voters[i].Id != _voters[i - 1].Id);
    }

    public IReadOnlyList<ReplicaKey> Voters => _voters;
    public int Count => _voters.Length;
    public int Majority => _voters.Length / 2 + 1;

    public bool IsVoter(ReplicaKey key)
    {
        foreach (var v in _voters) if (v == key) return true;
        return false;
    }

    /// <summary>The voter key with this id, if any.</summary>
    public bool TryGet(int id, out ReplicaKey key)
    {
        foreach (var v in _voters)
        {
            if (v.Id == id) { key = v; return true; }
        }
        key = default;
        return false;
    }
}

/// <summary>The durable quorum state (Kafka's quorum-state file): written and synced before anything that depends
/// on it leaves the node. Epoch and vote are what Raft must never forget; the leader id lets a restarted follower
/// find its leader again; the directory id is the replica's identity (it lives beside the log it names).</summary>
public readonly record struct QuorumStateData(int Epoch, int VotedId, Guid VotedDirectoryId, int LeaderId, Guid DirectoryId)
{
    public const int NoId = -1;
    public bool HasVoted => VotedId != NoId;
}

public enum RaftRole { Unattached, Prospective, Candidate, Leader, Follower, Resigned }

/// <summary>Timers and bounds (Kafka's controller.quorum.* names, milliseconds).</summary>
public sealed record RaftConfig
{
    /// <summary>controller.quorum.election.timeout.ms: the base; each election waits a random time in [T, 2T).</summary>
    public int ElectionTimeoutMs { get; init; } = 1000;
    /// <summary>controller.quorum.fetch.timeout.ms: a follower that has not had a valid fetch response for this long
    /// starts an election (pre-vote first); a voter that has heard from its leader within it refuses (stickiness).
    /// The leader's check-quorum timer is 1.5 times this (as KafkaRaftClient).</summary>
    public int FetchTimeoutMs { get; init; } = 2000;
    /// <summary>controller.quorum.election.backoff.max.ms: the wait after a lost election, drawn in [0, max).</summary>
    public int ElectionBackoffMaxMs { get; init; } = 1000;
    /// <summary>controller.quorum.request.timeout.ms: an unanswered request is sent again after this.</summary>
    public int RequestTimeoutMs { get; init; } = 500;
    /// <summary>How long the leader parks a fetch that has nothing new (Fetch max_wait_ms of followers).</summary>
    public int FetchMaxWaitMs { get; init; } = 300;
    /// <summary>Bounds: entries per fetch response, and messages queued per step.</summary>
    public int MaxFetchEntries { get; init; } = 64;
    public int MaxOutbox { get; init; } = 4096;
    /// <summary>True for a partition's data log (a far-behind follower truncates fully and restarts at the leader's
    /// log start); false for the metadata log (it loads the leader's snapshot through the snapshot hook).</summary>
    public bool DataLog { get; init; } = true;
}

/// <summary>Test-only switches that plant a bug (never set outside tests; SIMULATION.md "Planted bugs").</summary>
[Flags]
public enum RaftPlantedBugs
{
    None = 0,
    /// <summary>A granted vote is never written to the quorum state, and messages leave before the state they depend on
    /// is synced: a voter that restarts forgets whom it voted for.</summary>
    VoteNotPersisted = 1,
    /// <summary>A follower fetches again right after appending, before its sync: the leader counts unsynced offsets.</summary>
    CommitUnsyncedOffsets = 2,
    /// <summary>No pre-vote and no stickiness: a replica that times out bumps its epoch at once.</summary>
    NoPreVote = 4,
    /// <summary>A replica restarted with an empty disk keeps its old directory id and votes as its old self.</summary>
    EmptyDiskVotesAsOldSelf = 8,
}

/// <summary>One replica's progress as the leader sees it (DescribeQuorum's ReplicaState).</summary>
public readonly record struct RaftReplicaState(ReplicaKey Key, long LogEndOffset, long LastFetchMs);

/// <summary>DescribeQuorum's answer for one log, from its leader.</summary>
public sealed record RaftQuorumDescription(int LeaderId, int LeaderEpoch, long HighWatermark,
    IReadOnlyList<RaftReplicaState> Voters, IReadOnlyList<RaftReplicaState> Observers);
