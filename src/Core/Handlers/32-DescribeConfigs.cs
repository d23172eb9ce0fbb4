using System.Globalization;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;

namespace DetKafka.Core.Handlers;

/// <summary>
/// DescribeConfigs (key 32), versions 0-4. Topic resources list every topic config with its effective value
/// and where it comes from (the topic's override, a broker default set at start-up, or Kafka's default).
/// The broker resource (named by node id) lists the broker settings, read-only: DetKafka has no dynamic
/// broker configs. Synonyms (v1+) name the single source the value came from.
/// </summary>
public sealed class DescribeConfigsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DescribeConfigs;
    public override short MinVersion => 0;
    public override short MaxVersion => 4;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var describe = DescribeConfigsRequest.Read(ref body, request.Version);
        var response = new DescribeConfigsResponse();
        foreach (var resource in describe.Resources)
        {
            var result = new DescribeConfigsResponse.DescribeConfigsResult
            {
                ResourceType = resource.ResourceType,
                ResourceName = resource.ResourceName,
            };
            response.Results.Add(result);
            IEnumerable<ConfigEntry>? entries = null;
            switch (resource.ResourceType)
            {
                case ConfigResourceType.Topic:
                    var topic = Broker.FindTopic(resource.ResourceName);
                    if (topic is null)
                    {
                        result.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                        result.ErrorMessage = $"Topic '{resource.ResourceName}' does not exist.";
                    }
                    else entries = TopicConfigEntries(Broker, topic);
                    break;
                case ConfigResourceType.Broker:
                    if (resource.ResourceName.Length > 0 && resource.ResourceName != Broker.Config.NodeId.ToString(CultureInfo.InvariantCulture))
                    {
                        result.ErrorCode = ErrorCode.InvalidRequest;
                        result.ErrorMessage = $"Unexpected broker id {resource.ResourceName}";
                    }
                    else entries = BrokerConfigEntries(Broker);
                    break;
                default:
                    result.ErrorCode = ErrorCode.InvalidRequest;
                    result.ErrorMessage = $"Resource type {resource.ResourceType} is not supported";
                    break;
            }
            if (entries is null) continue;
            foreach (var e in entries)
            {
                if (resource.ConfigurationKeys is { } keys && !keys.Contains(e.Name)) continue;
                var c = new DescribeConfigsResponse.DescribeConfigsResourceResult
                {
                    Name = e.Name,
                    Value = e.Value,
                    ReadOnly = e.ReadOnly,
                    IsDefault = e.Source == ConfigSource.DefaultConfig,
                    ConfigSource = e.Source,
                    IsSensitive = false,
                    ConfigType = e.Type,
                };
                if (describe.IncludeSynonyms)
                    foreach (var (name, value, source) in e.Synonyms ?? [(e.Name, e.Value, e.Source)])
                        c.Synonyms.Add(new DescribeConfigsResponse.DescribeConfigsSynonym { Name = name, Value = value, Source = source });
                result.Configs.Add(c);
            }
        }
        request.Respond(response);
    }

    internal readonly record struct ConfigEntry(string Name, string? Value, ConfigSource Source, ConfigType Type, bool ReadOnly,
        IReadOnlyList<(string Name, string? Value, ConfigSource Source)>? Synonyms = null);

    /// <summary>Every config of a topic, sorted by name: the same list CreateTopics v5+ returns.</summary>
    internal static IEnumerable<ConfigEntry> TopicConfigEntries(BrokerNode broker, TopicInfo topic)
    {
        var effective = broker.EffectiveConfig(topic);
        var names = new SortedSet<string>(LogConfig.Names, StringComparer.Ordinal);
        foreach (var name in topic.ConfigOverrides.Keys) names.Add(name);
        foreach (var name in broker.Config.TopicConfigDefaults.Keys) names.Add(name);
        foreach (var name in names)
        {
            var source = topic.ConfigOverrides.ContainsKey(name) ? ConfigSource.TopicConfig
                : broker.Config.TopicConfigDefaults.ContainsKey(name) ? ConfigSource.StaticBrokerConfig
                : ConfigSource.DefaultConfig;
            yield return new ConfigEntry(name, effective.ValueOf(name), source, TypeOf(name), ReadOnly: false,
                Synonyms(broker, topic, name));
        }
    }

    /// <summary>Kafka's synonym chain, highest precedence first: the topic's override (DYNAMIC_TOPIC_CONFIG),
    /// the broker's static setting under its broker name (STATIC_BROKER_CONFIG), Kafka's default under the broker
    /// name (DEFAULT_CONFIG).</summary>
    private static List<(string, string?, ConfigSource)> Synonyms(BrokerNode broker, TopicInfo topic, string name)
    {
        var list = new List<(string, string?, ConfigSource)>(3);
        if (topic.ConfigOverrides.TryGetValue(name, out var own))
            list.Add((name, broker.EffectiveConfig(topic).ValueOf(name) ?? own, ConfigSource.TopicConfig));
        string brokerName = LogConfig.BrokerSynonyms.GetValueOrDefault(name, name);
        if (broker.Config.TopicConfigDefaults.ContainsKey(name))
            list.Add((brokerName, broker.BrokerTopicDefaults.ValueOf(name), ConfigSource.StaticBrokerConfig));
        if (LogConfig.Names.Contains(name))
            list.Add((brokerName, LogConfig.Default.ValueOf(name), ConfigSource.DefaultConfig));
        return list;
    }

    private static ConfigType TypeOf(string name) => name switch
    {
        LogConfig.SegmentBytesName or LogConfig.SegmentIndexBytesName or LogConfig.IndexIntervalBytesName
            or LogConfig.MaxMessageBytesName => ConfigType.Int,
        LogConfig.SegmentMsName or LogConfig.FlushMessagesName or LogConfig.FlushMsName or LogConfig.RetentionMsName
            or LogConfig.RetentionBytesName or LogConfig.DeleteRetentionMsName or LogConfig.MinCompactionLagMsName
            or LogConfig.MaxCompactionLagMsName => ConfigType.Long,
        LogConfig.MinCleanableDirtyRatioName => ConfigType.Double,
        LogConfig.CleanupPolicyName => ConfigType.List,
        _ => ConfigType.String,
    };

    private static IEnumerable<ConfigEntry> BrokerConfigEntries(BrokerNode broker)
    {
        var c = broker.Config;
        var d = broker.BrokerTopicDefaults;
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        var entries = new List<ConfigEntry>
        {
            new("advertised.listeners", $"PLAINTEXT://{c.AdvertisedHost}:{c.AdvertisedPort}", ConfigSource.StaticBrokerConfig, ConfigType.String, true),
            new("auto.create.topics.enable", c.AutoCreateTopicsEnable ? "true" : "false", ConfigSource.StaticBrokerConfig, ConfigType.Boolean, true),
            new("log.cleaner.delete.retention.ms", I(d.DeleteRetentionMs), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.cleaner.max.compaction.lag.ms", I(d.MaxCompactionLagMs), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.cleaner.min.cleanable.ratio", d.ValueOf(LogConfig.MinCleanableDirtyRatioName), ConfigSource.StaticBrokerConfig, ConfigType.Double, true),
            new("log.cleaner.min.compaction.lag.ms", I(d.MinCompactionLagMs), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.cleanup.policy", d.CleanupPolicy, ConfigSource.StaticBrokerConfig, ConfigType.List, true),
            new("log.flush.interval.messages", I(d.FlushMessages), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.flush.interval.ms", I(d.FlushMs), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.index.interval.bytes", I(d.IndexIntervalBytes), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
            new("log.retention.bytes", I(d.RetentionBytes), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.retention.ms", I(d.RetentionMs), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.roll.ms", I(d.SegmentMs), ConfigSource.StaticBrokerConfig, ConfigType.Long, true),
            new("log.segment.bytes", I(d.SegmentBytes), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
            new("max.connections", I(c.MaxConnections), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
            new("message.max.bytes", I(d.MaxMessageBytes), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
            new("node.id", I(c.NodeId), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
            new("num.partitions", I(c.NumPartitions), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
            new("socket.request.max.bytes", I(c.SocketRequestMaxBytes), ConfigSource.StaticBrokerConfig, ConfigType.Int, true),
        };
        return entries;
    }
}
