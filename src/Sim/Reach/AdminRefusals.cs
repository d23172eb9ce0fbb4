using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Requests no client of the simulation sends on its own (SIMULATION.md, "Raw requests and malformed input"), each
/// with the one answer Kafka gives it (model-refusal when another comes): a topic named twice in one CreateTopics;
/// replica assignments together with a partition count, or naming a broker that does not exist; broker configs
/// altered; APPEND to a config that is not a list, an unknown operation, and validate-only APPEND/SUBTRACT of
/// cleanup.policy; DescribeCluster asked for controllers or an unknown endpoint type; a Produce to an internal topic;
/// Metadata by topic id (v12); FindCoordinator at v0-3, the single-key versions the client never needs. None of them
/// changes the broker's state, so the rest of the model is unaffected.
/// </summary>
public sealed partial class AdminWorkload
{
    private string? Refusal(RawConnections raw, int node) => _random.NextInt(0, 8) switch
    {
        0 => DuplicateCreate(raw, node),
        1 => BadAssignments(raw, node),
        2 => BrokerConfigs(raw, node),
        3 => ListConfigOperations(raw, node),
        4 => EndpointType(raw, node),
        5 => InternalProduce(raw, node),
        6 => MetadataByTopicId(raw, node),
        _ => SingleKeyFindCoordinator(raw, node),
    };

    /// <summary>Judges one refusal: <paramref name="actual"/> must be one of <paramref name="allowed"/> (or an error
    /// any request may get under faults), counted as refusal.<paramref name="kind"/>. Returns true when it was one of the allowed answers.</summary>
    private bool AnsweredAs(string kind, string what, ErrorCode actual, params ErrorCode[] allowed)
    {
        if (allowed.Contains(actual))
        {
            Model.Count("refusal." + kind);
            return true;
        }
        if (!IsAmbiguousError(actual))
            Model.Violation("model-refusal", $"{what} answered {actual}; Kafka answers {string.Join(" or ", allowed)}");
        return false;
    }

