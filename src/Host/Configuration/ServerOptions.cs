using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;

namespace DetKafka.Host.Configuration;

/// <summary>A configuration value that cannot be used. The CLI prints the message and exits with code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>The <c>serve</c> flags as typed: null when the flag was not given. Values are validated later, with
/// the environment and the file, so every source gets the same checks and messages.</summary>
public sealed record ServeArguments
{
    public string? Listeners { get; init; }
    public string? AdvertisedListeners { get; init; }
    public string? NodeId { get; init; }
    public string? ControllerQuorum { get; init; }
    public string? DataDir { get; init; }
    public string? NumPartitions { get; init; }
    public string? AutoCreateTopics { get; init; }
    public string? LogSegmentBytes { get; init; }
    public string? MessageMaxBytes { get; init; }
    public string? LogFile { get; init; }
    public string? LogLevel { get; init; }
    public string? LogFormat { get; init; }
    public string? MetricsListener { get; init; }
    public string? ConfigFile { get; init; }
}

/// <summary>One line of <c>serve --print-config</c>: a setting's effective value and where it came from.</summary>
public sealed record EffectiveSetting(string Key, string Value, string Source);

/// <summary>Everything the host needs to run one broker, resolved from flags, environment, file and defaults.</summary>
public sealed record ServerSettings
{
    /// <summary>The socket to bind. Port 0 binds an ephemeral port.</summary>
    public required ListenerAddress Listener { get; init; }

    /// <summary>What Metadata tells clients. Port 0 means "the port actually bound".</summary>
    public required ListenerAddress Advertised { get; init; }

    /// <summary>The data directory as configured (relative to the working directory or absolute).</summary>
    public required string DataDirectory { get; init; }

