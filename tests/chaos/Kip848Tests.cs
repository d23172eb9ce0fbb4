using System.Diagnostics;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// KIP-848's consumer group protocol with a real client: Confluent.Kafka 2.16.0 (librdkafka 2.16) with
/// <c>GroupProtocol = Consumer</c>, so the broker assigns partitions through ConsumerGroupHeartbeat. Three
/// members join and leave while a topic is produced; every message is consumed, no partition is ever held by
/// two members (from the clients' own assign/revoke callbacks, ordered by one lock), and after a broker
/// restart a new member resumes from the commits.
/// </summary>
public sealed class Kip848Tests : IDisposable
{
    private const string Topic = "kip848", Group = "kip848-g";
    private const int Partitions = 6;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly BrokerProcess _broker = BrokerProcess.Start("kip848", numPartitions: Partitions, environment: new Dictionary<string, string>
    {
        // Heartbeats every half second so a rebalance takes seconds, not tens of seconds.
        ["DETKAFKA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS"] = "500",
        ["DETKAFKA_GROUP_CONSUMER_SESSION_TIMEOUT_MS"] = "10000",
    });

    public void Dispose() => _broker.Dispose();

    /// <summary>Who holds which partition, from the members' callbacks, checked as events arrive.</summary>
    private sealed class Ownership
    {
        private readonly object _gate = new();
        private readonly Dictionary<int, string> _owner = new();
        public readonly List<string> Violations = new();
        public readonly List<string> Events = new();
        public int Handoffs;

        public void Assigned(string member, IEnumerable<int> partitions)
        {
            lock (_gate)
                foreach (int p in partitions)
                {
                    Events.Add($"{member} +{p}");
                    if (_owner.TryGetValue(p, out var other) && other != member) Violations.Add($"partition {p} assigned to {member} while {other} holds it");
                    else if (_owner.ContainsKey(p)) continue;
                    else Handoffs++;
                    _owner[p] = member;
                }
        }

        public void Revoked(string member, IEnumerable<int> partitions)
        {
            lock (_gate)
                foreach (int p in partitions)
                {
                    Events.Add($"{member} -{p}");
                    if (_owner.GetValueOrDefault(p) == member) _owner.Remove(p);
                }
        }

        public void CheckOwned(string member, int partition)
        {
            lock (_gate)
                if (_owner.GetValueOrDefault(partition) != member)
                    Violations.Add($"{member} consumed partition {partition} held by {_owner.GetValueOrDefault(partition) ?? "nobody"}");
        }
    }

