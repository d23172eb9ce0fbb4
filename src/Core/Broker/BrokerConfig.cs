namespace DetKafka.Core.Broker;

/// <summary>
/// Broker-level settings, named after Kafka's broker configs. Values arrive already parsed: Core never reads
/// environment variables or files for its configuration; the host's CLI does.
/// </summary>
public sealed class BrokerConfig
{
    /// <summary>node.id / broker.id.</summary>
    public int NodeId { get; init; }

    /// <summary>Host and port clients are told to connect to (advertised.listeners).</summary>
    public string AdvertisedHost { get; init; } = "127.0.0.1";
    public int AdvertisedPort { get; init; } = 9092;

    /// <summary>num.partitions: partitions of an auto-created topic, and of CreateTopics with -1.</summary>
    public int NumPartitions { get; init; } = 1;

    /// <summary>auto.create.topics.enable.</summary>
    public bool AutoCreateTopicsEnable { get; init; } = true;

    /// <summary>message.max.bytes: the largest record batch accepted (broker default for max.message.bytes).</summary>
    public int MessageMaxBytes { get; init; } = 1_048_588;

    /// <summary>socket.request.max.bytes: the largest frame accepted; larger closes the connection.</summary>
    public int SocketRequestMaxBytes { get; init; } = Protocol.Frame.RequestBytesMaxDefault;

    /// <summary>max.connections.</summary>
    public int MaxConnections { get; init; } = 1000;

    /// <summary>Requests a connection may have waiting for a response before Core stops reading it.</summary>
    public int MaxInFlightRequestsPerConnection { get; init; } = 256;

    /// <summary>Broker defaults for topic configs (log.segment.bytes etc.), as Kafka topic-config key/values.</summary>
    public IReadOnlyDictionary<string, string> TopicConfigDefaults { get; init; } = new Dictionary<string, string>();

    /// <summary>log.retention.check.interval.ms: how often retention (and segment.ms rolling) runs.</summary>
    public long LogRetentionCheckIntervalMs { get; init; } = 300_000;

    /// <summary>log.cleaner.*: the log cleaner (compaction).</summary>
    public Storage.LogCleanerConfig LogCleaner { get; init; } = Storage.LogCleanerConfig.Default;

    /// <summary>The directory (relative to the disk's root) that holds everything: "" = the disk root.</summary>
    public string DataDirectory { get; init; } = "";
}