    public string? LogFile { get; init; }
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>text (human-readable lines) or json (Serilog compact JSON, one event per line).</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary>Where the Prometheus endpoint listens (http://host:port/metrics); null when turned off.</summary>
    public ListenerAddress? MetricsListener { get; init; }

    /// <summary>io.model (DetKafka's own): "threads" (the default), a reader and a writer task per connection handing
    /// bytes to the driver; "loop", sockets polled on the driver thread (Linux; elsewhere it falls back to threads);
    /// "loop-write-behind", the same loop with file writes copied and done by the sync threads. PERFORMANCE.md ("The
    /// host's I/O path") has why threads stays the default for now.</summary>
    public string IoModel { get; init; } = "threads";

    /// <summary>Every setting's effective value and its source (flag, environment, file, default), for --print-config.</summary>
    public IReadOnlyList<EffectiveSetting> Effective { get; init; } = [];

    public int NodeId { get; init; } = 1;

    /// <summary>controller.quorum.voters: empty for a single node (BrokerConfig.ControllerQuorumVoters).</summary>
    public IReadOnlyList<QuorumVoter> ControllerQuorumVoters { get; init; } = [];
    public int NumPartitions { get; init; } = 1;
    public bool AutoCreateTopicsEnable { get; init; } = true;
    public int MessageMaxBytes { get; init; } = 1_048_588;
    public int SocketRequestMaxBytes { get; init; } = Core.Protocol.Frame.RequestBytesMaxDefault;
    public int MaxConnections { get; init; } = 1000;

    /// <summary>Group coordinator settings (Kafka's names; BrokerConfig has their meaning and defaults).</summary>
    public int OffsetsTopicNumPartitions { get; init; } = 50;
    public int OffsetsTopicReplicationFactor { get; init; } = 3;
    public long OffsetsRetentionMinutes { get; init; } = 10_080;
    public long OffsetsRetentionCheckIntervalMs { get; init; } = 600_000;
    public int GroupInitialRebalanceDelayMs { get; init; } = 3_000;
    public int GroupMinSessionTimeoutMs { get; init; } = 6_000;
    public int GroupMaxSessionTimeoutMs { get; init; } = 1_800_000;

    /// <summary>group.consumer.*: KIP-848 consumer groups (Core.Groups.ConsumerGroupConfig has the meaning).</summary>
    public Core.Groups.ConsumerGroupConfig ConsumerGroup { get; init; } = new();
    /// <summary>Transaction coordinator settings (Kafka's names; BrokerConfig has their meaning and defaults).</summary>
    public int TransactionStateLogNumPartitions { get; init; } = 50;
    public int TransactionStateLogReplicationFactor { get; init; } = 3;
    public int TransactionMaxTimeoutMs { get; init; } = 900_000;
    public long TransactionalIdExpirationMs { get; init; } = 604_800_000;
    public int TransactionAbortTimedOutTransactionCleanupIntervalMs { get; init; } = 10_000;
    public int TransactionRemoveExpiredTransactionCleanupIntervalMs { get; init; } = 3_600_000;
    /// <summary>log.retention.check.interval.ms, log.cleaner.enable, log.cleaner.backoff.ms.</summary>
    public long LogRetentionCheckIntervalMs { get; init; } = 300_000;
    public bool LogCleanerEnable { get; init; } = true;
    public long LogCleanerBackoffMs { get; init; } = 15_000;

    /// <summary>log.cold.read.after.ms (DetKafka's own, STORAGE.md "Cold reads"): segment bytes the broker has not
    /// written or read for this long are read ahead on a read thread before a fetch reads them. 0: every read on the
    /// driver thread.</summary>
    public long LogColdReadAfterMs { get; init; } = 60_000;

    /// <summary>Broker-wide topic-config defaults under their topic-config names (segment.bytes, flush.ms ...).</summary>
    public IReadOnlyDictionary<string, string> TopicConfigDefaults { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Things worth a warning at start-up: ignored keys and listeners, unknown DETKAFKA_ variables.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The Core configuration once the listener is bound (an advertised port 0 becomes the bound port).
    /// The disk handed to Core is rooted at the data directory, so Core's own DataDirectory is the root.</summary>
    public BrokerConfig ToBrokerConfig(int boundPort) => new()
    {
        NodeId = NodeId,
        ControllerQuorumVoters = ControllerQuorumVoters,
        AdvertisedHost = Advertised.Host,
        AdvertisedPort = Advertised.Port == 0 ? boundPort : Advertised.Port,
        NumPartitions = NumPartitions,
        AutoCreateTopicsEnable = AutoCreateTopicsEnable,
        MessageMaxBytes = MessageMaxBytes,
        SocketRequestMaxBytes = SocketRequestMaxBytes,
        MaxConnections = MaxConnections,
        OffsetsTopicNumPartitions = OffsetsTopicNumPartitions,
        OffsetsTopicReplicationFactor = OffsetsTopicReplicationFactor,
        OffsetsRetentionMinutes = OffsetsRetentionMinutes,
        TransactionStateLogNumPartitions = TransactionStateLogNumPartitions,
        TransactionStateLogReplicationFactor = TransactionStateLogReplicationFactor,
        TransactionMaxTimeoutMs = TransactionMaxTimeoutMs,
        TransactionalIdExpirationMs = TransactionalIdExpirationMs,
        TransactionAbortTimedOutTransactionCleanupIntervalMs = TransactionAbortTimedOutTransactionCleanupIntervalMs,
        TransactionRemoveExpiredTransactionCleanupIntervalMs = TransactionRemoveExpiredTransactionCleanupIntervalMs,
        OffsetsRetentionCheckIntervalMs = OffsetsRetentionCheckIntervalMs,
        GroupInitialRebalanceDelayMs = GroupInitialRebalanceDelayMs,
        GroupMinSessionTimeoutMs = GroupMinSessionTimeoutMs,
        GroupMaxSessionTimeoutMs = GroupMaxSessionTimeoutMs,
        ConsumerGroup = ConsumerGroup,
        TopicConfigDefaults = new SortedDictionary<string, string>(TopicConfigDefaults.ToDictionary(), StringComparer.Ordinal),
        DataDirectory = "",
        LogRetentionCheckIntervalMs = LogRetentionCheckIntervalMs,
        ColdReadAfterMs = LogColdReadAfterMs,
        LogCleaner = Core.Storage.LogCleanerConfig.Default with { Enable = LogCleanerEnable, BackoffMs = LogCleanerBackoffMs },
    };
}

/// <summary>
/// Merges the broker's configuration sources, Kafka broker-config names throughout. Precedence: flags, then
/// environment variables <c>DETKAFKA_&lt;NAME&gt;</c> (the Kafka name upper-cased, dots as underscores), then
/// the properties file, then defaults. Pure: the caller reads the environment and the file.
/// </summary>
public static class ServerOptions
{
    public const string EnvironmentPrefix = "DETKAFKA_";
    public const string DefaultListeners = "PLAINTEXT://127.0.0.1:9092";
    public const string DefaultMetricsListener = "127.0.0.1:9644";
    public const string DefaultDataDirectory = "./data";

    /// <summary>Kafka names that share one setting, most preferred first (Kafka's own order).</summary>
    private static readonly string[][] Aliases =
    [
        ["node.id", "broker.id"],
        ["log.dirs", "log.dir"],
        ["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
        ["log.roll.ms", "log.roll.hours"],
    ];

    /// <summary>Broker configs this broker honours.</summary>
    public static readonly IReadOnlySet<string> SupportedKeys = new SortedSet<string>(StringComparer.Ordinal)
    {
        "listeners", "advertised.listeners", "node.id", "broker.id", "controller.quorum.voters", "log.dirs", "log.dir", "num.partitions",
        "auto.create.topics.enable", "message.max.bytes", "socket.request.max.bytes", "max.connections",
        "log.segment.bytes", "log.flush.interval.messages", "log.flush.interval.ms", "log.roll.ms", "log.roll.hours",
        "log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes",
        "log.index.size.max.bytes", "log.index.interval.bytes", "log.message.timestamp.type", "log.cleanup.policy",
        "log.segment.delete.delay.ms", "compression.type", "min.insync.replicas", "controller.listener.names",
        // DetKafka's own: the Prometheus endpoint (host:port, or "off"); the host's I/O model (loop or threads).
        "metrics.listener", "io.model",
        "offsets.topic.num.partitions", "offsets.topic.replication.factor", "offsets.retention.minutes", "offsets.retention.check.interval.ms",
        "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms",
        "group.consumer.session.timeout.ms", "group.consumer.heartbeat.interval.ms", "group.consumer.max.size", "group.consumer.assignors",
        "log.retention.check.interval.ms", "log.cleaner.enable", "log.cleaner.backoff.ms",
        "log.cleaner.min.cleanable.ratio", "log.cleaner.delete.retention.ms", "log.cleaner.min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms", "log.cold.read.after.ms",
        "transaction.state.log.num.partitions", "transaction.state.log.replication.factor", "transaction.max.timeout.ms", "transactional.id.expiration.ms",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms", "transaction.remove.expired.transaction.cleanup.interval.ms",
    };

    /// <summary>Kafka broker configs that mean nothing to a single in-process node (threads, socket buffers,
    /// KRaft settings the voter list replaces, the ISR minimum of __transaction_state). Accepted so a stock server.properties works,
    /// and reported at start-up as ignored.</summary>
    public static readonly IReadOnlySet<string> IgnoredKeys = new SortedSet<string>(StringComparer.Ordinal)
    {
        "process.roles", "controller.quorum.bootstrap.servers",
        "inter.broker.listener.name", "listener.security.protocol.map", "num.network.threads", "num.io.threads",
        "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "num.recovery.threads.per.data.dir",
        "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "default.replication.factor", "delete.topic.enable", "zookeeper.connect", "zookeeper.connection.timeout.ms",
        "metadata.log.dir",
    };

    /// <summary>Flag name for each Kafka key that has one.</summary>
    private static readonly Dictionary<string, string> FlagNames = new(StringComparer.Ordinal)
    {
        ["listeners"] = "--listeners",
        ["advertised.listeners"] = "--advertised-listeners",
        ["node.id"] = "--node-id",
        ["controller.quorum.voters"] = "--controller-quorum",
        ["log.dirs"] = "--data-dir",
        ["num.partitions"] = "--num-partitions",
        ["auto.create.topics.enable"] = "--auto-create-topics",
        ["log.segment.bytes"] = "--log-segment-bytes",
        ["message.max.bytes"] = "--message-max-bytes",
        ["metrics.listener"] = "--metrics-listener",
    };

    public static string EnvironmentName(string key) => EnvironmentPrefix + key.ToUpperInvariant().Replace('.', '_');

    /// <summary>Resolve the settings. Throws <see cref="ConfigException"/> with a message naming the source of
    /// the bad value.</summary>
    /// <param name="localHostName">Advertised when the listener binds a wildcard host and advertised.listeners
    /// is not set (Kafka advertises the machine's name then).</param>
    public static ServerSettings Resolve(ServeArguments flags, IReadOnlyDictionary<string, string> environment,
        string? configFileText, string configFileName = "config file", string localHostName = "localhost")
    {
        var warnings = new List<string>();
        var layers = new List<Layer> { FlagLayer(flags), EnvironmentLayer(environment, warnings) };
        if (configFileText is not null) layers.Add(FileLayer(configFileText, configFileName, warnings));
        foreach (var layer in layers)
            foreach (var key in layer.Values.Keys)
                if (IgnoredKeys.Contains(key)) warnings.Add($"{layer.Describe(key)} is ignored by this broker");

        var r = new Resolver(layers);

        var listener = ResolveListener(r, warnings);
        ListenerAddress advertised;
        if (r.Find("advertised.listeners") is { } adv)
        {
            var list = ListenerAddress.ParseList(adv.Value, adv.Where);
            var ofListener = list.Where(l => l.Name == listener.Name).ToList();
            if (ofListener.Count != 1)
                throw new ConfigException($"{adv.Where}: expected one {listener.Name} listener in '{adv.Value}'");
            advertised = ofListener[0];
            if (advertised.IsWildcardHost)
                throw new ConfigException($"{adv.Where}: '{advertised}' is not an address clients can connect to");
        }
        else
        {
            advertised = listener.IsWildcardHost ? listener with { Host = localHostName } : listener;
        }

        string dataDir = DefaultDataDirectory;
        if (r.Find("log.dirs", "log.dir") is { } dirs)
        {
            var parts = dirs.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) throw new ConfigException($"{dirs.Where}: empty directory");
            if (parts.Length > 1) throw new ConfigException($"{dirs.Where}: only one data directory is supported, got '{dirs.Value}'");
            dataDir = parts[0];
        }

        var topicDefaults = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void TopicDefault(string topicKey, long? value)
        {
            if (value is { } v) topicDefaults[topicKey] = v.ToString(CultureInfo.InvariantCulture);
        }

        int? messageMaxBytes = r.Int("message.max.bytes", 0, int.MaxValue);
        TopicDefault("segment.bytes", r.Int("log.segment.bytes", 14, int.MaxValue));
        TopicDefault("flush.messages", r.Long("log.flush.interval.messages", 1, long.MaxValue));
        TopicDefault("flush.ms", r.Long("log.flush.interval.ms", 0, long.MaxValue));
        TopicDefault("segment.ms", r.Duration(["log.roll.ms", "log.roll.hours"], [1, 3_600_000], 1));
        TopicDefault("retention.ms", r.Duration(["log.retention.ms", "log.retention.minutes", "log.retention.hours"], [1, 60_000, 3_600_000], -1));
        TopicDefault("retention.bytes", r.Long("log.retention.bytes", -1, long.MaxValue));
        TopicDefault("segment.index.bytes", r.Int("log.index.size.max.bytes", 4, int.MaxValue));
        TopicDefault("index.interval.bytes", r.Int("log.index.interval.bytes", 0, int.MaxValue));
        TopicDefault("file.delete.delay.ms", r.Long("log.segment.delete.delay.ms", 0, long.MaxValue));
        TopicDefault("min.insync.replicas", r.Int("min.insync.replicas", 1, int.MaxValue));
        TopicDefault("max.message.bytes", messageMaxBytes);
        if (r.OneOf("log.message.timestamp.type", ["CreateTime", "LogAppendTime"]) is { } tsType) topicDefaults["message.timestamp.type"] = tsType;
        if (r.OneOf("compression.type", ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]) is { } compression) topicDefaults["compression.type"] = compression;
        TopicDefault("delete.retention.ms", r.Long("log.cleaner.delete.retention.ms", 0, long.MaxValue));
        TopicDefault("min.compaction.lag.ms", r.Long("log.cleaner.min.compaction.lag.ms", 0, long.MaxValue));
        TopicDefault("max.compaction.lag.ms", r.Long("log.cleaner.max.compaction.lag.ms", 1, long.MaxValue));
        if (r.Find("log.cleaner.min.cleanable.ratio") is { } ratio)
        {
            if (!double.TryParse(ratio.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v >= 0 && v <= 1))
                throw new ConfigException($"{ratio.Where}: '{ratio.Value}' is not a ratio between 0 and 1");
            topicDefaults["min.cleanable.dirty.ratio"] = ratio.Value.Trim();
        }
        if (r.Find("log.cleanup.policy") is { } policy)
        {
            var parts = policy.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || parts.Any(p => p != "delete" && p != "compact"))
                throw new ConfigException($"{policy.Where}: '{policy.Value}' is not a list of delete/compact");
            topicDefaults["cleanup.policy"] = string.Join(',', parts);
        }

        ListenerAddress? metricsListener = ListenerAddress.Parse(DefaultMetricsListener, "default metrics listener");
        if (r.Find("metrics.listener") is { } metrics)
        {
            var v = metrics.Value.Trim();
            if (v.Length == 0 || v.Equals("off", StringComparison.OrdinalIgnoreCase) || v.Equals("none", StringComparison.OrdinalIgnoreCase)
                || v.Equals("false", StringComparison.OrdinalIgnoreCase))
                metricsListener = null;
            else
            {
                metricsListener = ListenerAddress.Parse(v, metrics.Where);
                if (metricsListener.Port == 0) throw new ConfigException($"{metrics.Where}: '{v}' needs a fixed port (or 'off')");
            }
        }
        var ioModel = "threads";
        if (r.Find("io.model") is { } io)
        {
            ioModel = io.Value.Trim().ToLowerInvariant() switch
            {
                "loop" => "loop",
                "loop-write-behind" => "loop-write-behind",
                "threads" => "threads",
                _ => throw new ConfigException($"{io.Where}: '{io.Value}' is not loop, loop-write-behind or threads"),
            };
        }
        string logFormat = flags.LogFormat?.Trim().ToLowerInvariant() switch
        {
            null or "" or "text" => "text",
            "json" => "json",
            _ => throw new ConfigException($"--log-format: '{flags.LogFormat}' is not text or json"),
        };

        var defaults = new ServerSettings { Listener = listener, Advertised = advertised, DataDirectory = dataDir };
        var result = new ServerSettings
        {
            Listener = listener,
            Advertised = advertised,
            DataDirectory = dataDir,
            LogFile = string.IsNullOrWhiteSpace(flags.LogFile) ? null : flags.LogFile,
            LogLevel = ParseLogLevel(flags.LogLevel),
            NodeId = r.NodeId() ?? defaults.NodeId,
            ControllerQuorumVoters = ParseVoters(r.Find("controller.quorum.voters"), r.NodeId() ?? defaults.NodeId, advertised, warnings),
            NumPartitions = r.Int("num.partitions", 1, int.MaxValue) ?? defaults.NumPartitions,
            AutoCreateTopicsEnable = r.Bool("auto.create.topics.enable") ?? defaults.AutoCreateTopicsEnable,
            MessageMaxBytes = messageMaxBytes ?? defaults.MessageMaxBytes,
            SocketRequestMaxBytes = r.Int("socket.request.max.bytes", 1, int.MaxValue) ?? defaults.SocketRequestMaxBytes,
            MaxConnections = r.Int("max.connections", 1, int.MaxValue) ?? defaults.MaxConnections,
            OffsetsTopicNumPartitions = r.Int("offsets.topic.num.partitions", 1, 10_000) ?? defaults.OffsetsTopicNumPartitions,
            OffsetsTopicReplicationFactor = r.Int("offsets.topic.replication.factor", 1, 32_767) ?? defaults.OffsetsTopicReplicationFactor,
            OffsetsRetentionMinutes = r.Long("offsets.retention.minutes", 1, int.MaxValue) ?? defaults.OffsetsRetentionMinutes,
            OffsetsRetentionCheckIntervalMs = r.Long("offsets.retention.check.interval.ms", 1, long.MaxValue) ?? defaults.OffsetsRetentionCheckIntervalMs,
            TransactionStateLogNumPartitions = r.Int("transaction.state.log.num.partitions", 1, 10_000) ?? defaults.TransactionStateLogNumPartitions,
            TransactionStateLogReplicationFactor = r.Int("transaction.state.log.replication.factor", 1, 32_767) ?? defaults.TransactionStateLogReplicationFactor,
            TransactionMaxTimeoutMs = r.Int("transaction.max.timeout.ms", 1, int.MaxValue) ?? defaults.TransactionMaxTimeoutMs,
            TransactionalIdExpirationMs = r.Long("transactional.id.expiration.ms", 1, long.MaxValue) ?? defaults.TransactionalIdExpirationMs,
            TransactionAbortTimedOutTransactionCleanupIntervalMs = r.Int("transaction.abort.timed.out.transaction.cleanup.interval.ms", 1, int.MaxValue)
                ?? defaults.TransactionAbortTimedOutTransactionCleanupIntervalMs,
            TransactionRemoveExpiredTransactionCleanupIntervalMs = r.Int("transaction.remove.expired.transaction.cleanup.interval.ms", 1, int.MaxValue)
                ?? defaults.TransactionRemoveExpiredTransactionCleanupIntervalMs,
            GroupInitialRebalanceDelayMs = r.Int("group.initial.rebalance.delay.ms", 0, int.MaxValue) ?? defaults.GroupInitialRebalanceDelayMs,
            GroupMinSessionTimeoutMs = r.Int("group.min.session.timeout.ms", 0, int.MaxValue) ?? defaults.GroupMinSessionTimeoutMs,
            GroupMaxSessionTimeoutMs = r.Int("group.max.session.timeout.ms", 0, int.MaxValue) ?? defaults.GroupMaxSessionTimeoutMs,
            ConsumerGroup = new Core.Groups.ConsumerGroupConfig
            {
                SessionTimeoutMs = r.Int("group.consumer.session.timeout.ms", 1, int.MaxValue) ?? defaults.ConsumerGroup.SessionTimeoutMs,
                HeartbeatIntervalMs = r.Int("group.consumer.heartbeat.interval.ms", 1, int.MaxValue) ?? defaults.ConsumerGroup.HeartbeatIntervalMs,
                MaxSize = r.Int("group.consumer.max.size", 1, 100_000) ?? defaults.ConsumerGroup.MaxSize,
                Assignors = ParseAssignors(r.Find("group.consumer.assignors")) ?? defaults.ConsumerGroup.Assignors,
            },
            LogRetentionCheckIntervalMs = r.Long("log.retention.check.interval.ms", 1, long.MaxValue) ?? defaults.LogRetentionCheckIntervalMs,
            LogCleanerEnable = r.Bool("log.cleaner.enable") ?? defaults.LogCleanerEnable,
            LogCleanerBackoffMs = r.Long("log.cleaner.backoff.ms", 1, long.MaxValue) ?? defaults.LogCleanerBackoffMs,
            LogColdReadAfterMs = r.Long("log.cold.read.after.ms", 0, long.MaxValue) ?? defaults.LogColdReadAfterMs,
            TopicConfigDefaults = topicDefaults,
            Warnings = warnings,
            MetricsListener = metricsListener,
            IoModel = ioModel,
            LogFormat = logFormat,
        };
        // Every setting as resolved, plus where each came from (--print-config).
        return result with { Effective = Effective(result, r, flags, layers.Count > 2 ? configFileName : null) };
    }

