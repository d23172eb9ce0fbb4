using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Util;
using DetKafka.Sim.Trace;
using DetKafka.Sim.World;

namespace DetKafka.Sim.Reach;

/// <summary>
/// The admin workload's settings (SIMULATION.md, "The admin workload"): one client host that drives every API the
/// broker serves besides the queue workload's, on topics of its own, and checks each answer against the
/// <see cref="ReferenceModel"/>.
/// </summary>
public sealed record AdminWorkloadOptions(
    double TickMeanMs,
    int BurstMax,
    int ClientMaxInFlight,
    int RequestTimeoutMs,
    int TopicsMax)
{
    /// <summary>Drawn from its own stream so every other setting of a seed stays what it was.</summary>
    public static AdminWorkloadOptions? Draw(ulong seed)
    {
        var r = new SeededRandom(SimulationOptions.SubSeed(seed, 70));
        if (!r.NextBool(0.75)) return null;
        return new AdminWorkloadOptions(
            // Bounded so the admin process costs a run about what the queue workload does (CI sweeps 1,000 seeds).
            TickMeanMs: DetMath.LogUniform(r, 20, 200),
            BurstMax: r.NextInt(1, 9),
            ClientMaxInFlight: r.NextInt(1, 33),
            RequestTimeoutMs: r.NextInt(1_000, 6_001),
            TopicsMax: r.NextInt(1, 5));
    }

    /// <summary>What a run without a drawn admin workload gets when a test or --plant needs one.</summary>
    public static AdminWorkloadOptions Default { get; } = new(TickMeanMs: 20, BurstMax: 8, ClientMaxInFlight: 16, RequestTimeoutMs: 3_000, TopicsMax: 3);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"tick={TickMeanMs:0.#}ms burst<={BurstMax} in-flight={ClientMaxInFlight} request-timeout={RequestTimeoutMs}ms topics<={TopicsMax}");
}

/// <summary>
/// The admin process: creates, deletes and re-creates topics, adds partitions, alters and describes configs,
/// produces and fetches, lists offsets (earliest, latest, by timestamp, max timestamp), deletes records, describes
/// the cluster and takes producer ids; pipelines bursts of requests on one connection up to its in-flight limit
/// (often past the broker's); draws every request's version from the range both sides support. Every answer is
/// checked against the <see cref="ReferenceModel"/>; a wrong one is a violation named after what it got wrong.
/// </summary>
public sealed partial class AdminWorkload
{
    private static readonly string[] ManagedKeys =
        ["segment.bytes", "segment.ms", "retention.bytes", "max.message.bytes", "index.interval.bytes", "preallocate", "min.insync.replicas"];

    private readonly SimWorld _world;
    private readonly IRandom _random;
    private readonly AdminWorkloadOptions _options;
    private readonly SortedDictionary<ApiKey, short> _caps = new();
    private readonly List<Action> _outstanding = new();
    private int _nextTopic;
    private long _nextRecordId;
    private int _incarnation;

    internal AdminWorkload(SimWorld world, AdminWorkloadOptions options, IRandom random)
    {
        _world = world;
        _options = options;
        _random = random;
        Model.OnChecked = what => _world.Count("model.checked." + what);
    }

    public ReferenceModel Model { get; } = new();

    private ClientHost? _host;

    // ---- process lifecycle ---------------------------------------------------------------------------------

