using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Groups;

/// <summary>KIP-848's group states, as ListGroups and ConsumerGroupDescribe name them.</summary>
public enum ConsumerGroupState { Empty, Assigning, Reconciling, Stable, Dead }

/// <summary>Where a member is in reaching its target assignment (Kafka's MemberState).</summary>
public enum ConsumerMemberState
{
    /// <summary>Has every partition of its target it can have, at the target's epoch.</summary>
    Stable,

    /// <summary>Must give up <see cref="ConsumerGroupMember.PendingRevocation"/> first; keeps its epoch until it
    /// reports (in a heartbeat's owned partitions) that it no longer holds them.</summary>
    UnrevokedPartitions,

    /// <summary>At the target's epoch, but some target partitions are still held by other members.</summary>
    UnreleasedPartitions,
}

/// <summary>One member of a KIP-848 consumer group.</summary>
public sealed class ConsumerGroupMember
{
    public string MemberId { get; set; } = "";
    public string? InstanceId { get; set; }
    public string? RackId { get; set; }
    public string ClientId { get; set; } = "";
    public string ClientHost { get; set; } = "";
    public int RebalanceTimeoutMs { get; set; }
    public List<string> SubscribedTopicNames { get; set; } = new();
    public string? SubscribedTopicRegex { get; set; }
    public string? ServerAssignor { get; set; }

    /// <summary>The epoch of the assignment the member holds; -2 for a static member that left to return.</summary>
    public int MemberEpoch { get; set; }

    /// <summary>The epoch before the last bump: a heartbeat with it is a retry whose answer was lost.</summary>
    public int PreviousMemberEpoch { get; set; } = -1;

    public ConsumerMemberState State { get; set; } = ConsumerMemberState.Stable;

    /// <summary>Partitions the member may consume now.</summary>
    public SortedSet<TopicPartition> Assigned { get; } = new();

    /// <summary>Partitions taken from the member that it has not yet confirmed it stopped consuming. They stay
    /// owned by it (nobody else gets them) until it does.</summary>
    public SortedSet<TopicPartition> PendingRevocation { get; } = new();

    internal TimerHandle? SessionTimer;
    internal TimerHandle? RebalanceTimer;

    /// <summary>The assignment last sent to the member (to send it again only when it changed).</summary>
    internal int SentEpoch = int.MinValue;
    internal SortedSet<TopicPartition>? SentAssignment;

    public bool IsStaticAway => MemberEpoch == ConsumerGroup.LeaveStaticEpoch;
}

/// <summary>
/// The state machine of one KIP-848 consumer group, free of I/O, timers and the wire so a property test can
/// drive it: the group epoch (bumped by every change of membership, subscription or subscribed topics), the
/// target assignment computed by a server-side assignor at an assignment epoch, and each member's current
/// assignment, moved towards its target by <see cref="Reconcile"/> (Kafka's CurrentAssignmentBuilder).
/// The safety rule: a partition is owned (assigned or pending revocation) by at most one member at any
/// moment, so it is handed to a new member only once its previous owner confirmed the revocation, or left,
/// or was fenced. <see cref="CheckInvariants"/> asserts it after every change. GROUPS.md has the diagram.
/// </summary>
public sealed class ConsumerGroup(string id)
{
    public const int JoinEpoch = 0;
    public const int LeaveEpoch = -1;
    public const int LeaveStaticEpoch = -2;

    public string Id { get; } = id;
    public int GroupEpoch { get; set; }
    public int AssignmentEpoch { get; set; }

    /// <summary>The assignor that computed the current target.</summary>
    public string AssignorName { get; set; } = ConsumerGroupAssignors.UniformName;