    /// <summary>The effective value of every setting and where it came from: the layer that set it (flag,
    /// environment variable, file line), else "default".</summary>
    private static List<EffectiveSetting> Effective(ServerSettings s, Resolver r, ServeArguments flags, string? fileName)
    {
        var list = new List<EffectiveSetting>();
        void Add(string value, params string[] keys)
        {
            var found = r.Find(keys);
            list.Add(new EffectiveSetting(keys[0], value, found is { } f ? f.Where : "default"));
        }
        string Inv(long v) => v.ToString(CultureInfo.InvariantCulture);
        string Topic(string topicKey, Func<Core.Storage.LogConfig, string> fallback)
            => s.TopicConfigDefaults.TryGetValue(topicKey, out var v) ? v : fallback(Core.Storage.LogConfig.Default);

        Add(s.Listener.ToString(), "listeners");
        Add(s.Advertised.ToString(), "advertised.listeners");
        Add(Inv(s.NodeId), "node.id", "broker.id");
        Add(string.Join(",", s.ControllerQuorumVoters.Select(v => v.ToString())), "controller.quorum.voters");
        Add(s.DataDirectory, "log.dirs", "log.dir");
        Add(Inv(s.NumPartitions), "num.partitions");
        Add(s.AutoCreateTopicsEnable ? "true" : "false", "auto.create.topics.enable");
        Add(Inv(s.MessageMaxBytes), "message.max.bytes");
        Add(Inv(s.SocketRequestMaxBytes), "socket.request.max.bytes");
        Add(Inv(s.MaxConnections), "max.connections");
        Add(Topic("segment.bytes", c => Inv(c.SegmentBytes)), "log.segment.bytes");
        Add(Topic("flush.messages", c => Inv(c.FlushMessages)), "log.flush.interval.messages");
        Add(Topic("flush.ms", c => Inv(c.FlushMs)), "log.flush.interval.ms");
        Add(Topic("segment.ms", c => Inv(c.SegmentMs)), "log.roll.ms", "log.roll.hours");
        Add(Topic("retention.ms", c => Inv(c.RetentionMs)), "log.retention.ms", "log.retention.minutes", "log.retention.hours");
        Add(Topic("retention.bytes", c => Inv(c.RetentionBytes)), "log.retention.bytes");
        Add(Topic("segment.index.bytes", c => Inv(c.SegmentIndexBytes)), "log.index.size.max.bytes");
        Add(Topic("index.interval.bytes", c => Inv(c.IndexIntervalBytes)), "log.index.interval.bytes");
        Add(Topic("file.delete.delay.ms", _ => "60000"), "log.segment.delete.delay.ms");
        Add(Topic("min.insync.replicas", _ => "1"), "min.insync.replicas");
        Add(Topic("message.timestamp.type", c => c.MessageTimestampType.ToString()), "log.message.timestamp.type");
        Add(Topic("compression.type", _ => "producer"), "compression.type");
        Add(Topic("cleanup.policy", c => c.CleanupPolicy), "log.cleanup.policy");
        Add(Inv(s.OffsetsTopicNumPartitions), "offsets.topic.num.partitions");
        Add(Inv(s.OffsetsTopicReplicationFactor), "offsets.topic.replication.factor");
        Add(Inv(s.OffsetsRetentionMinutes), "offsets.retention.minutes");
        Add(Inv(s.OffsetsRetentionCheckIntervalMs), "offsets.retention.check.interval.ms");
        Add(Inv(s.TransactionStateLogNumPartitions), "transaction.state.log.num.partitions");
        Add(Inv(s.TransactionStateLogReplicationFactor), "transaction.state.log.replication.factor");
        Add(Inv(s.TransactionMaxTimeoutMs), "transaction.max.timeout.ms");
        Add(Inv(s.TransactionalIdExpirationMs), "transactional.id.expiration.ms");
        Add(Inv(s.TransactionAbortTimedOutTransactionCleanupIntervalMs), "transaction.abort.timed.out.transaction.cleanup.interval.ms");
        Add(Inv(s.TransactionRemoveExpiredTransactionCleanupIntervalMs), "transaction.remove.expired.transaction.cleanup.interval.ms");
        Add(Inv(s.GroupInitialRebalanceDelayMs), "group.initial.rebalance.delay.ms");
        Add(Inv(s.GroupMinSessionTimeoutMs), "group.min.session.timeout.ms");
        Add(Inv(s.GroupMaxSessionTimeoutMs), "group.max.session.timeout.ms");
        Add(Inv(s.ConsumerGroup.SessionTimeoutMs), "group.consumer.session.timeout.ms");
        Add(Inv(s.ConsumerGroup.HeartbeatIntervalMs), "group.consumer.heartbeat.interval.ms");
        Add(Inv(s.ConsumerGroup.MaxSize), "group.consumer.max.size");
        Add(string.Join(",", s.ConsumerGroup.Assignors), "group.consumer.assignors");
        Add(s.MetricsListener?.HostPort ?? "off", "metrics.listener");
        Add(s.IoModel, "io.model");
        list.Add(new EffectiveSetting("log.level", s.LogLevel.ToString().ToLowerInvariant(), flags.LogLevel is null ? "default" : "--log-level"));
        list.Add(new EffectiveSetting("log.format", s.LogFormat, flags.LogFormat is null ? "default" : "--log-format"));
        list.Add(new EffectiveSetting("log.file", s.LogFile ?? "", flags.LogFile is null ? "default" : "--log-file"));
        if (fileName is not null) list.Add(new EffectiveSetting("config", fileName, "--config"));
        return list;
    }

