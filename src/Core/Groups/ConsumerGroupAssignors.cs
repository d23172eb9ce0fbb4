using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Groups;

/// <summary>What a server-side assignor sees of one member: its id, the topics it subscribes to (names and the
/// regex resolved by the coordinator) and its partitions in the current target (for stickiness).</summary>
public sealed record AssignmentMember(string MemberId, IReadOnlySet<string> Topics, IReadOnlySet<TopicPartition> CurrentTarget);

/// <summary>
/// A KIP-848 server-side assignor (Kafka's ConsumerGroupPartitionAssignor): from the members' subscriptions and
/// the subscribed topics' partition counts, the target assignment. Pure and deterministic: members and topics
/// come in ordinal order, ties break by member id, so the same input always gives the same target.
/// Every implementation guarantees: each partition of a subscribed topic goes to exactly one member subscribed
/// to that topic, and no member gets a partition of a topic it does not subscribe to.
/// </summary>
public interface IConsumerGroupAssignor
{
    string Name { get; }

    SortedDictionary<string, SortedSet<TopicPartition>> Assign(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<string, int> partitionsPerTopic);
}

public static class ConsumerGroupAssignors
{
    public const string UniformName = "uniform";
    public const string RangeName = "range";

    public static IConsumerGroupAssignor? Find(string name) => name switch
    {
        UniformName => UniformAssignor.Instance,
        RangeName => RangeAssignor.Instance,
        _ => null,
    };

    internal static SortedDictionary<string, SortedSet<TopicPartition>> Empty(IReadOnlyList<AssignmentMember> members)
    {
        var result = new SortedDictionary<string, SortedSet<TopicPartition>>(StringComparer.Ordinal);
        foreach (var m in members) result[m.MemberId] = new SortedSet<TopicPartition>();
        return result;
    }
}

/// <summary>
/// Kafka's "uniform" assignor in spirit: sticky and balanced. Partitions a member already has in the current
/// target stay with it while it still subscribes to their topic and keeping them does not unbalance the
/// group; the rest go one by one to the least-loaded eligible member; then partitions move from the most- to
/// the least-loaded eligible member while the difference is more than one. With identical subscriptions the
/// members' counts differ by at most one (a property test checks it).
/// </summary>
public sealed class UniformAssignor : IConsumerGroupAssignor
{
    public static readonly UniformAssignor Instance = new();
    public string Name => ConsumerGroupAssignors.UniformName;

    public SortedDictionary<string, SortedSet<TopicPartition>> Assign(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<string, int> partitionsPerTopic)
    {
        var result = ConsumerGroupAssignors.Empty(members);
        if (members.Count == 0) return result;
        var all = new List<TopicPartition>();
        foreach (var (topic, count) in partitionsPerTopic.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if (!members.Any(m => m.Topics.Contains(topic))) continue;
            for (int p = 0; p < count; p++) all.Add(new TopicPartition(topic, p));
        }
        // An upper bound per member for the sticky phase: what a perfectly even split among the members that
        // could take any partition would give, rounded up. Heterogeneous groups are then evened out below.
        int quota = (all.Count + members.Count - 1) / members.Count;
        var assigned = new HashSet<TopicPartition>();
        foreach (var m in members)
        {
            foreach (var tp in m.CurrentTarget)
            {
                if (result[m.MemberId].Count >= quota) break;
                if (!m.Topics.Contains(tp.Topic) || !partitionsPerTopic.TryGetValue(tp.Topic, out int n) || tp.Partition >= n) continue;
                if (!assigned.Add(tp)) continue;
                result[m.MemberId].Add(tp);
            }
        }
        foreach (var tp in all)
        {
            if (assigned.Contains(tp)) continue;
            AssignmentMember? best = null;
            foreach (var m in members)
                if (m.Topics.Contains(tp.Topic) && (best is null || result[m.MemberId].Count < result[best.MemberId].Count)) best = m;
            Check.That(best is not null, "a partition in 'all' has a subscriber");
            result[best!.MemberId].Add(tp);
            assigned.Add(tp);
        }
        // Balance: move a partition from a member to an eligible one with at least two fewer. Each move lowers
        // the sum of squared counts, so the loop ends; the bound is a belt on top.
        int bound = all.Count * members.Count + 1;
        for (int round = 0; round < bound; round++)
        {
            bool moved = false;
            foreach (var from in members.OrderByDescending(m => result[m.MemberId].Count).ThenBy(m => m.MemberId, StringComparer.Ordinal))
            {
                foreach (var tp in result[from.MemberId].Reverse())
                {
                    AssignmentMember? to = null;
                    foreach (var m in members)
                        if (m.Topics.Contains(tp.Topic) && result[m.MemberId].Count + 1 < result[from.MemberId].Count &&
                            (to is null || result[m.MemberId].Count < result[to.MemberId].Count)) to = m;
                    if (to is null) continue;
                    result[from.MemberId].Remove(tp);
                    result[to.MemberId].Add(tp);
                    moved = true;
                    break;
                }
                if (moved) break;
            }
            if (!moved) break;
        }
        return result;
    }
}

/// <summary>
/// Kafka's "range" assignor: per topic, its subscribers in member-id order each get a contiguous range of
/// partitions, the first (partitions mod subscribers) one more. Co-partitioned topics land together.
/// </summary>
public sealed class RangeAssignor : IConsumerGroupAssignor
{
    public static readonly RangeAssignor Instance = new();
    public string Name => ConsumerGroupAssignors.RangeName;

    public SortedDictionary<string, SortedSet<TopicPartition>> Assign(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<string, int> partitionsPerTopic)
    {
        var result = ConsumerGroupAssignors.Empty(members);
        foreach (var (topic, count) in partitionsPerTopic.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var subscribers = members.Where(m => m.Topics.Contains(topic)).Select(m => m.MemberId).OrderBy(id => id, StringComparer.Ordinal).ToList();
            if (subscribers.Count == 0) continue;
            int each = count / subscribers.Count, extra = count % subscribers.Count, next = 0;
            for (int i = 0; i < subscribers.Count; i++)
            {
                int take = each + (i < extra ? 1 : 0);
                for (int k = 0; k < take; k++) result[subscribers[i]].Add(new TopicPartition(topic, next++));
            }
            Check.That(next == count, "range covers every partition");
        }
        return result;
    }
}