    private IConsumer<string, string> NewConsumer(string name, Ownership ownership, string? instanceId = null)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = Group,
            ClientId = name,
            GroupProtocol = GroupProtocol.Consumer,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            GroupInstanceId = instanceId,
        };
        IConsumer<string, string>? self = null;
        var consumer = new ConsumerBuilder<string, string>(config)
            .SetPartitionsAssignedHandler((_, parts) => ownership.Assigned(name, parts.Select(p => p.Partition.Value)))
            .SetPartitionsRevokedHandler((c, parts) =>
            {
                // Commit what was read from the partitions given up, then let them go.
                try
                {
                    c.Commit();
                }
                catch (KafkaException)
                {
                    // nothing consumed yet, or the member was fenced: the next owner re-reads (at-least-once)
                }
                ownership.Revoked(name, parts.Select(p => p.Partition.Value));
            })
            .SetPartitionsLostHandler((_, parts) => ownership.Revoked(name, parts.Select(p => p.Partition.Value)))
            .Build();
        self = consumer;
        return self;
    }

    private void Produce(int from, int count)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = _broker.Bootstrap, Acks = Acks.All }).Build();
        for (int i = from; i < from + count; i++)
            producer.Produce(new TopicPartition(Topic, new Partition(i % Partitions)), new Message<string, string> { Key = "k" + i, Value = "m-" + i });
        Assert.Equal(0, producer.Flush(Timeout));
    }

    /// <summary>Polls one member for <paramref name="duration"/>, recording what it reads and committing every
    /// 20 records (and on revocation and close).</summary>
    private static void Run(IConsumer<string, string> consumer, string name, Ownership ownership, TimeSpan duration,
        System.Collections.Concurrent.ConcurrentBag<string> seen, Func<bool>? stopEarly = null)
    {
        var sw = Stopwatch.StartNew();
        int sinceCommit = 0;
        while (sw.Elapsed < duration && !(stopEarly?.Invoke() ?? false))
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is null || r.IsPartitionEOF) continue;
            ownership.CheckOwned(name, r.Partition.Value);
            seen.Add(r.Message.Value);
            if (++sinceCommit >= 20)
            {
                consumer.Commit();
                sinceCommit = 0;
            }
        }
        try
        {
            consumer.Commit();
        }
        catch (KafkaException)
        {
            // nothing to commit
        }
    }

    [Fact]
    public async Task Three_members_join_and_leave_while_producing_every_message_is_consumed_and_no_partition_has_two_owners()
    {
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build())
            await admin.CreateTopicsAsync([new TopicSpecification { Name = Topic, NumPartitions = Partitions, ReplicationFactor = 1 }]);

        const int total = 3_000;
        var ownership = new Ownership();
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        var producer = Task.Run(() =>
        {
            for (int batch = 0; batch < 30; batch++)
            {
                Produce(batch * 100, 100);
                Thread.Sleep(400);
            }
        });
        // a: the whole time; b: joins at 2 s, leaves at 8 s; c: joins at 4 s, leaves at 11 s.
        var a = Task.Run(() =>
        {
            using var c = NewConsumer("a", ownership);
            c.Subscribe(Topic);
            Run(c, "a", ownership, TimeSpan.FromSeconds(90), seen, () => seen.Distinct().Count() >= total && producer.IsCompleted);
            c.Close();
        });
        var b = Task.Run(() =>
        {
            Thread.Sleep(2_000);
            using var c = NewConsumer("b", ownership);
            c.Subscribe(Topic);
            Run(c, "b", ownership, TimeSpan.FromSeconds(6), seen);
            c.Close();
        });
        var cTask = Task.Run(() =>
        {
            Thread.Sleep(4_000);
            using var c = NewConsumer("c", ownership);
            c.Subscribe(Topic);
            Run(c, "c", ownership, TimeSpan.FromSeconds(7), seen);
            c.Close();
        });
        var all = Task.WhenAll(producer, a, b, cTask);
        Assert.True(await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(150))) == all, "members did not finish in time");
        await all;

        Assert.Empty(ownership.Violations);
        var distinct = seen.Distinct().ToHashSet();
        var missing = Enumerable.Range(0, total).Select(i => "m-" + i).Where(v => !distinct.Contains(v)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} messages never consumed, e.g. {string.Join(",", missing.Take(5))}");
        // b and c joined and left: partitions moved between members more than once.
        Assert.True(ownership.Handoffs > Partitions, $"only {ownership.Handoffs} handoffs: {string.Join(" ", ownership.Events)}");
        var bMembers = ownership.Events.Where(e => e.StartsWith("b +", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(bMembers);

        // The group as the admin client (ConsumerGroupDescribe) and the CLI see it now: empty, commits kept.
        var cli = DetKafkaCli.Json(["group", "describe", Group, "--brokers", _broker.Bootstrap]);
        long committedTotal = 0;
        foreach (var p in cli.GetProperty("partitions").EnumerateArray())
        {
            Assert.Equal(System.Text.Json.JsonValueKind.Number, p.GetProperty("current_offset").ValueKind);
            Assert.Equal(0, p.GetProperty("lag").GetInt64());
            committedTotal += p.GetProperty("current_offset").GetInt64();
        }
        Assert.Equal(total, committedTotal);

        // Restart the broker: the group's commits and state come back from __consumer_offsets.
        _broker.StopGracefully();
        _broker.Restart();
        Produce(total, 120);
        var after = new System.Collections.Concurrent.ConcurrentBag<string>();
        using (var d = NewConsumer("d", ownership))
        {
            d.Subscribe(Topic);
            Run(d, "d", ownership, TimeSpan.FromSeconds(60), after, () => after.Count >= 120);
            Thread.Sleep(1_000);
            Run(d, "d", ownership, TimeSpan.FromSeconds(2), after);
            d.Close();
        }
        var resumed = after.ToList();
        Assert.Equal(120, resumed.Count);
        Assert.All(resumed, v => Assert.True(int.Parse(v.AsSpan(2), System.Globalization.CultureInfo.InvariantCulture) >= total, $"{v} was read again after the restart"));
        Assert.Empty(ownership.Violations);
        _broker.AssertAlive("after the KIP-848 members");
    }

    [Fact]
    public async Task The_admin_client_describes_a_consumer_protocol_group()
    {
        Produce(0, 30);
        var ownership = new Ownership();
        using var c = NewConsumer("solo", ownership, instanceId: "solo-1");
        c.Subscribe(Topic);
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        Run(c, "solo", ownership, TimeSpan.FromSeconds(30), seen, () => seen.Count >= 30);
        Assert.Equal(30, seen.Count);

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build();
        var described = await admin.DescribeConsumerGroupsAsync([Group], new DescribeConsumerGroupsOptions { RequestTimeout = Timeout });
        var g = described.ConsumerGroupDescriptions.Single();
        Assert.Equal(ConsumerGroupState.Stable, g.State);
        var member = Assert.Single(g.Members);
        Assert.Equal("solo", member.ClientId);
        Assert.Equal("solo-1", member.GroupInstanceId);
        Assert.Equal(Enumerable.Range(0, Partitions), member.Assignment.TopicPartitions.Select(tp => tp.Partition.Value).OrderBy(p => p));

        var listed = await admin.ListConsumerGroupsAsync(new ListConsumerGroupsOptions { RequestTimeout = Timeout });
        Assert.Contains(listed.Valid, l => l.GroupId == Group && l.State == ConsumerGroupState.Stable);
        c.Close();
        Assert.Empty(ownership.Violations);
    }
}