    /// <summary>controller.quorum.voters in Kafka's syntax. This node must be one of the voters (combined mode: every
    /// voter is a controller and a broker, reached at its voter address, which is its client listener).</summary>
    private static IReadOnlyList<QuorumVoter> ParseVoters(Found? found, int nodeId, ListenerAddress advertised, List<string> warnings)
    {
        if (found is not { } f) return [];
        if (QuorumVoter.TryParseList(f.Value, out var voters) is { } error) throw new ConfigException($"{f.Where}: {error}");
        if (voters.Count == 0) return [];
        if (voters.Count == 1 && voters[0].NodeId == nodeId)
        {
            // A stock single-node KRaft server.properties names this node alone: that is the single-node mode
            // (the local metadata log), so an existing data directory keeps its metadata.
            warnings.Add($"{f.Where}: a quorum of this node alone runs as a single node");
            return [];
        }
        if (!voters.Exists(v => v.NodeId == nodeId))
            throw new ConfigException($"{f.Where}: node.id {nodeId} is not one of the voters '{f.Value}' (broker-only nodes are not supported yet)");
        var self = voters.Find(v => v.NodeId == nodeId);
        if (advertised.Port != 0 && (self.Host != advertised.Host || self.Port != advertised.Port))
            warnings.Add($"{f.Where}: this node's voter address {self.Host}:{self.Port} is not its advertised listener {advertised}; peers reach it at the voter address");
        return voters;
    }