    private string? DuplicateCreate(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.CreateTopics) is not { } v || raw.Open() is not { } id) return null;
        string name = RawName("adm-dup-");
        var request = new CreateTopicsRequest
        {
            TimeoutMs = 5_000,
            Topics =
            {
                new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = 1, ReplicationFactor = 1 },
                new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = 2, ReplicationFactor = 1 },
            },
        };
        raw.Request(id, ApiKey.CreateTopics, v, request, o =>
        {
            raw.Close(id);
            if (Judge(o, $"CreateTopics v{v}") is not CreateTopicsResponse r) return;
            if (r.Topics.Count != 2) Model.Violation("model-refusal", $"CreateTopics v{v} naming {name} twice answered {r.Topics.Count} results");
            foreach (var t in r.Topics) AnsweredAs("duplicate-name", $"CreateTopics v{v} naming {name} twice", t.ErrorCode, ErrorCode.InvalidRequest);
        });
        return $"raw create-topics v{v} {name} twice";
    }

    private string? BadAssignments(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.CreateTopics) is not { } v || raw.Open() is not { } id) return null;
        string both = RawName("adm-asg-"), elsewhere = RawName("adm-asg-");
        int stranger = node + 100;
        var request = new CreateTopicsRequest
        {
            TimeoutMs = 5_000,
            Topics =
            {
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = both, NumPartitions = 1, ReplicationFactor = -1,
                    Assignments = { new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = 0, BrokerIds = { node } } },
                },
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = elsewhere, NumPartitions = -1, ReplicationFactor = -1,
                    Assignments = { new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = 0, BrokerIds = { stranger } } },
                },
            },
        };
        raw.Request(id, ApiKey.CreateTopics, v, request, o =>
        {
            raw.Close(id);
            if (Judge(o, $"CreateTopics v{v}") is not CreateTopicsResponse r) return;
            var byName = r.Topics.ToDictionary(t => t.Name, t => t.ErrorCode, StringComparer.Ordinal);
            AnsweredAs("assignments-and-count", $"CreateTopics v{v} of {both} with assignments and a partition count",
                byName.GetValueOrDefault(both, ErrorCode.UnknownServerError), ErrorCode.InvalidRequest);
            AnsweredAs("assignment-elsewhere", $"CreateTopics v{v} of {elsewhere} assigned to broker {stranger}",
                byName.GetValueOrDefault(elsewhere, ErrorCode.UnknownServerError), ErrorCode.InvalidReplicaAssignment);
        });
        return $"raw create-topics v{v} bad assignments";
    }

    private string? BrokerConfigs(RawConnections raw, int node)
    {
        string broker = node.ToString(CultureInfo.InvariantCulture);
        if (_random.NextBool(0.5))
        {
            if (DrawVersion(node, ApiKey.AlterConfigs) is not { } v || raw.Open() is not { } id) return null;
            var request = new AlterConfigsRequest();
            request.Resources.Add(new AlterConfigsRequest.AlterConfigsResource
            {
                ResourceType = ConfigResourceType.Broker, ResourceName = broker,
                Configs = { new AlterConfigsRequest.AlterableConfig { Name = "log.retention.ms", Value = "1" } },
            });
            raw.Request(id, ApiKey.AlterConfigs, v, request, o =>
            {
                raw.Close(id);
                if (Judge(o, $"AlterConfigs v{v}") is not AlterConfigsResponse r) return;
                AnsweredAs("broker-configs", $"AlterConfigs v{v} of broker {broker}", r.Responses.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError, ErrorCode.InvalidRequest);
            });
            return $"raw alter-configs v{v} broker {broker}";
        }
        if (DrawVersion(node, ApiKey.IncrementalAlterConfigs) is not { } iv || raw.Open() is not { } iid) return null;
        var incremental = new IncrementalAlterConfigsRequest();
        incremental.Resources.Add(new IncrementalAlterConfigsRequest.AlterConfigsResource
        {
            ResourceType = ConfigResourceType.Broker, ResourceName = broker,
            Configs = { new IncrementalAlterConfigsRequest.AlterableConfig { Name = "log.retention.ms", ConfigOperation = AlterConfigOpType.Set, Value = "1" } },
        });
        raw.Request(iid, ApiKey.IncrementalAlterConfigs, iv, incremental, o =>
        {
            raw.Close(iid);
            if (Judge(o, $"IncrementalAlterConfigs v{iv}") is not IncrementalAlterConfigsResponse r) return;
            AnsweredAs("broker-configs", $"IncrementalAlterConfigs v{iv} of broker {broker}", r.Responses.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError, ErrorCode.InvalidRequest);
        });
        return $"raw incremental-alter-configs v{iv} broker {broker}";
    }

    /// <summary>The operations only a list config takes, on the queue topic: APPEND to a scalar (INVALID_CONFIG), an
    /// operation code that does not exist (INVALID_REQUEST), or validate-only APPEND/SUBTRACT of cleanup.policy (NONE,
    /// and nothing changes).</summary>
    private string? ListConfigOperations(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.IncrementalAlterConfigs) is not { } v || raw.Open() is not { } id) return null;
        string topic = _world.Options.Workload.Topic;
        int kind = _random.NextInt(0, 3);
        var (name, op, value, expected, validateOnly, what) = kind switch
        {
            0 => ("retention.ms", AlterConfigOpType.Append, "1", ErrorCode.InvalidConfig, false, "APPEND to retention.ms"),
            1 => ("retention.ms", (AlterConfigOpType)9, "1", ErrorCode.InvalidRequest, false, "operation 9"),
            _ => ("cleanup.policy", _random.NextBool(0.5) ? AlterConfigOpType.Append : AlterConfigOpType.Subtract, "compact", ErrorCode.None, true,
                "validate-only APPEND/SUBTRACT of cleanup.policy"),
        };
        var request = new IncrementalAlterConfigsRequest { ValidateOnly = validateOnly };
        request.Resources.Add(new IncrementalAlterConfigsRequest.AlterConfigsResource
        {
            ResourceType = ConfigResourceType.Topic, ResourceName = topic,
            Configs = { new IncrementalAlterConfigsRequest.AlterableConfig { Name = name, ConfigOperation = op, Value = value } },
        });
        raw.Request(id, ApiKey.IncrementalAlterConfigs, v, request, o =>
        {
            raw.Close(id);
            if (Judge(o, $"IncrementalAlterConfigs v{v}") is not IncrementalAlterConfigsResponse r) return;
            AnsweredAs(kind == 2 ? "list-operation" : "scalar-operation", $"IncrementalAlterConfigs v{v} {what} of {topic}", r.Responses.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError, expected);
        });
        return $"raw incremental-alter-configs v{v} {what}";
    }

    private string? EndpointType(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.DescribeCluster) is not { } drawn || raw.Open() is not { } id) return null;
        short v = Math.Max(drawn, (short)1); // v0 cannot name an endpoint type
        sbyte type = _random.NextBool(0.5) ? (sbyte)2 : (sbyte)_random.NextInt(3, 100);
        var expected = type == 2 ? ErrorCode.MismatchedEndpointType : ErrorCode.UnsupportedEndpointType;
        raw.Request(id, ApiKey.DescribeCluster, v, new DescribeClusterRequest { EndpointType = type }, o =>
        {
            raw.Close(id);
            if (Judge(o, $"DescribeCluster v{v}") is not DescribeClusterResponse r) return;
            if (AnsweredAs("endpoint-type", $"DescribeCluster v{v} of endpoint type {type}", r.ErrorCode, expected) && r.Brokers.Count != 0)
                Model.Violation("model-refusal", $"DescribeCluster v{v} refused endpoint type {type} yet listed {r.Brokers.Count} brokers");
        });
        return $"raw describe-cluster v{v} endpoint type {type}";
    }

    /// <summary>Only the coordinators write their internal topics: a client's Produce to __consumer_offsets is
    /// INVALID_TOPIC_EXCEPTION (UNKNOWN_TOPIC_OR_PARTITION before any group made the topic).</summary>
    private string? InternalProduce(RawConnections raw, int node)
    {
        if (DrawVersion(node, ApiKey.Produce) is not { } drawn || raw.Open() is not { } id) return null;
        short v = Math.Max(drawn, (short)3); // record batch v2
        var batch = RecordBatchBuilder.Build([new SimpleRecord(Encoding.UTF8.GetBytes("k"), Encoding.UTF8.GetBytes("not a group record"), _host!.Clock.WallClockMs)]);
        var produce = new ProduceRequest { Acks = 1, TimeoutMs = 5_000 };
        produce.TopicData.Add(new ProduceRequest.TopicProduceData { Name = Core.Groups.GroupRecords.OffsetsTopic });
        produce.TopicData[0].PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = batch });
        raw.Request(id, ApiKey.Produce, v, produce, o =>
        {
            raw.Close(id);
            if (Judge(o, $"Produce v{v}") is not ProduceResponse r) return;
            AnsweredAs("internal-produce", $"Produce v{v} to {Core.Groups.GroupRecords.OffsetsTopic}",
                r.Responses.FirstOrDefault()?.PartitionResponses.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError,
                ErrorCode.InvalidTopicException, ErrorCode.UnknownTopicOrPartition);
        });
        return $"raw produce v{v} to an internal topic";
    }

    /// <summary>Metadata v12 by the queue topic's id (learnt from a Metadata by name) names the same topic with the same
    /// partitions (model-metadata); an id no topic has is UNKNOWN_TOPIC_ID.</summary>
    private string? MetadataByTopicId(RawConnections raw, int node)
    {
        if (_host?.Client?.BrokerApiVersions(node) is not { } served || !served.TryGetValue(ApiKey.Metadata, out var range) || range.Max < 12
            || raw.Open() is not { } id) return null;
        const short v = 12;
        string topic = _world.Options.Workload.Topic;
        int partitions = _world.Options.Workload.Partitions;
        var byName = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }], AllowAutoTopicCreation = false };
        raw.Request(id, ApiKey.Metadata, v, byName, o =>
        {
            if (Judge(o, $"Metadata v{v}") is not MetadataResponse r || r.Topics.FirstOrDefault() is not { ErrorCode: ErrorCode.None } named)
            {
                raw.Close(id);
                return;
            }
            bool unknown = _random.NextBool(0.25);
            Guid asked = unknown ? new Guid(_random.NextInt(1, int.MaxValue), 7, 7, 7, 7, 7, 7, 7, 7, 7, 7) : named.TopicId;
            var byId = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = null, TopicId = asked }], AllowAutoTopicCreation = false };
            raw.Request(id, ApiKey.Metadata, v, byId, o2 =>
            {
                raw.Close(id);
                if (Judge(o2, $"Metadata v{v}") is not MetadataResponse r2) return;
                var t = r2.Topics.FirstOrDefault();
                string what = $"Metadata v{v} by the id {asked} of {(unknown ? "no topic" : topic)}";
                if (unknown)
                {
                    AnsweredAs("unknown-topic-id", what, t?.ErrorCode ?? ErrorCode.UnknownServerError, ErrorCode.UnknownTopicId);
                    return;
                }
                if (t is null || IsAmbiguousError(t.ErrorCode)) return;
                Model.Count("refusal.metadata-by-id");
                if (t.ErrorCode != ErrorCode.None || t.Name != topic || t.TopicId != asked || t.Partitions.Count != partitions)
                    Model.Violation("model-metadata", $"{what} answered {t.ErrorCode} {t.Name} {t.TopicId} with {t.Partitions.Count} partitions; it has {partitions}");
            });
        });
        return $"raw metadata v{v} by topic id";
    }

    /// <summary>FindCoordinator at the single-key versions (v0-3): this node for a group or a transactional id.</summary>
    private string? SingleKeyFindCoordinator(RawConnections raw, int node)
    {
        if (_host?.Client?.BrokerApiVersions(node) is not { } served || !served.TryGetValue(ApiKey.FindCoordinator, out var range)
            || range.Min > 3 || raw.Open() is not { } id) return null;
        short v = (short)_random.NextInt(range.Min, Math.Min((int)range.Max, 3) + 1);
        sbyte keyType = v >= 1 && _random.NextBool(0.5) ? FindCoordinatorRequest.KeyTypeTransaction : FindCoordinatorRequest.KeyTypeGroup;
        string key = RawName("adm-coord-");
        raw.Request(id, ApiKey.FindCoordinator, v, new FindCoordinatorRequest { Key = key, KeyType = keyType }, o =>
        {
            raw.Close(id);
            if (Judge(o, $"FindCoordinator v{v}") is not FindCoordinatorResponse r || IsCoordinatorError(r.ErrorCode)) return;
            if (AnsweredAs("single-key-coordinator", $"FindCoordinator v{v} of {key} (key type {keyType})", r.ErrorCode, ErrorCode.None) && r.NodeId != node)
                Model.Violation("model-refusal", $"FindCoordinator v{v} of {key} named node {r.NodeId}; the coordinator is node {node}");
        });
        return $"raw find-coordinator v{v} key type {keyType}";
    }
}