    internal string StartProcess(ClientHost host)
    {
        _host = host;
        _caps.Clear();
        var client = new KafkaClient(new KafkaClientOptions
        {
            ClientId = host.Name,
            BootstrapServers = [_world.AddressOf(_world.Nodes[0])],
            RequestTimeoutMs = _options.RequestTimeoutMs,
            ConnectionSetupTimeoutMs = 5_000,
            ReconnectBackoffMs = 50,
            ReconnectBackoffMaxMs = 1_000,
            RetryBackoffMs = 100,
            MaxInFlightRequestsPerConnection = _options.ClientMaxInFlight,
            // Mutated before every send: each request's version is drawn from the range both sides support.
            MaxVersions = _caps,
        }, host.Clock, host.Network, new SeededRandom(SimulationOptions.SubSeed(SimulationOptions.SubSeed(_world.Seed, 71), (ulong)host.Incarnation)));
        client.ConnectionDropped = (id, reason) => _world.Note(host.Name, "client-drop", id + " " + reason);
        client.RequestMetadataUpdate();
        host.Raw = new RawConnections(host.Network, _world.AddressOf(_world.Nodes[0]), () => _world.NowMs);
        host.Client = client;
        int incarnation = ++_incarnation;
        ScheduleTick(host, incarnation, _world.NowUs + 1000);
        _world.ClientInput(host, _ => { });
        return "admin process " + incarnation.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The process died: every request it had in flight ends without an answer.</summary>
    internal void OnCrash(ClientHost host)
    {
        _incarnation++;
        var lost = _outstanding.ToList();
        _outstanding.Clear();
        foreach (var complete in lost) complete();
        host.Raw?.Abandon();
        host.Raw = null;
    }

    private void ScheduleTick(ClientHost host, int incarnation, long atUs)
    {
        _world.ScheduleClientTimer(host, atUs, "admin-tick", () =>
        {
            if (incarnation != _incarnation || host.Client is null) return null;
            // The admin process works during the safety phase only: the liveness phase judges the queue workload,
            // and a busy admin process there would only lengthen every run.
            if (_world.InLivenessPhase) return "done (liveness phase)";
            var what = Tick(host, host.Client);
            long next = (long)(DetMath.Exponential(_random, _options.TickMeanMs) * 1000) + 1;
            ScheduleTick(host, incarnation, _world.NowUs + next);
            _world.ClientInput(host, _ => { });
            return what;
        });
    }

    private int NodeId(KafkaClient client)
    {
        var metadata = client.Metadata;
        if (metadata.LastUpdateMs < 0) return -1;
        foreach (var id in metadata.Brokers.Keys) return id;
        return -1;
    }

    private TraceDetails Tick(ClientHost host, KafkaClient client)
    {
        if (host.Paused) return "paused";
        int node = NodeId(client);
        if (node < 0)
        {
            client.RequestMetadataUpdate();
            return "no metadata yet";
        }
        int burst = _random.NextInt(1, _options.BurstMax + 1);
        var sent = new List<string>();
        for (int i = 0; i < burst && client.Ready(node); i++)
            if (NextOperation(client, node) is { } label) sent.Add(label);
        return sent.Count == 0 ? "not ready" : string.Join(",", sent);
    }

    // ---- sending -----------------------------------------------------------------------------------------------

    /// <summary>Sends at a version drawn from what client and broker both support (or <paramref name="pinned"/>),
    /// runs <paramref name="onResponse"/> once: with the answer, or with Disconnected if the process dies first.</summary>
    private bool Send(KafkaClient client, int node, ApiKey key, IKafkaMessage body, Action<ClientResponse> onResponse, short? minVersion = null)
    {
        if (KafkaClient.SupportedVersions(key) is not { } mine || client.BrokerApiVersions(node) is not { } broker
            || !broker.TryGetValue(key, out var theirs)) return false;
        short min = Math.Max(Math.Max(mine.Min, theirs.Min), minVersion ?? short.MinValue);
        short max = Math.Min(mine.Max, theirs.Max);
        if (max < min) return false;
        _caps[key] = (short)_random.NextInt(min, max + 1);
        int incarnation = _incarnation;
        bool done = false;
        void Complete(ClientResponse r)
        {
            if (done) return;
            done = true;
            onResponse(r);
        }
        Action lost = () => Complete(new ClientResponse(ResponseStatus.Disconnected, null, -1));
        _outstanding.Add(lost);
        _world.Count("admin.requests." + key);
        client.Send(node, key, body, r =>
        {
            if (incarnation != _incarnation) return;
            _outstanding.Remove(lost);
            Complete(r);
        });
        return true;
    }

    private static bool IsAmbiguousError(ErrorCode e)
        => e is ErrorCode.KafkaStorageError or ErrorCode.RequestTimedOut or ErrorCode.NotController or ErrorCode.UnknownServerError;

    private string NewTopicName() => "adm-" + (_nextTopic++).ToString(CultureInfo.InvariantCulture);

    private List<TopicModel> Live => Model.Topics.Where(t => !t.Tainted && t.State is { Exists: true }).ToList();

    private TopicModel? PickTopic(Func<TopicModel, bool> filter)
    {
        var list = Model.Topics.Where(filter).ToList();
        return list.Count == 0 ? null : list[_random.NextInt(0, list.Count)];
    }

    private string? NextOperation(KafkaClient client, int node)
    {
        // A fifth of the operations go over hand-framed connections (AdminRaw.cs, AdminMalformed.cs).
        if (_random.NextBool(0.2)) return RawOperation(node);
        // And some work on the compacted topic (AdminCompaction.cs).
        if (_random.NextBool(0.1)) return CompactionOperation(client, node);
        int roll = _random.NextInt(0, 100);
        return roll switch
        {
            < 8 => CreateTopic(client, node),
            < 12 => DeleteTopic(client, node),
            < 16 => CreatePartitions(client, node),
            < 21 => AlterConfigs(client, node, incremental: _random.NextBool(0.5)),
            < 28 => DescribeConfigs(client, node),
            < 36 => Metadata(client, node),
            < 39 => DescribeCluster(client, node),
            < 42 => InitProducerId(client, node),
            < 50 => GroupOperation(client, node),
            < 64 => Produce(client, node),
            < 76 => Fetch(client, node),
            < 92 => ListOffsets(client, node),
            _ => DeleteRecords(client, node),
        };
    }

    private SortedDictionary<string, string> DrawConfigs()
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in ManagedKeys)
        {
            if (!_random.NextBool(0.3)) continue;
            map[key] = DrawValue(key);
        }
        return map;
    }

    private string DrawValue(string key) => key switch
    {
        "segment.bytes" => _random.NextInt(1_024, 16_385).ToString(CultureInfo.InvariantCulture),
        "segment.ms" => _random.NextInt(100, 60_001).ToString(CultureInfo.InvariantCulture),
        "retention.bytes" => _random.NextBool(0.5) ? "-1" : "1000000000000",
        "max.message.bytes" => _random.NextInt(100_000, 2_000_001).ToString(CultureInfo.InvariantCulture),
        "index.interval.bytes" => _random.NextInt(32, 4_097).ToString(CultureInfo.InvariantCulture),
        "preallocate" => _random.NextBool(0.5) ? "true" : "false",
        _ => "1",
    };

    // ---- topic changes -------------------------------------------------------------------------------------

    private string? CreateTopic(KafkaClient client, int node)
    {
        int live = Model.Topics.Count(t => t.Tainted || t.State is not { Exists: false });
        TopicModel t;
        // Re-create a deleted name, create over an existing one (must be refused), or a new name.
        var absent = PickTopic(x => x.Mutable && x.State is { Exists: false });
        var existing = PickTopic(x => x.Mutable && x.State is { Exists: true });
        double r = _random.NextDouble();
        if (r < 0.3 && absent is not null) t = absent;
        else if (r < 0.4 && existing is not null) t = existing;
        else if (live < _options.TopicsMax) t = Model.Topic(NewTopicName());
        else return null;
        int partitions = _random.NextInt(1, 4);
        var configs = DrawConfigs();
        var before = t.State!;
        var after = before.Exists ? before : new TopicState(true, partitions, TopicState.Canonical(configs));
        var request = new CreateTopicsRequest { TimeoutMs = 5_000 };
        request.Topics.Add(new CreateTopicsRequest.CreatableTopic
        {
            Name = t.Name,
            NumPartitions = partitions,
            ReplicationFactor = (short)(_random.NextBool(0.5) ? 1 : -1),
            Configs = configs.Select(kv => new CreateTopicsRequest.CreatableTopicConfig { Name = kv.Key, Value = kv.Value }).ToList(),
        });
        Model.MutationSent(t, _ => after);
        bool sent = Send(client, node, ApiKey.CreateTopics, request, response =>
        {
            Model.Count("CreateTopics");
            var result = (response.Body as CreateTopicsResponse)?.Topics.FirstOrDefault(x => x.Name == t.Name);
            Mutated(t, before, after, result?.ErrorCode, response, ErrorCode.TopicAlreadyExists, "model-create-topics", "CreateTopics");
        });
        if (!sent) Model.MutationRefused(t, before);
        return "create " + t.Name;
    }

    /// <summary>Judges a topic change's answer: success when the model expected the change, the expected refusal
    /// otherwise; no answer (or a storage error) leaves both states possible.</summary>
    private void Mutated(TopicModel t, TopicState before, TopicState after, ErrorCode? error, ClientResponse response,
        ErrorCode refusal, string violation, string api)
    {
        bool expectRefusal = before == after;
        if (response.Status != ResponseStatus.Ok || error is null || IsAmbiguousError(error.Value))
        {
            Model.MutationAmbiguous(t);
            return;
        }
        if (error == ErrorCode.None && !expectRefusal)
        {
            Model.MutationApplied(t, before, after);
            return;
        }
        if (error == refusal && expectRefusal)
        {
            Model.MutationRefused(t, before);
            return;
        }
        Model.Violation(violation, $"{api} of {t.Name} answered {error} on a topic that was {before}: expected {(expectRefusal ? refusal : ErrorCode.None)}");
        Model.MutationAmbiguous(t);
    }

    private string? DeleteTopic(KafkaClient client, int node)
    {
        var t = PickTopic(x => x.Mutable && !x.LateData);
        if (t is null) return null;
        var before = t.State!;
        var after = TopicState.Absent;
        if (!before.Exists) after = before;
        var request = new DeleteTopicsRequest { TimeoutMs = 5_000, TopicNames = [t.Name], Topics = [new DeleteTopicsRequest.DeleteTopicState { Name = t.Name }] };
        Model.MutationSent(t, _ => after);
        t.Partitions.Clear();
        bool sent = Send(client, node, ApiKey.DeleteTopics, request, response =>
        {
            Model.Count("DeleteTopics");
            var result = (response.Body as DeleteTopicsResponse)?.Responses.FirstOrDefault(x => x.Name == t.Name);
            Mutated(t, before, after, result?.ErrorCode, response, ErrorCode.UnknownTopicOrPartition, "model-delete-topics", "DeleteTopics");
        });
        if (!sent) Model.MutationAmbiguous(t);
        return "delete " + t.Name;
    }

    private string? CreatePartitions(KafkaClient client, int node)
    {
        var t = PickTopic(x => x.Mutable);
        if (t is null) return null;
        var before = t.State!;
        int count = before.Exists ? before.Partitions + _random.NextInt(_random.NextBool(0.2) ? 0 : 1, 3) : _random.NextInt(1, 4);
        var after = before.Exists && count > before.Partitions ? before with { Partitions = count } : before;
        var refusal = before.Exists ? ErrorCode.InvalidPartitions : ErrorCode.UnknownTopicOrPartition;
        var request = new CreatePartitionsRequest { TimeoutMs = 5_000 };
        request.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic { Name = t.Name, Count = count });
        Model.MutationSent(t, _ => after);
        bool sent = Send(client, node, ApiKey.CreatePartitions, request, response =>
        {
            Model.Count("CreatePartitions");
            var result = (response.Body as CreatePartitionsResponse)?.Results.FirstOrDefault(x => x.Name == t.Name);
            Mutated(t, before, after, result?.ErrorCode, response, refusal, "model-create-partitions", "CreatePartitions");
        });
        if (!sent) Model.MutationRefused(t, before);
        return "partitions " + t.Name;
    }

    private string? AlterConfigs(KafkaClient client, int node, bool incremental)
    {
        var t = PickTopic(x => x.Mutable);
        if (t is null) return null;
        var before = t.State!;
        var map = before.ConfigMap();
        IKafkaMessage request;
        if (incremental)
        {
            var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = t.Name };
            foreach (var key in ManagedKeys)
            {
                double r = _random.NextDouble();
                // A delete of a key the topic overrides is the one that changes anything (and the one an ignored
                // delete gets wrong); deleting a key with no override is a valid no-op. An override is deleted
                // more often (35%, not 15%), drawn from the same number, so the draw stream stays as it was.
                double deleteBelow = map.ContainsKey(key) ? 0.6 : 0.4;
                if (r < 0.25)
                {
                    string value = DrawValue(key);
                    map[key] = value;
                    resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = key, Value = value, ConfigOperation = AlterConfigOpType.Set });
                }
                else if (r < deleteBelow)
                {
                    map.Remove(key);
                    resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = key, ConfigOperation = AlterConfigOpType.Delete });
                }
            }
            var inc = new IncrementalAlterConfigsRequest();
            inc.Resources.Add(resource);
            request = inc;
        }
        else
        {
            map = DrawConfigs();
            var resource = new AlterConfigsRequest.AlterConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = t.Name };
            foreach (var (k, v) in map) resource.Configs.Add(new AlterConfigsRequest.AlterableConfig { Name = k, Value = v });
            var alter = new AlterConfigsRequest();
            alter.Resources.Add(resource);
            request = alter;
        }
        var after = before.Exists ? before with { Configs = TopicState.Canonical(map) } : before;
        string api = incremental ? "IncrementalAlterConfigs" : "AlterConfigs";
        Model.MutationSent(t, _ => after);
        bool sent = Send(client, node, incremental ? ApiKey.IncrementalAlterConfigs : ApiKey.AlterConfigs, request, response =>
        {
            Model.Count(api);
            ErrorCode? error = response.Body switch
            {
                IncrementalAlterConfigsResponse r => r.Responses.FirstOrDefault(x => x.ResourceName == t.Name)?.ErrorCode,
                AlterConfigsResponse r => r.Responses.FirstOrDefault(x => x.ResourceName == t.Name)?.ErrorCode,
                _ => null,
            };
            // Changing nothing on an existing topic is a success that leaves the state as it was.
            if (before.Exists && before == after && error == ErrorCode.None)
            {
                Model.MutationApplied(t, before, after);
                return;
            }
            Mutated(t, before, after, error, response, ErrorCode.UnknownTopicOrPartition, incremental ? "model-incremental-alter-configs" : "model-alter-configs", api);
        });
        if (!sent) Model.MutationRefused(t, before);
        return (incremental ? "incremental-alter " : "alter ") + t.Name;
    }

    // ---- reads of topic state --------------------------------------------------------------------------------

    private string? DescribeConfigs(KafkaClient client, int node)
    {
        bool broker = _random.NextBool(0.1);
        var t = broker ? null : PickTopic(_ => true);
        if (!broker && t is null) return null;
        var seen = t?.Watch();
        var request = new DescribeConfigsRequest
        {
            Resources =
            [
                new DescribeConfigsRequest.DescribeConfigsResource
                {
                    ResourceType = broker ? ConfigResourceType.Broker : ConfigResourceType.Topic,
                    ResourceName = broker ? node.ToString(CultureInfo.InvariantCulture) : t!.Name,
                    ConfigurationKeys = _random.NextBool(0.7) ? null : ManagedKeys.Where(_ => _random.NextBool(0.5)).ToList(),
                },
            ],
            IncludeSynonyms = _random.NextBool(0.5),
            IncludeDocumentation = _random.NextBool(0.5),
        };
        bool sent = Send(client, node, ApiKey.DescribeConfigs, request, response =>
        {
            if (t is not null) t.Unwatch(seen!);
            if (response.Status != ResponseStatus.Ok) return;
            Model.Count("DescribeConfigs");
            var result = ((DescribeConfigsResponse)response.Body!).Results.FirstOrDefault();
            if (result is null)
            {
                Model.Violation("model-describe-configs", "DescribeConfigs answered no result for its resource");
                return;
            }
            if (broker)
            {
                if (result.ErrorCode != ErrorCode.None) Model.Violation("model-describe-configs", $"DescribeConfigs of broker {node} answered {result.ErrorCode}");
                return;
            }
            CheckDescribedConfigs(t!, seen!, result, response.Version, request.Resources[0].ConfigurationKeys);
        });
        if (!sent && t is not null) t.Unwatch(seen!);
        return "describe-configs " + (t?.Name ?? "broker");
    }

    private void CheckDescribedConfigs(TopicModel t, HashSet<TopicState> seen, DescribeConfigsResponse.DescribeConfigsResult result, short version, List<string>? keys)
    {
        if (result.ErrorCode == ErrorCode.UnknownTopicOrPartition)
        {
            if (!seen.Contains(TopicState.Absent))
                Model.Violation("model-describe-configs", $"DescribeConfigs v{version} says {t.Name} does not exist; it was {ReferenceModel.Describe(seen)}");
            return;
        }
        if (result.ErrorCode != ErrorCode.None)
        {
            if (!IsAmbiguousError(result.ErrorCode)) Model.Violation("model-describe-configs", $"DescribeConfigs v{version} of {t.Name} answered {result.ErrorCode}");
            return;
        }
        var described = new SortedDictionary<string, (string? Value, bool Override)>(StringComparer.Ordinal);
        foreach (var c in result.Configs)
            described[c.Name] = (c.Value, version == 0 ? !c.IsDefault : c.ConfigSource == ConfigSource.TopicConfig);
        bool Matches(TopicState s)
        {
            if (!s.Exists) return false;
            var overrides = s.ConfigMap();
            foreach (var key in ManagedKeys)
            {
                if (keys is not null && !keys.Contains(key)) continue;
                if (!described.TryGetValue(key, out var d))
                {
                    // A key the broker does not describe can only be one with no override.
                    if (overrides.ContainsKey(key)) return false;
                    continue;
                }
                if (overrides.TryGetValue(key, out var v) ? !(d.Override && d.Value == v) : d.Override) return false;
            }
            return true;
        }
        if (keys is not null && described.Keys.Any(k => !keys.Contains(k)))
            Model.Violation("model-describe-configs", $"DescribeConfigs v{version} of {t.Name} asked for [{string.Join(",", keys)}] and got [{string.Join(",", described.Keys)}]");
        else if (!seen.Any(Matches))
            Model.Violation("model-describe-configs", $"DescribeConfigs v{version} of {t.Name} read back [{string.Join(";", ManagedKeys.Where(described.ContainsKey).Select(k => k + "=" + described[k].Value + (described[k].Override ? "(topic)" : "")))}]; the topic was {ReferenceModel.Describe(seen)}");
    }

    private string? Metadata(KafkaClient client, int node)
    {
        bool all = _random.NextBool(0.3);
        var picked = Model.Topics.Where(_ => all || _random.NextBool(0.5)).ToList();
        var watched = picked.Select(t => (Topic: t, Seen: t.Watch())).ToList();
        var request = new MetadataRequest
        {
            Topics = all ? null : picked.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t.Name }).ToList(),
            AllowAutoTopicCreation = false,
        };
        bool sent = Send(client, node, ApiKey.Metadata, request, response =>
        {
            foreach (var (t, seen) in watched) t.Unwatch(seen);
            if (response.Status != ResponseStatus.Ok) return;
            Model.Count("Metadata");
            var body = (MetadataResponse)response.Body!;
            if (response.Version >= 2) Model.CheckClusterId("Metadata", body.ClusterId);
            CheckBrokers("Metadata", body.Brokers.Select(b => (b.NodeId, b.Host, b.Port)), response.Version >= 1 ? body.ControllerId : 1);
            foreach (var (t, seen) in watched)
            {
                var listed = body.Topics.FirstOrDefault(x => x.Name == t.Name);
                bool ok;
                string got;
                if (listed is null || listed.ErrorCode == ErrorCode.UnknownTopicOrPartition)
                {
                    ok = seen.Contains(TopicState.Absent) && (listed is not null || all);
                    got = listed is null ? "not listed" : "UNKNOWN_TOPIC_OR_PARTITION";
                }
                else if (listed.ErrorCode != ErrorCode.None)
                {
                    ok = false;
                    got = listed.ErrorCode.ToString();
                }
                else
                {
                    var indexes = listed.Partitions.Select(p => p.PartitionIndex).OrderBy(i => i).ToList();
                    bool dense = indexes.SequenceEqual(Enumerable.Range(0, indexes.Count))
                                 && listed.Partitions.All(p => p.ErrorCode == ErrorCode.None && p.LeaderId == node);
                    ok = dense && seen.Any(s => s.Exists && s.Partitions == indexes.Count);
                    got = $"{indexes.Count} partitions{(dense ? "" : " (not 0..n-1 led by " + node + ")")}";
                }
                if (!ok) Model.Violation("model-metadata", $"Metadata v{response.Version} showed {t.Name} {got}; it was {ReferenceModel.Describe(seen)}");
            }
        });
        if (!sent)
            foreach (var (t, seen) in watched) t.Unwatch(seen);
        return "metadata";
    }

    private void CheckBrokers(string api, IEnumerable<(int NodeId, string Host, int Port)> brokers, int controller)
    {
        var list = brokers.ToList();
        var expected = _world.Nodes.Select(n => (n.NodeId, n.Config.AdvertisedHost, n.Config.AdvertisedPort)).ToList();
        if (!list.OrderBy(b => b.NodeId).SequenceEqual(expected))
            Model.Violation("model-brokers", $"{api} listed brokers [{string.Join(",", list)}]; expected [{string.Join(",", expected)}]");
        if (!_world.Nodes.Any(n => n.NodeId == controller))
            Model.Violation("model-brokers", $"{api} named controller {controller}, not a node of the cluster");
    }

    private string? DescribeCluster(KafkaClient client, int node)
    {
        var request = new DescribeClusterRequest { IncludeClusterAuthorizedOperations = _random.NextBool(0.5), EndpointType = 1 };
        Send(client, node, ApiKey.DescribeCluster, request, response =>
        {
            if (response.Status != ResponseStatus.Ok) return;
            Model.Count("DescribeCluster");
            var body = (DescribeClusterResponse)response.Body!;
            if (body.ErrorCode != ErrorCode.None)
            {
                Model.Violation("model-describe-cluster", $"DescribeCluster v{response.Version} answered {body.ErrorCode}");
                return;
            }
            Model.CheckClusterId("DescribeCluster", body.ClusterId);
            CheckBrokers("DescribeCluster", body.Brokers.Select(b => (b.BrokerId, b.Host, b.Port)), body.ControllerId);
        });
        return "describe-cluster";
    }

    private string? InitProducerId(KafkaClient client, int node)
    {
        var request = new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000 };
        Send(client, node, ApiKey.InitProducerId, request, response =>
        {
            if (response.Status != ResponseStatus.Ok) return;
            Model.Count("InitProducerId");
            var body = (InitProducerIdResponse)response.Body!;
            if (body.ErrorCode == ErrorCode.None) Model.CheckProducerId(body.ProducerId, body.ProducerEpoch);
            else if (!IsAmbiguousError(body.ErrorCode) && body.ErrorCode != ErrorCode.CoordinatorNotAvailable)
                Model.Violation("model-init-producer-id", $"InitProducerId v{response.Version} answered {body.ErrorCode}");
        });
        return "init-producer-id";
    }

    // ---- data ---------------------------------------------------------------------------------------------

    private (TopicModel Topic, PartitionModel Partition)? PickPartition()
    {
        var t = PickTopic(x => x.UsableForData && x.Partitions.Count > 0);
        if (t is null) return null;
        return (t, t.Partitions[_random.NextInt(0, t.Partitions.Count)]);
    }

    /// <summary>A data operation on a partition: counted so topic changes wait for it; judged only if the topic is
    /// still the same incarnation when the answer comes.</summary>
    private Action<Action> DataOp(TopicModel t)
    {
        t.DataOpsInFlight++;
        int incarnation = t.Incarnation;
        return judge =>
        {
            t.DataOpsInFlight--;
            if (t.Incarnation == incarnation && !t.Tainted) judge();
        };
    }

    private string? Produce(KafkaClient client, int node)
    {
        if (PickPartition() is not var (t, p)) return null;
        int n = _random.NextInt(1, 4);
        var records = new List<SentRecord>();
        var simple = new List<SimpleRecord>();
        long wall = _host!.Clock.WallClockMs;
        for (int i = 0; i < n; i++)
        {
            long ts = Math.Max(p.LastTimestamp + 1 + _random.NextInt(0, 3), wall);
            p.LastTimestamp = ts;
            var rec = new SentRecord(++_nextRecordId, p.Index, ts);
            records.Add(rec);
            var value = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(value, rec.Id);
            simple.Add(new SimpleRecord(Encoding.UTF8.GetBytes("adm"), value, ts));
        }
        var request = new ProduceRequest { Acks = -1, TimeoutMs = Math.Max(1, _options.RequestTimeoutMs / 2) };
        var codec = _random.NextBool(0.7) ? CompressionCodec.None : (CompressionCodec)_random.NextInt((int)CompressionCodec.Gzip, (int)CompressionCodec.Zstd + 1);
        request.TopicData.Add(new ProduceRequest.TopicProduceData { Name = t.Name });
        request.TopicData[0].PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = p.Index, Records = RecordBatchBuilder.Build(simple, codec) });
        long hwLow = p.HwLow, lsoLow = p.LsoLow;
        p.Records.AddRange(records);
        foreach (var rec in records) p.ById[rec.Id] = rec;
        p.MaybeWritten += n;
        var finish = DataOp(t);
        bool sent = Send(client, node, ApiKey.Produce, request, response => finish(() =>
        {
            var r = (response.Body as ProduceResponse)?.Responses.FirstOrDefault()?.PartitionResponses.FirstOrDefault();
            if (response.Status != ResponseStatus.Ok || r is null || r.ErrorCode != ErrorCode.None)
            {
                if (r is { ErrorCode: not ErrorCode.None } && !IsAmbiguousError(r.ErrorCode))
                    Model.Violation("model-produce", $"Produce v{response.Version} to {t.Name}-{p.Index} answered {r.ErrorCode}");
                p.OrderUncertain = true;
                // No answer: the request may still be written, however late, even into a later incarnation of the
                // topic (seed 10901): the topic is never deleted (nor so re-created) from now on.
                if (response.Status != ResponseStatus.Ok) t.LateData = true;
                return;
            }
            Model.Count("Produce");
            long b = r.BaseOffset;
            if (b < hwLow || b + n > p.MaybeWritten)
                Model.Violation("model-produce", $"Produce v{response.Version} to {t.Name}-{p.Index} acknowledged base offset {b} for {n} records; the log end was between {hwLow} and {p.MaybeWritten}");
            if (response.Version >= 5 && (r.LogStartOffset < lsoLow || r.LogStartOffset > p.LsoHigh))
                Model.Violation("model-produce", $"Produce v{response.Version} to {t.Name}-{p.Index} answered log start offset {r.LogStartOffset}; it was between {lsoLow} and {p.LsoHigh}");
            for (int i = 0; i < n; i++) Learn(t, p, records[i], b + i, "model-produce", "Produce");
            p.HwLow = Math.Max(p.HwLow, b + n);
        }));
        if (!sent)
        {
            p.MaybeWritten -= n;
            p.Records.RemoveRange(p.Records.Count - n, n);
            foreach (var rec in records) p.ById.Remove(rec.Id);
            finish(() => { });
        }
        return $"produce {t.Name}-{p.Index}";
    }

    /// <summary>A record is known to sit at <paramref name="offset"/>: it must not have been seen anywhere else,
    /// and nothing else may have been seen there.</summary>
    private void Learn(TopicModel t, PartitionModel p, SentRecord rec, long offset, string violation, string api)
    {
        if (rec.Offset is { } known && known != offset)
            Model.Violation(violation, $"{api}: record {rec.Id} of {t.Name}-{p.Index} is at offset {offset}, earlier at {known}");
        if (p.ByOffset.TryGetValue(offset, out var other) && other.Id != rec.Id)
            Model.Violation(violation, $"{api}: offset {offset} of {t.Name}-{p.Index} holds record {rec.Id}, earlier record {other.Id}");
        rec.Offset = offset;
        p.ByOffset[offset] = rec;
    }

    private string? Fetch(KafkaClient client, int node)
    {
        if (PickPartition() is not var (t, p)) return null;
        long f = _random.NextDouble() switch
        {
            < 0.6 => p.LsoHigh + (long)_random.NextBelow((ulong)Math.Max(1, p.HwLow - p.LsoHigh + 1)),
            < 0.8 => (long)_random.NextBelow((ulong)(p.MaybeWritten + 2)),
            _ => p.HwLow,
        };
        var request = new FetchRequest
        {
            MaxWaitMs = _random.NextInt(0, 100),
            MinBytes = 1,
            MaxBytes = _random.NextBool(0.5) ? 1 : 1 << 20,
            IsolationLevel = (sbyte)_random.NextInt(0, 2),
            SessionId = 0,
            SessionEpoch = -1,
        };
        request.Topics.Add(new FetchRequest.FetchTopic { Topic = t.Name });
        request.Topics[0].Partitions.Add(new FetchRequest.FetchPartition { Partition = p.Index, FetchOffset = f, PartitionMaxBytes = _random.NextBool(0.3) ? 1 : 1 << 20 });
        long hwLow = p.HwLow, lsoLow = p.LsoLow;
        var finish = DataOp(t);
        bool sent = Send(client, node, ApiKey.Fetch, request, response => finish(() =>
        {
            if (response.Status != ResponseStatus.Ok) return;
            var body = (FetchResponse)response.Body!;
            var r = body.Responses.FirstOrDefault()?.Partitions.FirstOrDefault();
            if (r is null)
            {
                Model.Violation("model-fetch", $"Fetch v{response.Version} of {t.Name}-{p.Index} answered no partition");
                return;
            }
            Model.Count("Fetch");
            CheckFetch(t, p, f, hwLow, lsoLow, r, response.Version);
        }));
        if (!sent) finish(() => { });
        return $"fetch {t.Name}-{p.Index}@{f}";
    }

    private void CheckFetch(TopicModel t, PartitionModel p, long f, long hwLow, long lsoLow, FetchResponse.PartitionData r, short version)
    {
        string where = $"Fetch v{version} of {t.Name}-{p.Index} at {f}";
        if (r.ErrorCode == ErrorCode.OffsetOutOfRange)
        {
            if (f >= p.LsoHigh && f <= hwLow)
                Model.Violation("model-fetch-out-of-range", $"{where} answered OFFSET_OUT_OF_RANGE; the log held {p.LsoHigh}..{hwLow} at least");
            return;
        }
        if (r.ErrorCode != ErrorCode.None)
        {
            if (!IsAmbiguousError(r.ErrorCode)) Model.Violation("model-fetch", $"{where} answered {r.ErrorCode}");
            return;
        }
        if (f < lsoLow || f > p.MaybeWritten)
            Model.Violation("model-fetch-out-of-range", $"{where} was served; the log was {lsoLow}.. at most and ended by {p.MaybeWritten}");
        if (r.HighWatermark < hwLow || r.HighWatermark > p.MaybeWritten)
            Model.Violation("model-fetch-high-watermark", $"{where} answered high watermark {r.HighWatermark}; it was between {hwLow} and {p.MaybeWritten}");
        if (version >= 5 && (r.LogStartOffset < lsoLow || r.LogStartOffset > p.LsoHigh))
            Model.Violation("model-fetch-log-start", $"{where} answered log start offset {r.LogStartOffset}; it was between {lsoLow} and {p.LsoHigh}");
        var decoded = new List<DecodedRecord>();
        var error = RecordBatchDecoder.Decode((r.Records ?? ReadOnlyMemory<byte>.Empty).Span, decoded, allowPartialTrailingBatch: true);
        if (error != ErrorCode.None)
        {
            Model.Violation("model-fetch", $"{where} returned undecodable records ({error})");
            return;
        }
        var byId = p.ById;
        long expect = f;
        bool first = true;
        foreach (var d in decoded)
        {
            if (d.Offset < f) continue;
            if (d.Offset >= r.HighWatermark)
            {
                Model.Violation("model-fetch", $"{where} returned offset {d.Offset} at or above its high watermark {r.HighWatermark}");
                return;
            }
            if (d.Value is not { Length: 8 } v || !byId.TryGetValue(BinaryPrimitives.ReadInt64BigEndian(v), out var sent))
            {
                Model.Violation("model-fetch-invented", $"{where} returned offset {d.Offset} holding a record the admin process never sent there");
                return;
            }
            if (sent.Timestamp != d.Timestamp)
                Model.Violation("model-fetch", $"{where} returned record {sent.Id} with timestamp {d.Timestamp}, sent with {sent.Timestamp}");
            if (!first && d.Offset != expect || first && d.Offset != f && f >= p.LsoHigh)
            {
                Model.Violation("model-fetch-gap", $"{where} returned offset {d.Offset} where {expect} was next");
                return;
            }
            first = false;
            expect = d.Offset + 1;
            Learn(t, p, sent, d.Offset, "model-fetch-offset", "Fetch");
        }
        if (first && f >= p.LsoHigh && f < hwLow)
            Model.Violation("model-fetch-missing", $"{where} returned no record though {f}..{hwLow} were acknowledged and not deleted");
    }

    private string? ListOffsets(KafkaClient client, int node)
    {
        if (PickPartition() is not var (t, p)) return null;
        double r = _random.NextDouble();
        long timestamp;
        if (r < 0.25) timestamp = ListOffsetsRequest.EarliestTimestamp;
        else if (r < 0.5) timestamp = ListOffsetsRequest.LatestTimestamp;
        else if (r < 0.6) timestamp = ListOffsetsRequest.MaxTimestamp;
        else if (p.Records.Count > 0 && r < 0.95)
            timestamp = p.Records[_random.NextInt(0, p.Records.Count)].Timestamp + _random.NextInt(-1, 2);
        else timestamp = _random.NextBool(0.5) ? 0 : long.MaxValue / 2;
        var request = new ListOffsetsRequest { IsolationLevel = (sbyte)_random.NextInt(0, 2) };
        request.Topics.Add(new ListOffsetsRequest.ListOffsetsTopic
        {
            Name = t.Name,
            Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p.Index, Timestamp = timestamp }],
        });
        long hwLow = p.HwLow, lsoLow = p.LsoLow;
        var finish = DataOp(t);
        bool sent = Send(client, node, ApiKey.ListOffsets, request, response => finish(() =>
        {
            if (response.Status != ResponseStatus.Ok) return;
            var x = ((ListOffsetsResponse)response.Body!).Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
            Model.Count("ListOffsets");
            string where = $"ListOffsets v{response.Version} of {t.Name}-{p.Index} for {timestamp switch { -1 => "latest", -2 => "earliest", -3 => "max timestamp", _ => "timestamp " + timestamp.ToString(CultureInfo.InvariantCulture) }}";
            if (x is null || x.ErrorCode != ErrorCode.None)
            {
                if (x is null || !IsAmbiguousError(x.ErrorCode)) Model.Violation("model-list-offsets", $"{where} answered {x?.ErrorCode.ToString() ?? "no partition"}");
                return;
            }
            CheckListOffsets(t, p, timestamp, x.Offset, x.Timestamp, hwLow, lsoLow, where);
        }), minVersion: timestamp == ListOffsetsRequest.MaxTimestamp ? (short)7 : null);
        if (!sent) finish(() => { });
        return $"list-offsets {t.Name}-{p.Index}";
    }

    private void CheckListOffsets(TopicModel t, PartitionModel p, long timestamp, long offset, long foundTimestamp, long hwLow, long lsoLow, string where)
    {
        switch (timestamp)
        {
            case ListOffsetsRequest.EarliestTimestamp:
                if (offset < lsoLow || offset > p.LsoHigh)
                    Model.Violation("model-list-offsets-earliest", $"{where} answered {offset}; the log start offset was between {lsoLow} and {p.LsoHigh}");
                return;
            case ListOffsetsRequest.LatestTimestamp:
                if (offset < hwLow || offset > p.MaybeWritten)
                    Model.Violation("model-list-offsets-latest", $"{where} answered {offset}; the high watermark was between {hwLow} and {p.MaybeWritten}");
                return;
        }
        var byId = p.ByOffset;
        if (offset >= 0 && byId.TryGetValue(offset, out var atOffset) && atOffset.Timestamp != foundTimestamp)
        {
            Model.Violation("model-list-offsets-timestamp", $"{where} answered offset {offset} with timestamp {foundTimestamp}; record {atOffset.Id} there has {atOffset.Timestamp}");
            return;
        }
        if (offset >= 0 && (offset < lsoLow || offset >= p.MaybeWritten))
        {
            Model.Violation("model-list-offsets-timestamp", $"{where} answered offset {offset} outside the log ({lsoLow}..{p.MaybeWritten})");
            return;
        }
        if (p.OrderUncertain) return;
        // Known records that certainly exist and are visible: acknowledged below the high watermark and not deleted.
        var present = byId.Where(kv => kv.Key >= p.LsoHigh && kv.Key < hwLow).Select(kv => kv.Value).ToList();
        if (present.Count > 0 && timestamp != ListOffsetsRequest.MaxTimestamp && offset >= 0 && present[0].Offset > offset) present.Clear();
        if (timestamp == ListOffsetsRequest.MaxTimestamp)
        {
            // Timestamps grow with offsets here, so the largest is the last record.
            var last = present.Count > 0 ? present[^1] : null;
            // Finding (reported, not fixed here): UnifiedLog.MaxTimestampOffset looks only at the segment with the
            // largest timestamp and answers nothing when that record is above the high watermark, so while a write
            // is in flight the answer is -1 although visible records exist. Accepted only in that case.
            if (last is not null && offset < 0 && p.MaybeWritten > hwLow) return;
            if (last is not null && (offset < last.Offset || foundTimestamp < last.Timestamp))
                Model.Violation("model-list-offsets-max-timestamp", $"{where} answered offset {offset} (timestamp {foundTimestamp}); record {last.Id} at {last.Offset} has timestamp {last.Timestamp}");
            return;
        }
        if (offset >= 0 && foundTimestamp < timestamp)
        {
            Model.Violation("model-list-offsets-timestamp", $"{where} answered offset {offset} with the earlier timestamp {foundTimestamp}");
            return;
        }
        // The answer is the first record at or after the timestamp: no present record before it qualifies, and
        // with no answer, none at all does.
        var skipped = present.FirstOrDefault(rec => rec.Timestamp >= timestamp && (offset < 0 || rec.Offset < offset));
        if (skipped is not null)
            Model.Violation("model-list-offsets-timestamp", $"{where} answered {offset}; record {skipped.Id} at {skipped.Offset} has timestamp {skipped.Timestamp}");
    }

    private string? DeleteRecords(KafkaClient client, int node)
    {
        if (PickPartition() is not var (t, p)) return null;
        long target = p.LsoLow + (long)_random.NextBelow((ulong)Math.Max(1, p.HwLow - p.LsoLow + 1));
        bool beyond = _random.NextBool(0.05);
        if (beyond) target = p.MaybeWritten + 1 + _random.NextInt(0, 5);
        var request = new DeleteRecordsRequest { TimeoutMs = 5_000 };
        request.Topics.Add(new DeleteRecordsRequest.DeleteRecordsTopic
        {
            Name = t.Name,
            Partitions = [new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = p.Index, Offset = target }],
        });
        long hwLow = p.HwLow, lsoLow = p.LsoLow;
        if (!beyond) p.LsoHigh = Math.Max(p.LsoHigh, target);
        var finish = DataOp(t);
        bool sent = Send(client, node, ApiKey.DeleteRecords, request, response => finish(() =>
        {
            // No answer: the request may still be processed, however late (held behind backpressure on a connection
            // the client gave up on), when the log may have grown past a target that was beyond its end when sent.
            if (response.Status != ResponseStatus.Ok)
            {
                if (beyond) p.LsoHigh = Math.Max(p.LsoHigh, target);
                t.LateData = true;
                return;
            }
            var x = ((DeleteRecordsResponse)response.Body!).Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
            Model.Count("DeleteRecords");
            string where = $"DeleteRecords v{response.Version} of {t.Name}-{p.Index} before {target}";
            if (x is null)
            {
                Model.Violation("model-delete-records", where + " answered no partition");
                return;
            }
            if (beyond)
            {
                if (x.ErrorCode != ErrorCode.OffsetOutOfRange && !IsAmbiguousError(x.ErrorCode))
                    Model.Violation("model-delete-records", $"{where} answered {x.ErrorCode}: the log ended by {p.MaybeWritten}");
                return;
            }
            if (x.ErrorCode == ErrorCode.None)
            {
                if (x.LowWatermark < Math.Max(target, lsoLow) || x.LowWatermark > p.LsoHigh)
                    Model.Violation("model-delete-records", $"{where} answered low watermark {x.LowWatermark}; expected between {Math.Max(target, lsoLow)} and {p.LsoHigh}");
                p.LsoLow = Math.Max(p.LsoLow, x.LowWatermark);
                return;
            }
            if (!IsAmbiguousError(x.ErrorCode))
                Model.Violation("model-delete-records", $"{where} answered {x.ErrorCode}; the high watermark was at least {hwLow}");
        }));
        if (!sent) finish(() => { });
        return $"delete-records {t.Name}-{p.Index}";
    }
}