    private static ListenerAddress ResolveListener(Resolver r, List<string> warnings)
    {
        var found = r.Find("listeners") ?? new Found("listeners", DefaultListeners, "default listeners");
        var all = ListenerAddress.ParseList(found.Value, found.Where);
        if (all.Select(l => l.Name).Distinct().Count() != all.Count)
            throw new ConfigException($"{found.Where}: listener names must be unique in '{found.Value}'");

        // A KRaft server.properties also lists the controller's listener; a single broker has no quorum.
        var controllers = r.Find("controller.listener.names") is { } c
            ? c.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(n => n.ToUpperInvariant()).ToHashSet()
            : [];
        foreach (var skipped in all.Where(l => controllers.Contains(l.Name)))
            warnings.Add($"{found.Where}: controller listener {skipped} is ignored (single node, no quorum)");
        var clients = all.Where(l => !controllers.Contains(l.Name)).ToList();
        if (clients.Count != 1)
            throw new ConfigException($"{found.Where}: expected exactly one client listener, got '{found.Value}'");
        if (clients[0].Name != ListenerAddress.PlainText)
            throw new ConfigException($"{found.Where}: only PLAINTEXT listeners are supported, got '{clients[0]}'");
        return clients[0];
    }

    public static LogLevel ParseLogLevel(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => LogLevel.Information,
        "debug" or "verbose" or "trace" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" or "fatal" => LogLevel.Error,
        _ => throw new ConfigException($"--log-level: '{value}' is not one of debug, info, warn, error"),
    };

