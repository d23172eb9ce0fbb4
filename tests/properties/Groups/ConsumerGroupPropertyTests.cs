using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Groups;

/// <summary>
/// KIP-848 server-side assignment: the assignors' guarantees over random subscriptions, and the reconciliation
/// state machine (ConsumerGroup) driven by random joins, leaves, crashes, subscription and topic changes with
/// simulated clients that keep consuming revoked partitions until their next heartbeat. Safety: no partition
/// is ever held by two clients. Liveness: once churn stops, a few heartbeat rounds make the group Stable with
/// every subscribed partition assigned exactly once.
/// </summary>
public sealed class ConsumerGroupPropertyTests
{
    private sealed record Case(List<(string Id, string[] Topics)> Members, SortedDictionary<string, int> Topics, int StickySeed);

    private static readonly string[] TopicNames = ["a", "b", "c", "d"];

    private static Gen<Case> CaseGen(bool homogeneous) =>
        from topicCount in Gen.Choose(1, 4)
        from counts in Gen.ListOf(Gen.Choose(0, 12), topicCount)
        from memberCount in Gen.Choose(1, 8)
        from subs in Gen.ListOf(Gen.SubListOf(TopicNames.Take(topicCount).ToArray()), memberCount)
        from seed in Gen.Choose(0, 1000)
        select new Case(
            subs.Select((s, i) => ("m" + (char)('a' + (i * 5) % 26) + i, homogeneous ? TopicNames.Take(topicCount).ToArray() : s.ToArray())).ToList(),
            new SortedDictionary<string, int>(TopicNames.Take(topicCount).Select((t, i) => (t, counts[i])).ToDictionary(x => x.t, x => x.Item2), StringComparer.Ordinal),
            seed);

    /// <summary>A random previous target (possibly stale: partitions of topics no longer subscribed, gone, or
    /// given to two members), which the assignor must clean up.</summary>
    private static List<AssignmentMember> Members(Case c)
    {
        var random = new Random(c.StickySeed);
        return c.Members.Select(m =>
        {
            var current = new HashSet<TopicPartition>();
            foreach (var (t, n) in c.Topics)
                for (int p = 0; p < n + 2; p++)
                    if (random.Next(4) == 0) current.Add(new TopicPartition(t, p));
            return new AssignmentMember(m.Id, new HashSet<string>(m.Topics), current);
        }).ToList();
    }

    private static void AssertValid(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<string, int> topics,
        SortedDictionary<string, SortedSet<TopicPartition>> result)
    {
        Assert.Equal(members.Select(m => m.MemberId).OrderBy(x => x, StringComparer.Ordinal), result.Keys);
        var owner = new Dictionary<TopicPartition, string>();
        foreach (var (id, parts) in result)
        {
            var m = members.Single(x => x.MemberId == id);
            foreach (var tp in parts)
            {
                Assert.True(owner.TryAdd(tp, id), $"{tp} given to {owner.GetValueOrDefault(tp)} and {id}");
                Assert.Contains(tp.Topic, m.Topics);
                Assert.True(topics.TryGetValue(tp.Topic, out int n) && tp.Partition >= 0 && tp.Partition < n, $"{tp} does not exist");
            }
        }
        foreach (var (t, n) in topics)
        {
            if (!members.Any(m => m.Topics.Contains(t))) continue;
            for (int p = 0; p < n; p++) Assert.True(owner.ContainsKey(new TopicPartition(t, p)), $"{t}-{p} of a subscribed topic is unassigned");
        }
    }

    [Fact]
    public void Both_assignors_give_every_subscribed_partition_to_exactly_one_subscriber()
    {
        foreach (var assignor in new IConsumerGroupAssignor[] { UniformAssignor.Instance, RangeAssignor.Instance })
            ForAll(CaseGen(homogeneous: false), c =>
            {
                var members = Members(c);
                AssertValid(members, c.Topics, assignor.Assign(members, c.Topics));
            }, maxTest: 300);
    }

