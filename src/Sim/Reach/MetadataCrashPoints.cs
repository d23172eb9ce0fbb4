using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Crash points for topic metadata (SIMULATION.md, "Crash points and damaged start-up files"): a whole
/// <see cref="BrokerNode"/> on a <see cref="SimDisk"/> answers a seeded sequence of topic changes (CreateTopics with
/// configs, CreatePartitions, IncrementalAlterConfigs, DeleteTopics). Run k stops the process at the k-th disk
/// operation, crashes the disk and starts a new node on it, which must come up and show every acknowledged change:
/// an acknowledged topic exists with its acknowledged partition count and config, an acknowledged deletion stays
/// deleted; the one change in flight at the crash may show either way. It judges behaviour through the protocol, not
/// the file layout, so it holds whatever form the metadata takes on disk.
/// </summary>
public static class MetadataCrashPoints
{
    private sealed class CrashPoint : Exception
    {
    }

    private sealed record TopicState(int Partitions, string? SegmentMs);

    /// <summary>Per topic, the states it may be in: the acknowledged one, plus the in-flight change's result.</summary>
    private sealed class Acked
    {
        public readonly SortedDictionary<string, List<TopicState?>> Topics = new(StringComparer.Ordinal);

        public void Set(string name, TopicState? state) => Topics[name] = [state];

        public void InFlight(string name, TopicState? after)
        {
            if (!Topics.TryGetValue(name, out var list)) Topics[name] = list = [null];
            list.Add(after);
        }
    }

    public sealed record Report(int CrashPoints, IReadOnlyList<string> Problems);