    /// <summary>Java-properties subset: <c>key=value</c> or <c>key: value</c>, <c>#</c>/<c>!</c> comments,
    /// a trailing backslash continues the line, the last duplicate wins.</summary>
    public static IReadOnlyDictionary<string, (string Value, int Line)> ParseProperties(string text, string fileName)
    {
        var result = new Dictionary<string, (string, int)>(StringComparer.Ordinal);
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNumber = i + 1;
            var line = lines[i].TrimStart();
            if (line.Length == 0 || line[0] == '#' || line[0] == '!') continue;
            var logical = new StringBuilder();
            while (true)
            {
                if (EndsWithContinuation(line) && i + 1 < lines.Length)
                {
                    logical.Append(line, 0, line.Length - 1);
                    line = lines[++i].TrimStart();
                    continue;
                }
                logical.Append(EndsWithContinuation(line) ? line[..^1] : line);
                break;
            }
            var entry = logical.ToString();
            int sep = entry.IndexOfAny(['=', ':']);
            if (sep <= 0) throw new ConfigException($"{fileName}:{lineNumber}: expected key=value, got '{entry.Trim()}'");
            var key = entry[..sep].Trim();
            var value = entry[(sep + 1)..].Trim();
            if (key.Length == 0 || key.Any(char.IsWhiteSpace))
                throw new ConfigException($"{fileName}:{lineNumber}: bad key '{key}'");
            result[key] = (value, lineNumber);
        }
        return result;
    }

    private static bool EndsWithContinuation(string line)
    {
        int backslashes = 0;
        for (int j = line.Length - 1; j >= 0 && line[j] == '\\'; j--) backslashes++;
        return backslashes % 2 == 1;
    }

    // ---- layers --------------------------------------------------------------------------------------

    private sealed record Layer(IReadOnlyDictionary<string, string> Values, Func<string, string> Describe);

    private readonly record struct Found(string Key, string Value, string Where);

    private static Layer FlagLayer(ServeArguments flags)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        void Add(string key, string? value)
        {
            if (value is not null) values[key] = value;
        }
        Add("listeners", flags.Listeners);
        Add("advertised.listeners", flags.AdvertisedListeners);
        Add("node.id", flags.NodeId);
        Add("controller.quorum.voters", flags.ControllerQuorum);
        Add("log.dirs", flags.DataDir);
        Add("num.partitions", flags.NumPartitions);
        Add("auto.create.topics.enable", flags.AutoCreateTopics);
        Add("log.segment.bytes", flags.LogSegmentBytes);
        Add("message.max.bytes", flags.MessageMaxBytes);
        Add("metrics.listener", flags.MetricsListener);
        return new Layer(values, key => FlagNames.TryGetValue(key, out var flag) ? flag : key);
    }

    private static Layer EnvironmentLayer(IReadOnlyDictionary<string, string> environment, List<string> warnings)
    {
        var byEnvName = SupportedKeys.Concat(IgnoredKeys).ToDictionary(EnvironmentName, k => k, StringComparer.Ordinal);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith(EnvironmentPrefix, StringComparison.Ordinal)) continue;
            if (byEnvName.TryGetValue(name, out var key)) values[key] = value;
            else throw new ConfigException($"environment variable {name}: unknown broker setting (not DETKAFKA_ plus a known setting name)");
        }
        return new Layer(values, key => "environment variable " + EnvironmentName(key));
    }

    private static Layer FileLayer(string text, string fileName, List<string> warnings)
    {
        var entries = ParseProperties(text, fileName);
        foreach (var (key, (_, line)) in entries.OrderBy(e => e.Value.Line))
        {
            if (!SupportedKeys.Contains(key) && !IgnoredKeys.Contains(key))
                throw new ConfigException($"{fileName}:{line}: unknown broker setting '{key}'");
        }
        var values = entries.ToDictionary(e => e.Key, e => e.Value.Value, StringComparer.Ordinal);
        return new Layer(values, key => entries.TryGetValue(key, out var e) ? $"{fileName}:{e.Line}: {key}" : $"{fileName}: {key}");
    }

    /// <summary>group.consumer.assignors: a comma-separated list of assignors this node knows (uniform, range).</summary>
    private static IReadOnlyList<string>? ParseAssignors(Found? found)
    {
        if (found is not { } f) return null;
        var names = f.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new ConfigException($"{f.Where}: no assignor named");
        foreach (var n in names)
            if (Core.Groups.ConsumerGroupAssignors.Find(n) is null)
                throw new ConfigException($"{f.Where}: unknown assignor '{n}' (known: uniform, range)");
        return names;
    }

    /// <summary>Looks settings up across layers: the first layer (highest precedence) that sets any of a
    /// setting's names decides, and within it Kafka's preferred name wins.</summary>
    private sealed class Resolver(IReadOnlyList<Layer> layers)
    {
        public Found? Find(params string[] keys)
        {
            foreach (var layer in layers)
                foreach (var key in keys)
                    if (layer.Values.TryGetValue(key, out var value)) return new Found(key, value, layer.Describe(key));
            return null;
        }

        public int? NodeId()
        {
            foreach (var layer in layers)
            {
                bool hasNode = layer.Values.TryGetValue("node.id", out var node);
                bool hasBroker = layer.Values.TryGetValue("broker.id", out var broker);
                if (hasNode && hasBroker && node!.Trim() != broker!.Trim())
                    throw new ConfigException($"{layer.Describe("node.id")} ({node}) and {layer.Describe("broker.id")} ({broker}) disagree");
                if (hasNode || hasBroker) break;
            }
            return Int(Find(Aliases[0]), 0, int.MaxValue);
        }

        public int? Int(string key, int min, int max) => Int(Find(key), min, max);

        private static int? Int(Found? found, int min, int max)
        {
            if (Long(found, min, max) is not { } v) return null;
            return (int)v;
        }

        public long? Long(string key, long min, long max) => Long(Find(key), min, max);

        private static long? Long(Found? found, long min, long max)
        {
            if (found is not { } f) return null;
            if (!long.TryParse(f.Value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
                throw new ConfigException($"{f.Where}: '{f.Value}' is not an integer");
            if (v < min || v > max)
                throw new ConfigException($"{f.Where}: {v} is out of range [{min}, {max}]");
            return v;
        }

        /// <summary>A duration given under one of several names with different units (ms, minutes, hours);
        /// -1 (where <paramref name="min"/> allows it) means unlimited and is kept as is.</summary>
        public long? Duration(string[] keys, long[] unitMs, long min)
        {
            if (Find(keys) is not { } f) return null;
            long unit = unitMs[Array.IndexOf(keys, f.Key)];
            long value = Long(f, min, long.MaxValue / unit)!.Value;
            return value == -1 ? -1 : value * unit;
        }

        public bool? Bool(string key)
        {
            if (Find(key) is not { } f) return null;
            return f.Value.Trim().ToLowerInvariant() switch
            {
                "true" => true,
                "false" => false,
                _ => throw new ConfigException($"{f.Where}: '{f.Value}' is not true or false"),
            };
        }

        public string? OneOf(string key, string[] allowed)
        {
            if (Find(key) is not { } f) return null;
            var match = allowed.FirstOrDefault(a => string.Equals(a, f.Value.Trim(), StringComparison.OrdinalIgnoreCase));
            return match ?? throw new ConfigException($"{f.Where}: '{f.Value}' is not one of {string.Join(", ", allowed)}");
        }
    }
}
