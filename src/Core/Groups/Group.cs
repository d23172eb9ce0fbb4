using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Groups;

/// <summary>Kafka's classic group states (their names are what DescribeGroups and ListGroups report).</summary>
public enum GroupState { Empty, PreparingRebalance, CompletingRebalance, Stable, Dead }

/// <summary>A committed offset as stored: offset, leader epoch (-1 unknown), metadata and when it was committed.</summary>
public sealed record OffsetAndMetadata(long Offset, int LeaderEpoch, string? Metadata, long CommitTimestampMs);

/// <summary>A request the coordinator answers later (a JoinGroup waiting for the rebalance, a SyncGroup waiting
/// for the leader's assignment or its write). The generation guards against answering a reused context.</summary>
internal readonly struct PendingReply(RequestContext context)
{
    private readonly int _generation = context.Generation;
    public RequestContext Context { get; } = context;
    public short Version => Context.Version;

    public void Respond(IKafkaMessage body)
    {
        Check.That(Context.Generation == _generation, "a waiting request's context is not reused under it");
        if (Context.IsConnectionOpen) Context.Respond(body);
    }
}

public sealed class GroupMember
{
    public string MemberId { get; set; } = "";
    public string? GroupInstanceId { get; set; }
    public string ClientId { get; set; } = "";
    public string ClientHost { get; set; } = "";
    public int SessionTimeoutMs { get; set; }
    public int RebalanceTimeoutMs { get; set; }
    public string ProtocolType { get; set; } = "";

    /// <summary>The member's protocols (assignors) in its order of preference, with their metadata.</summary>
    public List<(string Name, byte[] Metadata)> Protocols { get; } = new();

    public byte[] Assignment { get; set; } = [];

    internal PendingReply? AwaitingJoin;
    internal PendingReply? AwaitingSync;
    internal TimerHandle? SessionTimer;

    /// <summary>Joined in the rebalance under way and not yet given a generation.</summary>
    public bool IsNew { get; set; }

    public bool Supports(string protocol)
    {
        foreach (var (name, _) in Protocols) if (name == protocol) return true;
        return false;
    }

    public byte[] MetadataFor(string protocol)
    {
        foreach (var (name, metadata) in Protocols) if (name == protocol) return metadata;
        return [];
    }

    public bool SameProtocols(IReadOnlyList<(string Name, byte[] Metadata)> other)
    {
        if (other.Count != Protocols.Count) return false;
        for (int i = 0; i < other.Count; i++)
            if (other[i].Name != Protocols[i].Name || !other[i].Metadata.AsSpan().SequenceEqual(Protocols[i].Metadata)) return false;
        return true;
    }
}

/// <summary>
/// One group's state: the classic protocol's state machine (docs/design/GROUPS.md), its members in join order,
/// static members by instance id, members handed an id but not yet joined (MEMBER_ID_REQUIRED), and its
/// committed offsets ordered by topic and partition.
/// </summary>
public sealed class Group(string id)
{
    public string Id { get; } = id;
    public GroupState State { get; private set; } = GroupState.Empty;
    public int GenerationId { get; set; }
    public string? ProtocolType { get; set; }
    public string? ProtocolName { get; set; }
    public string? LeaderId { get; set; }

    /// <summary>Wall-clock time of the last state change: offsets of an Empty group expire from it.</summary>
    public long StateTimestampMs { get; set; }