    /// <summary>Runs the scenario once per disk operation, crashing there. <paramref name="lyingDisk"/> makes every sync
    /// report success and persist nothing (the planted fault the check must catch). <paramref name="answerOnAppend"/>
    /// plants <see cref="BrokerConfig.TestOnlyAnswerAdminOnAppend"/>: the admin handlers answer when the change is
    /// written, before its sync completes, so a crash in that window loses an acknowledged change.</summary>
    public static Report Explore(ulong seed, bool lyingDisk = false, int pointsMax = 1_000, bool answerOnAppend = false)
    {
        int total = Run(seed, -1, lyingDisk, new Acked(), out _, answerOnAppend);
        var problems = new List<string>();
        int points = Math.Min(total, pointsMax);
        for (int k = 0; k <= points; k++)
        {
            var acked = new Acked();
            Run(seed, k, lyingDisk, acked, out var disk, answerOnAppend);
            disk.FaultHook = null;
            disk.LyingFsync = false;
            disk.Crash();
            if (Verify(disk, acked) is { } problem)
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"seed {seed}, crash at disk operation {k} of {total}: {problem}"));
        }
        return new Report(points + 1, problems);
    }

    private static BrokerConfig Config(bool answerOnAppend = false)
        => new() { NodeId = 1, DataDirectory = "data", AutoCreateTopicsEnable = false, TestOnlyAnswerAdminOnAppend = answerOnAppend };

    private sealed class Node(SimDisk disk, bool answerOnAppend = false)
    {
        public readonly ManualClock Clock = new();
        public readonly RecordingNetwork Network = new();
        public BrokerNode Broker = null!;
        public readonly ConnectionId Connection = new(1);
        private int _correlation = 1;

        public void Start()
        {
            Broker = new BrokerNode(Config(answerOnAppend), Clock, disk, Network, new SeededRandom(7), NullBrokerLog.Instance);
            Broker.Start();
            Broker.OnConnectionOpened(Connection);
        }

        public T Call<T>(ApiKey key, short version, IKafkaMessage body) where T : IKafkaMessage
        {
            Broker.OnReceive(Connection, ClientCodec.EncodeRequest(key, version, _correlation++, "crash", body));
            for (int round = 0; round < 1_000; round++)
            {
                var frames = Network.TakeFrames(Connection);
                if (frames.Count > 0) return (T)ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(frames[0]), out _);
                foreach (var (token, status) in disk.CompletePendingSyncs()) Broker.OnSyncCompleted(token, status);
                Clock.Advance(5);
                if (Broker.NextDeadlineMs <= Clock.MonotonicMs) Broker.Poll();
            }
            throw new InvalidOperationException($"no answer to {key}");
        }
    }

    /// <summary>The scenario; returns how many disk operations it made (all of them when <paramref name="crashAt"/> is -1).</summary>
    private static int Run(ulong seed, int crashAt, bool lyingDisk, Acked acked, out SimDisk disk, bool answerOnAppend)
    {
        disk = new SimDisk();
        var node = new Node(disk, answerOnAppend);
        int ops = 0;
        disk.FaultHook = (_, _) =>
        {
            if (ops++ == crashAt) throw new CrashPoint();
            return DiskStatus.Ok;
        };
        var r = new SeededRandom(SimulationOptions.SubSeed(seed, 95));
        try
        {
            node.Start();
            disk.LyingFsync = lyingDisk;
            var live = new SortedDictionary<string, TopicState>(StringComparer.Ordinal);
            int next = 0;
            for (int step = 0; step < 12; step++)
            {
                double roll = r.NextDouble();
                if (live.Count == 0 || roll < 0.35)
                {
                    string name = "meta-" + (next++).ToString(CultureInfo.InvariantCulture);
                    var state = new TopicState(r.NextInt(1, 4), r.NextBool(0.5) ? r.NextInt(1_000, 9_999).ToString(CultureInfo.InvariantCulture) : null);
                    var request = new CreateTopicsRequest { TimeoutMs = 5_000 };
                    request.Topics.Add(new CreateTopicsRequest.CreatableTopic
                    {
                        Name = name, NumPartitions = state.Partitions, ReplicationFactor = 1,
                        Configs = state.SegmentMs is { } ms ? [new CreateTopicsRequest.CreatableTopicConfig { Name = "segment.ms", Value = ms }] : [],
                    });
                    acked.InFlight(name, state);
                    var e = node.Call<CreateTopicsResponse>(ApiKey.CreateTopics, 5, request).Topics[0].ErrorCode;
                    if (e != ErrorCode.None) throw new InvalidOperationException($"CreateTopics {name} answered {e} without a fault");
                    acked.Set(name, state);
                    live[name] = state;
                    continue;
                }
                var names = live.Keys.ToList();
                string t = names[r.NextInt(0, names.Count)];
                var before = live[t];
                if (roll < 0.55)
                {
                    var after = before with { Partitions = before.Partitions + r.NextInt(1, 3) };
                    var request = new CreatePartitionsRequest { TimeoutMs = 5_000 };
                    request.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic { Name = t, Count = after.Partitions });
                    acked.InFlight(t, after);
                    var e = node.Call<CreatePartitionsResponse>(ApiKey.CreatePartitions, 2, request).Results[0].ErrorCode;
                    if (e != ErrorCode.None) throw new InvalidOperationException($"CreatePartitions {t} answered {e} without a fault");
                    acked.Set(t, after);
                    live[t] = after;
                }
                else if (roll < 0.8)
                {
                    bool delete = before.SegmentMs is not null && r.NextBool(0.4);
                    var after = before with { SegmentMs = delete ? null : r.NextInt(1_000, 9_999).ToString(CultureInfo.InvariantCulture) };
                    var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = t };
                    resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig
                    {
                        Name = "segment.ms", Value = after.SegmentMs, ConfigOperation = delete ? AlterConfigOpType.Delete : AlterConfigOpType.Set,
                    });
                    var request = new IncrementalAlterConfigsRequest();
                    request.Resources.Add(resource);
                    acked.InFlight(t, after);
                    var e = node.Call<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, request).Responses[0].ErrorCode;
                    if (e != ErrorCode.None) throw new InvalidOperationException($"IncrementalAlterConfigs {t} answered {e} without a fault");
                    acked.Set(t, after);
                    live[t] = after;
                }
                else
                {
                    acked.InFlight(t, null);
                    var request = new DeleteTopicsRequest { TimeoutMs = 5_000, TopicNames = [t], Topics = [new DeleteTopicsRequest.DeleteTopicState { Name = t }] };
                    var e = node.Call<DeleteTopicsResponse>(ApiKey.DeleteTopics, 5, request).Responses[0].ErrorCode;
                    if (e != ErrorCode.None) throw new InvalidOperationException($"DeleteTopics {t} answered {e} without a fault");
                    acked.Set(t, null);
                    live.Remove(t);
                }
            }
        }
        catch (CrashPoint)
        {
        }
        return ops;
    }

    /// <summary>A new node on the crashed disk must start and show a state each topic may be in.</summary>
    private static string? Verify(SimDisk disk, Acked acked)
    {
        var node = new Node(disk);
        try
        {
            node.Start();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return "the node did not start: " + e.Message;
        }
        var metadata = node.Call<MetadataResponse>(ApiKey.Metadata, 9, new MetadataRequest { Topics = null });
        foreach (var (name, states) in acked.Topics)
        {
            var listed = metadata.Topics.FirstOrDefault(x => x.Name == name && x.ErrorCode == ErrorCode.None);
            string? segmentMs = null;
            if (listed is not null)
            {
                var describe = new DescribeConfigsRequest
                {
                    Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = name, ConfigurationKeys = ["segment.ms"] }],
                };
                var c = node.Call<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, describe).Results[0].Configs.FirstOrDefault(x => x.Name == "segment.ms");
                segmentMs = c is { ConfigSource: ConfigSource.TopicConfig } ? c.Value : null;
            }
            var seen = listed is null ? null : new TopicState(listed.Partitions.Count, segmentMs);
            if (!states.Contains(seen))
                return $"topic {name} came back {(seen is null ? "absent" : $"with {seen.Partitions} partitions, segment.ms {seen.SegmentMs ?? "default"}")}; acknowledged: {string.Join(" or ", states.Select(s => s is null ? "absent" : $"{s.Partitions} partitions, segment.ms {s.SegmentMs ?? "default"}"))}";
        }
        return null;
    }
}