    [Fact]
    public void With_identical_subscriptions_uniform_balances_to_within_one_and_is_stable_when_nothing_changes()
    {
        ForAll(CaseGen(homogeneous: true), c =>
        {
            var members = Members(c);
            var first = UniformAssignor.Instance.Assign(members, c.Topics);
            AssertValid(members, c.Topics, first);
            var counts = first.Values.Select(s => s.Count).ToList();
            Assert.True(counts.Max() - counts.Min() <= 1, $"counts {string.Join(",", counts)}");
            // Sticky: fed its own output as the current target, it changes nothing.
            var again = UniformAssignor.Instance.Assign(members.Select(m => m with { CurrentTarget = first[m.MemberId] }).ToList(), c.Topics);
            foreach (var (id, parts) in first) Assert.Equal(parts, again[id]);
        }, maxTest: 300);
    }

    [Fact]
    public void Range_gives_each_subscriber_a_contiguous_run_per_topic_differing_by_at_most_one()
    {
        ForAll(CaseGen(homogeneous: false), c =>
        {
            var members = Members(c);
            var result = RangeAssignor.Instance.Assign(members, c.Topics);
            foreach (var (t, _) in c.Topics)
            {
                var runs = result.Where(kv => members.Single(m => m.MemberId == kv.Key).Topics.Contains(t))
                    .Select(kv => kv.Value.Where(tp => tp.Topic == t).Select(tp => tp.Partition).ToList()).ToList();
                if (runs.Count == 0) continue;
                Assert.True(runs.Max(r => r.Count) - runs.Min(r => r.Count) <= 1);
                foreach (var r in runs.Where(r => r.Count > 0)) Assert.Equal(Enumerable.Range(r[0], r.Count), r);
            }
        }, maxTest: 300);
    }

    // ---- the reconciliation state machine ------------------------------------------------------------------------

    /// <summary>A client following the protocol: it consumes what it was given; partitions taken away it keeps
    /// consuming until its next heartbeat (the revocation callback takes time), then reports what it holds.</summary>
    private sealed class Client(string id, string[] topics)
    {
        public readonly string Id = id;
        public string[] Topics = topics;
        public int Epoch;
        public readonly SortedSet<TopicPartition> Holding = new();
        public readonly SortedSet<TopicPartition> Revoking = new();
        public bool Joined;
    }

    private static void AssertNoTwoHolders(IEnumerable<Client> clients)
    {
        var holder = new Dictionary<TopicPartition, string>();
        foreach (var c in clients.Where(c => c.Joined))
            foreach (var tp in c.Holding.Concat(c.Revoking))
                Assert.True(holder.TryAdd(tp, c.Id), $"{tp} held by {holder.GetValueOrDefault(tp)} and {c.Id} at once");
    }

