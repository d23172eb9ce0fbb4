using System.CommandLine;
using System.Globalization;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Host.Tools;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka topic create|list|describe|delete|alter-config|add-partitions</c>: topic administration over
/// the Kafka protocol (CreateTopics, Metadata, DescribeConfigs, ListOffsets, DeleteTopics, IncrementalAlterConfigs,
/// CreatePartitions), against any Kafka-compatible broker.</summary>
public static class TopicCommand
{
    public static Command Create()
    {
        var topic = new Command("topic", "Create, list, describe, delete and configure topics.");
        topic.Subcommands.Add(CreateCommand());
        topic.Subcommands.Add(ListCommand());
        topic.Subcommands.Add(DescribeCommand());
        topic.Subcommands.Add(DeleteCommand());
        topic.Subcommands.Add(AlterConfigCommand());
        topic.Subcommands.Add(AddPartitionsCommand());
        return topic;
    }

    private static Argument<string[]> Topics(string description) => new("topics")
    {
        Description = description,
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>Parses key=value pairs; the flag is named in the error.</summary>
    internal static List<KeyValuePair<string, string>> KeyValues(string flag, IEnumerable<string>? values)
    {
        var result = new List<KeyValuePair<string, string>>();
        foreach (var v in values ?? [])
        {
            int eq = v.IndexOf('=');
            if (eq <= 0) throw new CliException($"{flag}: '{v}' is not key=value");
            result.Add(new(v[..eq].Trim(), v[(eq + 1)..]));
        }
        return result;
    }

    // ---- create ------------------------------------------------------------------------------------------

    private static Command CreateCommand()
    {
        var command = new Command("create", "Create topics.");
        var topics = Topics("Topics to create");
        var partitions = new Option<int>("--partitions", "-p")
        {
            Description = "Partitions per topic (-1: the broker's num.partitions)",
            HelpName = "n",
            DefaultValueFactory = _ => -1,
        };
        var replicas = new Option<short>("--replication-factor", "-r")
        {
            Description = "Replicas per partition (-1: the broker's default)",
            HelpName = "n",
            DefaultValueFactory = _ => -1,
        };
        var configs = new Option<string[]>("--config", "-c")
        {
            Description = "Topic config key=value (repeatable), e.g. -c retention.ms=60000",
            HelpName = "key=value",
            AllowMultipleArgumentsPerToken = false,
        };
        command.Arguments.Add(topics);
        command.Options.Add(partitions);
        command.Options.Add(replicas);
        command.Options.Add(configs);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            var pairs = KeyValues("--config", p.GetValue(configs));
            using var session = flags.Open(p);
            var request = new CreateTopicsRequest { TimeoutMs = session.TimeoutMs };
            foreach (var name in p.GetValue(topics)!)
            {
                request.Topics.Add(new CreateTopicsRequest.CreatableTopic
                {
                    Name = name,
                    NumPartitions = p.GetValue(partitions),
                    ReplicationFactor = p.GetValue(replicas),
                    Configs = pairs.Select(kv => new CreateTopicsRequest.CreatableTopicConfig { Name = kv.Key, Value = kv.Value }).ToList(),
                });
            }
            var response = session.Call<CreateTopicsResponse>(ApiKey.CreateTopics, request);
            if (output.IsJson)
                output.WriteJson(response.Topics.Select(t => new
                {
                    topic = t.Name,
                    partitions = t.NumPartitions,
                    error = t.ErrorCode == ErrorCode.None ? null : CliSession.ErrorName(t.ErrorCode),
                    message = t.ErrorMessage,
                }));
            else
                output.WriteTable(null, ["TOPIC", "PARTITIONS", "STATUS"], response.Topics.Select(t => new[]
                {
                    t.Name, t.ErrorCode == ErrorCode.None ? t.NumPartitions.ToString(CultureInfo.InvariantCulture) : "",
                    t.ErrorCode == ErrorCode.None ? "OK" : CliSession.Describe(t.ErrorCode, t.ErrorMessage),
                }));
            return FailIfAny(output, response.Topics.Select(t => (t.Name, t.ErrorCode, t.ErrorMessage)));
        }));
        return command;
    }

    /// <summary>Exit code 1 with one line per failed item (on the error writer) when any failed.</summary>
    internal static int FailIfAny(CliOutput output, IEnumerable<(string Name, ErrorCode Error, string? Message)> results)
    {
        int failed = 0;
        foreach (var (name, error, message) in results)
        {
            if (error == ErrorCode.None) continue;
            failed++;
            output.Error.WriteLine($"detkafka: topic '{name}': {CliSession.Describe(error, message)}");
        }
        return failed == 0 ? 0 : 1;
    }

    // ---- list --------------------------------------------------------------------------------------------

    private static Command ListCommand()
    {
        var command = new Command("list", "List topics with their partition and replica counts.");
        command.Aliases.Add("ls");
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            using var session = flags.Open(p);
            var metadata = session.Metadata(null);
            var topics = metadata.Topics.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => new
            {
                name = t.Name ?? "",
                partitions = t.Partitions.Count,
                replicas = t.Partitions.Count == 0 ? 0 : t.Partitions.Max(x => x.ReplicaNodes.Count),
                @internal = t.IsInternal,
            }).ToList();
            if (output.IsJson) output.WriteJson(topics);
            else
                output.WriteTable(null, ["NAME", "PARTITIONS", "REPLICAS"], topics.Select(t => new[]
                {
                    t.name, t.partitions.ToString(CultureInfo.InvariantCulture), t.replicas.ToString(CultureInfo.InvariantCulture),
                }));
            return 0;
        }));
        return command;
    }

    // ---- describe ----------------------------------------------------------------------------------------

    private static Command DescribeCommand()
    {
        var command = new Command("describe", "Show a topic: summary, configs (with their source) and partitions (leader, replicas, offsets).");
        var topics = Topics("Topics to describe");
        command.Arguments.Add(topics);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            using var session = flags.Open(p);
            var names = p.GetValue(topics)!;
            var metadata = session.Metadata(names);
            foreach (var t in metadata.Topics)
                if (t.ErrorCode != ErrorCode.None)
                    throw new CliException($"topic '{t.Name}': {CliSession.ErrorName(t.ErrorCode)}"
                        + (t.ErrorCode == ErrorCode.UnknownTopicOrPartition ? " (it does not exist)" : ""));

            var configs = session.Call<DescribeConfigsResponse>(ApiKey.DescribeConfigs, new DescribeConfigsRequest
            {
                Resources = names.Select(n => new DescribeConfigsRequest.DescribeConfigsResource
                {
                    ResourceType = ConfigResourceType.Topic,
                    ResourceName = n,
                    ConfigurationKeys = null,
                }).ToList(),
            });
            var start = ListOffsets(session, metadata, ListOffsetsRequest.EarliestTimestamp);
            var end = ListOffsets(session, metadata, ListOffsetsRequest.LatestTimestamp);

            var described = new List<object>();
            foreach (var name in names)
            {
                var t = metadata.Topics.First(x => x.Name == name);
                var c = configs.Results.FirstOrDefault(r => r.ResourceName == name);
                if (c is not null && c.ErrorCode != ErrorCode.None)
                    throw new CliException($"topic '{name}': configs: {CliSession.Describe(c.ErrorCode, c.ErrorMessage)}");
                var configRows = (c?.Configs ?? []).OrderBy(x => x.Name, StringComparer.Ordinal).Select(x => new
                {
                    name = x.Name,
                    value = x.Value,
                    source = SourceName(x.ConfigSource, x.IsDefault),
                }).ToList();
                var partitions = t.Partitions.OrderBy(x => x.PartitionIndex).Select(x => new
                {
                    partition = x.PartitionIndex,
                    leader = x.LeaderId,
                    epoch = x.LeaderEpoch,
                    replicas = x.ReplicaNodes.ToArray(),
                    isr = x.IsrNodes.ToArray(),
                    log_start_offset = start.GetValueOrDefault((name, x.PartitionIndex), -1),
                    high_watermark = end.GetValueOrDefault((name, x.PartitionIndex), -1),
                }).ToList();
                if (output.IsJson)
                {
                    described.Add(new
                    {
                        name,
                        @internal = t.IsInternal,
                        partitions = partitions.Count,
                        replicas = partitions.Count == 0 ? 0 : partitions.Max(x => x.replicas.Length),
                        cluster_id = metadata.ClusterId,
                        configs = configRows,
                        partition_details = partitions,
                    });
                    continue;
                }
                output.WriteTable("SUMMARY", ["NAME", "PARTITIONS", "REPLICAS", "INTERNAL", "CLUSTER"],
                [
                    [name, partitions.Count.ToString(CultureInfo.InvariantCulture),
                        (partitions.Count == 0 ? 0 : partitions.Max(x => x.replicas.Length)).ToString(CultureInfo.InvariantCulture),
                        t.IsInternal ? "true" : "false", metadata.ClusterId ?? ""],
                ]);
                output.WriteTable("CONFIGS", ["KEY", "VALUE", "SOURCE"],
                    configRows.Select(x => new[] { x.name, x.value ?? "", x.source }));
                output.WriteTable("PARTITIONS", ["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK"],
                    partitions.Select(x => new[]
                    {
                        x.partition.ToString(CultureInfo.InvariantCulture), x.leader.ToString(CultureInfo.InvariantCulture),
                        x.epoch.ToString(CultureInfo.InvariantCulture), "[" + string.Join(",", x.replicas) + "]",
                        "[" + string.Join(",", x.isr) + "]", x.log_start_offset.ToString(CultureInfo.InvariantCulture),
                        x.high_watermark.ToString(CultureInfo.InvariantCulture),
                    }));
            }
            if (output.IsJson) output.WriteJson(described.Count == 1 ? described[0] : described);
            return 0;
        }));
        return command;
    }

    private static string SourceName(ConfigSource source, bool isDefault) => source switch
    {
        ConfigSource.TopicConfig => "topic",
        ConfigSource.StaticBrokerConfig => "broker",
        ConfigSource.DynamicBrokerConfig or ConfigSource.DynamicDefaultBrokerConfig => "dynamic-broker",
        ConfigSource.DefaultConfig => "default",
        (ConfigSource)(-1) => isDefault ? "default" : "topic",
        _ => source.ToString(),
    };

    /// <summary>ListOffsets for every partition of the described topics at one timestamp.</summary>
    internal static Dictionary<(string, int), long> ListOffsets(CliSession session, MetadataResponse metadata, long timestamp)
    {
        var request = new ListOffsetsRequest();
        foreach (var t in metadata.Topics.Where(t => t.ErrorCode == ErrorCode.None))
            request.Topics.Add(new ListOffsetsRequest.ListOffsetsTopic
            {
                Name = t.Name ?? "",
                Partitions = t.Partitions.Select(x => new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = x.PartitionIndex, Timestamp = timestamp }).ToList(),
            });
        var result = new Dictionary<(string, int), long>();
        if (request.Topics.Count == 0) return result;
        var response = session.Call<ListOffsetsResponse>(ApiKey.ListOffsets, request);
        foreach (var t in response.Topics)
            foreach (var x in t.Partitions)
                result[(t.Name, x.PartitionIndex)] = x.ErrorCode == ErrorCode.None ? x.Offset : -1;
        return result;
    }

    // ---- delete ------------------------------------------------------------------------------------------

    private static Command DeleteCommand()
    {
        var command = new Command("delete", "Delete topics and all their records.");
        command.Aliases.Add("rm");
        var topics = Topics("Topics to delete");
        command.Arguments.Add(topics);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            using var session = flags.Open(p);
            var names = p.GetValue(topics)!;
            var response = session.Call<DeleteTopicsResponse>(ApiKey.DeleteTopics, new DeleteTopicsRequest
            {
                TimeoutMs = session.TimeoutMs,
                TopicNames = names.ToList(),
                Topics = names.Select(n => new DeleteTopicsRequest.DeleteTopicState { Name = n }).ToList(),
            });
            var results = response.Responses.Select(r => (Name: r.Name ?? "", r.ErrorCode, r.ErrorMessage)).ToList();
            if (output.IsJson)
                output.WriteJson(results.Select(r => new { topic = r.Name, error = r.ErrorCode == ErrorCode.None ? null : CliSession.ErrorName(r.ErrorCode) }));
            else
                output.WriteTable(null, ["TOPIC", "STATUS"], results.Select(r => new[] { r.Name, r.ErrorCode == ErrorCode.None ? "OK" : CliSession.Describe(r.ErrorCode, r.ErrorMessage) }));
            return FailIfAny(output, results);
        }));
        return command;
    }

    // ---- alter-config ------------------------------------------------------------------------------------

    private static Command AlterConfigCommand()
    {
        var command = new Command("alter-config", "Set or delete topic config overrides (IncrementalAlterConfigs).");
        var topics = Topics("Topics to change");
        var set = new Option<string[]>("--set", "-s") { Description = "key=value to set (repeatable)", HelpName = "key=value" };
        var delete = new Option<string[]>("--delete", "-d") { Description = "Override to remove, back to the default (repeatable)", HelpName = "key" };
        command.Arguments.Add(topics);
        command.Options.Add(set);
        command.Options.Add(delete);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            var sets = KeyValues("--set", p.GetValue(set));
            var deletes = p.GetValue(delete) ?? [];
            if (sets.Count == 0 && deletes.Length == 0) throw new CliException("alter-config: give --set key=value or --delete key");
            using var session = flags.Open(p);
            var names = p.GetValue(topics)!;
            var request = new IncrementalAlterConfigsRequest();
            foreach (var name in names)
            {
                var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = ConfigResourceType.Topic, ResourceName = name };
                foreach (var (k, v) in sets)
                    resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = k, Value = v, ConfigOperation = AlterConfigOpType.Set });
                foreach (var k in deletes)
                    resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = k, ConfigOperation = AlterConfigOpType.Delete });
                request.Resources.Add(resource);
            }
            var response = session.Call<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, request);
            var results = response.Responses.Select(r => (Name: r.ResourceName, r.ErrorCode, r.ErrorMessage)).ToList();
            if (output.IsJson)
                output.WriteJson(results.Select(r => new { topic = r.Name, error = r.ErrorCode == ErrorCode.None ? null : CliSession.ErrorName(r.ErrorCode), message = r.ErrorMessage }));
            else
                output.WriteTable(null, ["TOPIC", "STATUS"], results.Select(r => new[] { r.Name, r.ErrorCode == ErrorCode.None ? "OK" : CliSession.Describe(r.ErrorCode, r.ErrorMessage) }));
            return FailIfAny(output, results);
        }));
        return command;
    }

    // ---- add-partitions ----------------------------------------------------------------------------------

    private static Command AddPartitionsCommand()
    {
        var command = new Command("add-partitions", "Add partitions to topics (existing records stay where they are).");
        var topics = Topics("Topics to grow");
        var num = new Option<int>("--num", "-n") { Description = "Partitions to add to each topic", HelpName = "n", Required = true };
        command.Arguments.Add(topics);
        command.Options.Add(num);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            int add = p.GetValue(num);
            if (add <= 0) throw new CliException("--num: must be positive");
            using var session = flags.Open(p);
            var names = p.GetValue(topics)!;
            var metadata = session.Metadata(names);
            var request = new CreatePartitionsRequest { TimeoutMs = session.TimeoutMs };
            foreach (var t in metadata.Topics)
            {
                if (t.ErrorCode != ErrorCode.None) throw new CliException($"topic '{t.Name}': {CliSession.ErrorName(t.ErrorCode)}");
                request.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic { Name = t.Name ?? "", Count = t.Partitions.Count + add });
            }
            var response = session.Call<CreatePartitionsResponse>(ApiKey.CreatePartitions, request);
            var results = response.Results.Select(r => (r.Name, r.ErrorCode, r.ErrorMessage)).ToList();
            var counts = request.Topics.ToDictionary(t => t.Name, t => t.Count);
            if (output.IsJson)
                output.WriteJson(results.Select(r => new { topic = r.Name, partitions = counts.GetValueOrDefault(r.Name), error = r.ErrorCode == ErrorCode.None ? null : CliSession.ErrorName(r.ErrorCode) }));
            else
                output.WriteTable(null, ["TOPIC", "PARTITIONS", "STATUS"], results.Select(r => new[]
                {
                    r.Name, counts.GetValueOrDefault(r.Name).ToString(CultureInfo.InvariantCulture),
                    r.ErrorCode == ErrorCode.None ? "OK" : CliSession.Describe(r.ErrorCode, r.ErrorMessage),
                }));
            return FailIfAny(output, results);
        }));
        return command;
    }
}