    public List<GroupMember> Members { get; } = new();
    public Dictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);
    internal Dictionary<string, TimerHandle> PendingMembers { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<TopicPartition, OffsetAndMetadata> Offsets { get; } = new();

    internal TimerHandle? JoinTimer;

    /// <summary>When the join phase must end at the latest (the initial delay may extend up to it).</summary>
    internal long JoinDeadlineMs;

    /// <summary>The first rebalance of an empty group waits group.initial.rebalance.delay.ms for more members.</summary>
    internal bool InitialDelayActive;

    /// <summary>A member joined since the initial delay last started (the delay is then extended).</summary>
    internal bool NewMemberDuringDelay;

    /// <summary>A metadata write for the current generation is on its way to disk (SyncGroup waits for it).</summary>
    internal bool SyncWritePending;

    /// <summary>Offset commits accepted and not yet durable. A new generation waits for them (GROUPS.md): a commit
    /// made under the old generation lands before any member of the new one reads the offsets, so a committed
    /// offset never goes backwards.</summary>
    internal int CommitsInFlight;

    /// <summary>The join phase's time ran out while commits were in flight: complete it when they land.</summary>
    internal bool JoinOverdue;

    /// <summary>Writes (commits, tombstones) on their way to disk: a group is not forgotten under them.</summary>
    internal int WritesInFlight;

    public GroupMember? Find(string memberId)
    {
        foreach (var m in Members) if (m.MemberId == memberId) return m;
        return null;
    }

    public bool Has(string memberId) => Find(memberId) is not null;

    public bool IsLeader(string memberId) => LeaderId == memberId;

    public void TransitionTo(GroupState next, long wallMs)
    {
        Check.That(ValidPrevious(next).Contains(State) || next == GroupState.Dead,
            $"group transition {State} -> {next} is not in the state machine");
        State = next;
        StateTimestampMs = wallMs;
    }

    /// <summary>Kafka's table of legal transitions (GroupMetadata.scala's validPreviousStates).</summary>
    private static GroupState[] ValidPrevious(GroupState next) => next switch
    {
        GroupState.PreparingRebalance => [GroupState.Stable, GroupState.CompletingRebalance, GroupState.Empty],
        GroupState.CompletingRebalance => [GroupState.PreparingRebalance],
        GroupState.Stable => [GroupState.CompletingRebalance],
        GroupState.Empty => [GroupState.PreparingRebalance],
        _ => [GroupState.Stable, GroupState.PreparingRebalance, GroupState.CompletingRebalance, GroupState.Empty, GroupState.Dead],
    };

    /// <summary>Loaded from the log: skips the transition table (a restart resumes where the records left it).</summary>
    internal void RestoreState(GroupState state, long wallMs)
    {
        State = state;
        StateTimestampMs = wallMs;
    }

    /// <summary>Protocols every member supports, in the order of the first member's preference.</summary>
    public List<string> CandidateProtocols()
    {
        var result = new List<string>();
        if (Members.Count == 0) return result;
        foreach (var (name, _) in Members[0].Protocols)
            if (Members.TrueForAll(m => m.Supports(name))) result.Add(name);
        return result;
    }

    /// <summary>Whether a joining member with these protocols can be in the group.</summary>
    public bool SupportsProtocols(string protocolType, IReadOnlyList<(string Name, byte[] Metadata)> protocols, string? replacing = null)
    {
        if (protocols.Count == 0 || protocolType.Length == 0) return false;
        var others = Members.Where(m => m.MemberId != replacing).ToList();
        if (others.Count == 0) return true;
        if (ProtocolType is { } t && t != protocolType) return false;
        foreach (var (name, _) in protocols)
            if (others.TrueForAll(m => m.Supports(name))) return true;
        return false;
    }

    /// <summary>Kafka's vote: each member votes for its most preferred candidate; the most votes win, ties go to
    /// the candidate first in the first member's order (deterministic).</summary>
    public string SelectProtocol()
    {
        var candidates = CandidateProtocols();
        Check.That(candidates.Count > 0, "members share a protocol (checked when each joined)");
        var votes = new int[candidates.Count];
        foreach (var m in Members)
        {
            foreach (var (name, _) in m.Protocols)
            {
                int i = candidates.IndexOf(name);
                if (i >= 0)
                {
                    votes[i]++;
                    break;
                }
            }
        }
        int best = 0;
        for (int i = 1; i < votes.Length; i++) if (votes[i] > votes[best]) best = i;
        return candidates[best];
    }

    /// <summary>Set when this is a KIP-848 consumer group (GroupCoordinator.Consumer.cs); its offsets stay
    /// here, its membership there. <see cref="State"/> is then only Empty or Stable (members or none), which is
    /// what offset expiry and DeleteGroups look at.</summary>
    public ConsumerGroup? Consumer { get; set; }

    public string StateName => Consumer is { } c ? c.State.ToString() : State.ToString();

    /// <summary>The group's type as ListGroups v5 and DescribeGroups name it (Kafka's GroupType): "consumer" for
    /// a KIP-848 group, "classic" otherwise (a group created by JoinGroup, or holding only committed offsets).</summary>
    public string TypeName => Consumer is null ? "classic" : "consumer";
}