    private static void Heartbeat(ConsumerGroup g, Client c, IConsumerGroupAssignor assignor, bool revocationDone = true)
    {
        // A revocation under way (its callback still running) is reported as still owned; once done, dropped.
        if (revocationDone) c.Revoking.Clear();
        var owned = new HashSet<TopicPartition>(c.Holding.Concat(c.Revoking));
        var m = g.Members[c.Id];
        Assert.Equal(ErrorCode.None, ConsumerGroup.ValidateEpoch(m, c.Epoch, owned));
        g.MaybeComputeTargetAssignment(assignor);
        g.Reconcile(m, owned);
        // The answer: keep what is still assigned, start revoking the rest, take the new ones.
        foreach (var tp in c.Holding.Where(tp => !m.Assigned.Contains(tp)).ToList())
        {
            c.Holding.Remove(tp);
            c.Revoking.Add(tp);
        }
        c.Holding.UnionWith(m.Assigned);
        c.Epoch = m.MemberEpoch;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Reconciliation_never_gives_a_partition_two_holders_and_converges(int seed)
    {
        var random = new Random(seed);
        var assignor = random.Next(2) == 0 ? (IConsumerGroupAssignor)UniformAssignor.Instance : RangeAssignor.Instance;
        var g = new ConsumerGroup("g");
        var topics = new SortedDictionary<string, int>(StringComparer.Ordinal) { ["a"] = random.Next(1, 8), ["b"] = random.Next(0, 5) };
        var clients = new List<Client>();
        int nextId = 0;
        void Refresh()
        {
            var subscribed = new SortedDictionary<string, int>(StringComparer.Ordinal);
            foreach (var t in g.Members.Values.SelectMany(m => m.SubscribedTopicNames).Distinct())
                if (topics.TryGetValue(t, out int n)) subscribed[t] = n;
            g.UpdateSubscribedTopics(subscribed);
        }
        string[] RandomSubscription() => random.Next(3) switch { 0 => ["a"], 1 => ["b"], _ => ["a", "b"] };

        for (int step = 0; step < 200; step++)
        {
            var live = clients.Where(c => c.Joined).ToList();
            switch (random.Next(10))
            {
                case 0 when live.Count < 6:
                {
                    var c = new Client("m" + nextId++, RandomSubscription()) { Joined = true };
                    clients.Add(c);
                    g.AddMember(new ConsumerGroupMember { MemberId = c.Id, SubscribedTopicNames = c.Topics.ToList(), RebalanceTimeoutMs = 1000 });
                    Refresh();
                    Heartbeat(g, c, assignor);
                    break;
                }
                case 1 when live.Count > 0:
                {
                    // Leaves (or crashes and its session expires): it stops consuming, then it is removed.
                    var c = live[random.Next(live.Count)];
                    c.Joined = false;
                    c.Holding.Clear();
                    c.Revoking.Clear();
                    g.RemoveMember(c.Id);
                    Refresh();
                    break;
                }
                case 2 when live.Count > 0:
                {
                    var c = live[random.Next(live.Count)];
                    c.Topics = RandomSubscription();
                    var m = g.Members[c.Id];
                    if (!m.SubscribedTopicNames.SequenceEqual(c.Topics))
                    {
                        m.SubscribedTopicNames = c.Topics.ToList();
                        g.GroupEpoch++;
                    }
                    Refresh();
                    Heartbeat(g, c, assignor);
                    break;
                }
                case 3:
                {
                    // A topic grows (CreatePartitions) or is created.
                    string t = random.Next(2) == 0 ? "a" : "b";
                    topics[t] = Math.Min(topics[t] + random.Next(1, 3), 16);
                    Refresh();
                    break;
                }
                default:
                {
                    if (live.Count == 0) break;
                    Heartbeat(g, live[random.Next(live.Count)], assignor, revocationDone: random.Next(2) == 0);
                    break;
                }
            }
            g.CheckInvariants();
            AssertNoTwoHolders(clients);
        }

        // Churn stops: heartbeats in rounds until nothing changes.
        var members = clients.Where(c => c.Joined).ToList();
        for (int round = 0; round < 6; round++)
            foreach (var c in members)
            {
                Heartbeat(g, c, assignor);
                AssertNoTwoHolders(clients);
            }
        if (members.Count == 0)
        {
            Assert.Equal(ConsumerGroupState.Empty, g.State);
            return;
        }
        Assert.Equal(ConsumerGroupState.Stable, g.State);
        var owner = new Dictionary<TopicPartition, string>();
        foreach (var c in members)
        {
            Assert.Equal(g.Members[c.Id].Assigned, c.Holding);
            Assert.Empty(c.Revoking); // the last round revoked nothing: the assignment stopped moving
            Assert.Equal(g.AssignmentEpoch, c.Epoch);
            foreach (var tp in c.Holding) Assert.True(owner.TryAdd(tp, c.Id));
        }
        foreach (var t in members.SelectMany(c => c.Topics).Distinct())
            for (int p = 0; p < topics[t]; p++)
                Assert.True(owner.ContainsKey(new TopicPartition(t, p)), $"{t}-{p} unassigned in a stable group");
    }

    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, 200).Select(s => new object[] { s });
}