    public SortedDictionary<string, ConsumerGroupMember> Members { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, SortedSet<TopicPartition>> TargetAssignment { get; } = new(StringComparer.Ordinal);

    /// <summary>The partition counts of the subscribed topics the target was computed from: a change (a topic
    /// created, grown or deleted) bumps the group epoch.</summary>
    public SortedDictionary<string, int> SubscribedTopics { get; } = new(StringComparer.Ordinal);

    private readonly Dictionary<TopicPartition, string> _owners = new();

    public string? OwnerOf(TopicPartition tp) => _owners.GetValueOrDefault(tp);

    public ConsumerGroupState State
    {
        get
        {
            if (Members.Count == 0) return ConsumerGroupState.Empty;
            if (AssignmentEpoch < GroupEpoch) return ConsumerGroupState.Assigning;
            foreach (var m in Members.Values)
                if (m.IsStaticAway ? false : m.MemberEpoch != AssignmentEpoch || m.State != ConsumerMemberState.Stable)
                    return ConsumerGroupState.Reconciling;
            return ConsumerGroupState.Stable;
        }
    }

    // ---- membership ---------------------------------------------------------------------------------------

    public ConsumerGroupMember AddMember(ConsumerGroupMember member)
    {
        Check.That(!Members.ContainsKey(member.MemberId), "a member id joins once");
        Check.That(member.Assigned.Count == 0 && member.PendingRevocation.Count == 0, "a new member owns nothing");
        Members.Add(member.MemberId, member);
        if (member.InstanceId is { } inst) StaticMembers[inst] = member.MemberId;
        GroupEpoch++;
        return member;
    }

    /// <summary>Removes a member (left, fenced or expired): its partitions are free at once, since it either
    /// said it stopped or is no longer allowed to commit or heartbeat (a fenced client drops its partitions).</summary>
    public void RemoveMember(string memberId)
    {
        if (!Members.Remove(memberId, out var m)) return;
        foreach (var tp in m.Assigned) Release(tp, memberId);
        foreach (var tp in m.PendingRevocation) Release(tp, memberId);
        m.Assigned.Clear();
        m.PendingRevocation.Clear();
        if (m.InstanceId is { } inst && StaticMembers.GetValueOrDefault(inst) == memberId) StaticMembers.Remove(inst);
        TargetAssignment.Remove(memberId);
        m.SessionTimer?.Cancel();
        m.RebalanceTimer?.Cancel();
        GroupEpoch++;
        CheckInvariants();
    }

    /// <summary>A static member returning under a new member id takes the place of the one that left with
    /// epoch -2: same assignment, same epoch, same target; no rebalance (KIP-848's static membership).</summary>
    public ConsumerGroupMember ReplaceStaticMember(ConsumerGroupMember old, string newMemberId, int restoredEpoch)
    {
        Check.That(old.InstanceId is not null && Members.ContainsKey(old.MemberId));
        Members.Remove(old.MemberId);
        string oldId = old.MemberId;
        old.MemberId = newMemberId;
        old.MemberEpoch = restoredEpoch;
        old.SentEpoch = int.MinValue;
        Members.Add(newMemberId, old);
        StaticMembers[old.InstanceId!] = newMemberId;
        if (TargetAssignment.Remove(oldId, out var target)) TargetAssignment[newMemberId] = target;
        foreach (var tp in old.Assigned) _owners[tp] = newMemberId;
        foreach (var tp in old.PendingRevocation) _owners[tp] = newMemberId;
        CheckInvariants();
        return old;
    }

    // ---- target assignment ----------------------------------------------------------------------------------

    /// <summary>Topics the members subscribe to, by name or by regex (matched against <paramref name="topics"/>),
    /// internal topics only by name.</summary>
    public SortedSet<string> SubscribedTopicNames(IEnumerable<string> topics)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var m in Members.Values)
        {
            names.UnionWith(m.SubscribedTopicNames);
            if (m.SubscribedTopicRegex is { } re)
                foreach (var t in topics)
                    if (!GroupRecords.IsInternalTopic(t) && ConsumerGroupRegex.Matches(re, t)) names.Add(t);
        }
        return names;
    }

    /// <summary>Records the subscribed topics' partition counts; a difference from the last ones bumps the group
    /// epoch (a new target is due).</summary>
    public bool UpdateSubscribedTopics(IReadOnlyDictionary<string, int> partitionsPerTopic)
    {
        bool same = SubscribedTopics.Count == partitionsPerTopic.Count &&
                    partitionsPerTopic.All(kv => SubscribedTopics.TryGetValue(kv.Key, out int n) && n == kv.Value);
        if (same) return false;
        SubscribedTopics.Clear();
        foreach (var (t, n) in partitionsPerTopic) SubscribedTopics[t] = n;
        GroupEpoch++;
        return true;
    }

    /// <summary>The topics one member subscribes to among those the group subscribes to.</summary>
    public SortedSet<string> TopicsOf(ConsumerGroupMember m)
    {
        var set = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var t in SubscribedTopics.Keys)
            if (m.SubscribedTopicNames.Contains(t) || (m.SubscribedTopicRegex is { } re && !GroupRecords.IsInternalTopic(t) && ConsumerGroupRegex.Matches(re, t)))
                set.Add(t);
        return set;
    }

    /// <summary>Computes a new target with <paramref name="assignor"/> when the group epoch moved past the
    /// assignment epoch; the target then carries the group epoch.</summary>
    public bool MaybeComputeTargetAssignment(IConsumerGroupAssignor assignor)
    {
        if (AssignmentEpoch == GroupEpoch && AssignorName == assignor.Name) return false;
        var input = new List<AssignmentMember>(Members.Count);
        foreach (var m in Members.Values)
            input.Add(new AssignmentMember(m.MemberId, TopicsOf(m),
                (IReadOnlySet<TopicPartition>?)TargetAssignment.GetValueOrDefault(m.MemberId) ?? new HashSet<TopicPartition>()));
        var target = assignor.Assign(input, SubscribedTopics);
        TargetAssignment.Clear();
        foreach (var (memberId, parts) in target) TargetAssignment[memberId] = parts;
        AssignmentEpoch = GroupEpoch;
        AssignorName = assignor.Name;
        CheckTargetAssignment();
        return true;
    }

    // ---- reconciliation -----------------------------------------------------------------------------------

    /// <summary>
    /// Moves one member towards its target (Kafka's CurrentAssignmentBuilder). <paramref name="owned"/> is what
    /// the member reported it holds (null: not reported). Returns whether the member's state changed.
    /// 1. While revoking: done once the reported partitions include none pending; then they are released.
    /// 2. Partitions it holds outside its target are revoked first, keeping its epoch: nothing new meanwhile.
    /// 3. Otherwise it takes every target partition nobody owns, and its epoch becomes the assignment epoch;
    ///    target partitions still owned by others wait (UnreleasedPartitions) for a later heartbeat.
    /// </summary>
    public bool Reconcile(ConsumerGroupMember m, IReadOnlySet<TopicPartition>? owned)
    {
        Check.That(Members.TryGetValue(m.MemberId, out var same) && ReferenceEquals(same, m), "reconciling a member of this group");
        if (m.IsStaticAway) return false;
        bool changed = false;
        if (m.State == ConsumerMemberState.UnrevokedPartitions)
        {
            if (owned is null || m.PendingRevocation.Any(owned.Contains)) return false;
            foreach (var tp in m.PendingRevocation) Release(tp, m.MemberId);
            m.PendingRevocation.Clear();
            m.State = ConsumerMemberState.Stable;
            m.RebalanceTimer?.Cancel();
            m.RebalanceTimer = null;
            changed = true;
        }
        var target = TargetAssignment.GetValueOrDefault(m.MemberId) ?? new SortedSet<TopicPartition>();
        var revoke = m.Assigned.Where(tp => !target.Contains(tp)).ToList();
        if (revoke.Count > 0)
        {
            foreach (var tp in revoke)
            {
                m.Assigned.Remove(tp);
                m.PendingRevocation.Add(tp);
            }
            m.State = ConsumerMemberState.UnrevokedPartitions;
            CheckInvariants();
            return true;
        }
        bool unreleased = false;
        foreach (var tp in target)
        {
            if (m.Assigned.Contains(tp)) continue;
            if (_owners.TryGetValue(tp, out var owner))
            {
                Check.That(owner != m.MemberId, "a member owns only what it holds");
                unreleased = true;
                continue;
            }
            _owners[tp] = m.MemberId;
            m.Assigned.Add(tp);
            changed = true;
        }
        if (m.MemberEpoch != AssignmentEpoch)
        {
            m.PreviousMemberEpoch = m.MemberEpoch;
            m.MemberEpoch = AssignmentEpoch;
            changed = true;
        }
        var state = unreleased ? ConsumerMemberState.UnreleasedPartitions : ConsumerMemberState.Stable;
        if (m.State != state) changed = true;
        m.State = state;
        CheckInvariants();
        return changed;
    }

    /// <summary>Kafka's member epoch check for a heartbeat: a newer epoch than the member's is a bug or a
    /// zombie (FENCED_MEMBER_EPOCH); an older one is accepted only as the retry of a heartbeat whose answer
    /// was lost: the previous epoch, owning nothing beyond the current assignment.</summary>
    public static ErrorCode ValidateEpoch(ConsumerGroupMember m, int epoch, IReadOnlySet<TopicPartition>? owned)
    {
        if (m.IsStaticAway) return ErrorCode.UnknownMemberId;
        if (epoch == m.MemberEpoch) return ErrorCode.None;
        if (epoch > m.MemberEpoch) return ErrorCode.FencedMemberEpoch;
        if (epoch == m.PreviousMemberEpoch && owned is not null && owned.All(m.Assigned.Contains)) return ErrorCode.None;
        return ErrorCode.FencedMemberEpoch;
    }

    /// <summary>Restores a member's ownership when loading from records (no reconciliation step).</summary>
    internal void RestoreOwnership(ConsumerGroupMember m)
    {
        foreach (var tp in m.Assigned.Concat(m.PendingRevocation))
        {
            if (_owners.TryGetValue(tp, out var other) && other != m.MemberId)
            {
                // Records are written after each change, so two owners cannot be stored; keep the first.
                m.Assigned.Remove(tp);
                m.PendingRevocation.Remove(tp);
                continue;
            }
            _owners[tp] = m.MemberId;
        }
    }

    private void Release(TopicPartition tp, string memberId)
    {
        Check.That(_owners.GetValueOrDefault(tp) == memberId, "only the owner releases a partition");
        _owners.Remove(tp);
    }

    // ---- invariants ---------------------------------------------------------------------------------------

    /// <summary>No partition is held (assigned or pending revocation) by two members, and the owner index
    /// agrees with the members' sets.</summary>
    public void CheckInvariants()
    {
        int held = 0;
        foreach (var m in Members.Values)
        {
            foreach (var tp in m.Assigned)
            {
                Check.That(_owners.GetValueOrDefault(tp) == m.MemberId, $"{tp} assigned to {m.MemberId} is owned by it");
                Check.That(!m.PendingRevocation.Contains(tp), "assigned and revoking at once");
                held++;
            }
            foreach (var tp in m.PendingRevocation)
            {
                Check.That(_owners.GetValueOrDefault(tp) == m.MemberId, $"{tp} revoking from {m.MemberId} is owned by it");
                held++;
            }
        }
        Check.That(held == _owners.Count, "every owned partition is held by exactly one member");
    }

    /// <summary>The target gives each partition to at most one member, only members of the group.</summary>
    private void CheckTargetAssignment()
    {
        var seen = new HashSet<TopicPartition>();
        foreach (var (memberId, parts) in TargetAssignment)
        {
            Check.That(Members.ContainsKey(memberId), "target only for members");
            foreach (var tp in parts) Check.That(seen.Add(tp), $"{tp} targeted to two members");
        }
    }
}

/// <summary>Subscription by regex (KIP-848 v1): .NET's engine, anchored to the whole topic name as Kafka's
/// RE2J match is, with a match timeout so a pathological pattern cannot stall the node.</summary>
public static class ConsumerGroupRegex
{
    public const int PatternLengthMax = 1_000;

    public static bool IsValid(string pattern)
    {
        if (pattern.Length == 0 || pattern.Length > PatternLengthMax) return false;
        try
        {
            _ = Compile(pattern);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public static bool Matches(string pattern, string topic)
    {
        try
        {
            return Compile(pattern).IsMatch(topic);
        }
        catch (Exception e) when (e is ArgumentException or System.Text.RegularExpressions.RegexMatchTimeoutException)
        {
            return false;
        }
    }

    private static System.Text.RegularExpressions.Regex Compile(string pattern)
        => new("^(?:" + pattern + ")$", System.Text.RegularExpressions.RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
}
