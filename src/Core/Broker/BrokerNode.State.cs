using DetKafka.Core.Abstractions;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

// The node's durable state: cluster id, topics (with their config overrides) and partition logs, and the
// lifecycle inputs that touch them. Single node: this node leads every partition and is the controller.
public sealed partial class BrokerNode
{
    private readonly SortedDictionary<string, TopicInfo> _topics = new(StringComparer.Ordinal);
    private MetadataStore _metadata = null!;
    private LogManager _logs = null!;
    private LogConfig _brokerDefaults = LogConfig.Default;
    private bool _started;
    private LogCleaner _cleaner = null!;
    // Monotonic deadlines of the two maintenance tasks (retention and the cleaner), checked in PollState.
    private long _nextRetentionMs = long.MaxValue;
    private long _nextCleanerStepMs = long.MaxValue;

    /// <summary>Producer ids are taken from the store in blocks of this many (Kafka: 1000), one sync per block.</summary>
    private const long ProducerIdBlockSize = 1000;
    private long _nextProducerId;
    private long _producerIdBlockEnd;

    public string ClusterId { get; private set; } = "";

    /// <summary>
    /// A producer id no producer of this cluster had before (InitProducerId). A new block is made durable before
    /// its first id is handed out, so a crash can skip ids but never repeat one. Throws
    /// <see cref="StorageException"/> when the block cannot be written.
    /// </summary>
    internal long AllocateProducerId()
    {
        Check.That(_started, "producer ids are handed out once the node has started");
        if (_nextProducerId == _producerIdBlockEnd)
        {
            long end = checked(_producerIdBlockEnd + ProducerIdBlockSize);
            _metadata.SaveNextProducerIdBlock(end);
            _producerIdBlockEnd = end;
        }
        Check.That(_nextProducerId < _producerIdBlockEnd);
        return _nextProducerId++;
    }
    public LogManager Logs => _logs;
    public LogCleaner Cleaner => _cleaner;
    public LogConfig BrokerTopicDefaults => _brokerDefaults;
    public IReadOnlyCollection<TopicInfo> Topics => _topics.Values;
    internal Purgatory Purgatory { get; private set; } = null!;

    /// <summary>The partitions this node hosts: what handlers, the coordinator and the purgatory go through.</summary>
    public Partitions.ReplicaManager Replicas { get; private set; } = null!;

    /// <summary>The group coordinator (consumer groups and committed offsets, in __consumer_offsets).</summary>
    public Groups.GroupCoordinator Groups { get; private set; } = null!;

    /// <summary>The transaction coordinator (transactional ids' state, in __transaction_state).</summary>
    public Transactions.TransactionCoordinator Transactions { get; private set; } = null!;

    private void InitializeState()
    {
        var defaults = Config.TopicConfigDefaults.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value));
        if (!LogConfig.TryParse(defaults, out _brokerDefaults, out var error))
            throw new ArgumentException("invalid broker topic defaults: " + error);
        _brokerDefaults = _brokerDefaults with
        {
            TestOnlyIgnoreProducerSequences = Config.TestOnlyIgnoreProducerSequences,
            TestOnlySkipLogStartCheckpoint = Config.TestOnlySkipLogStartCheckpoint,
            TestOnlySkipBatchCrc = Config.TestOnlySkipBatchCrc,
            ProducerIdExpirationMs = Config.ProducerIdExpirationMs,
        };
        _metadata = new MetadataStore(Disk, Config.DataDirectory, Log);
        Purgatory = new Purgatory(this);
        Replicas = new Partitions.ReplicaManager(this);
        Groups = new Groups.GroupCoordinator(this);
        Transactions = new Transactions.TransactionCoordinator(this);
        _cleaner = new LogCleaner(Config.LogCleaner, Log);
    }

    private long StateNextDeadlineMs()
        => _started ? Math.Min(_logs.NextDeadlineMs, Math.Min(_nextRetentionMs, _nextCleanerStepMs)) : long.MaxValue;

    private void PollState(long nowMs)
    {
        if (!_started) return;
        if (nowMs >= _nextRetentionMs)
        {
            RunRetention();
            _nextRetentionMs = nowMs + Math.Max(1, Config.LogRetentionCheckIntervalMs);
        }
        if (nowMs >= _nextCleanerStepMs)
        {
            // Log timestamps are wall-clock times; deadlines are monotonic.
            bool busy = _cleaner.Step(_logs, Clock.WallClockMs);
            _nextCleanerStepMs = nowMs + Math.Max(1, busy ? Config.LogCleaner.StepIntervalMs : Config.LogCleaner.BackoffMs);
        }
        Replicas.StartDueSyncs(nowMs);
    }

    /// <summary>Kafka's periodic log maintenance (<see cref="Partitions.ReplicaManager.RunRetention"/>).</summary>
    private void RunRetention() => Replicas.RunRetention(Clock.WallClockMs);

    /// <summary>Recover the data directory: metadata, then every partition log (validating and truncating a
    /// torn tail). Call once before any other input.</summary>
    public void Start()
    {
        Check.That(!_started, "Start is called once");
        _metadata.EnsureDataDirectory();
        ClusterId = _metadata.LoadOrCreateClusterId(Config.NodeId, Random);
        foreach (var topic in _metadata.LoadTopics()) _topics.Add(topic.Name, topic);
        long? producerIdBlock = _metadata.LoadNextProducerIdBlock();
        _logs = new LogManager(Disk, Config.DataDirectory, Log);
        var found = _logs.LoadAll(name => _topics.TryGetValue(name, out var t) ? EffectiveConfig(t) : _brokerDefaults, Clock.WallClockMs);
        foreach (var tp in found)
        {
            // A crash between writing the topics file and deleting a topic's logs leaves orphans: finish the delete.
            if (!_topics.TryGetValue(tp.Topic, out var t) || tp.Partition >= t.PartitionCount)
            {
                Log.Warn("Deleting orphaned log {TopicPartition}: its topic or partition no longer exists", tp);
                _logs.DeleteLog(tp);
            }
        }
        Replicas.LoadAll();
        foreach (var t in _topics.Values) EnsureLogs(t);
        // Ids of a block handed out before a crash are never reused: the next block starts past it, and past every id
        // a partition has seen (the only record left when the block file was damaged).
        long largestSeen = -1;
        foreach (var log in _logs.Logs) largestSeen = Math.Max(largestSeen, log.Producers.LargestProducerId);
        _nextProducerId = _producerIdBlockEnd = Math.Max(producerIdBlock ?? 0, largestSeen + 1);
        _started = true;
        Groups.Load();
        Transactions.Load();
        long now = Clock.MonotonicMs;
        _nextRetentionMs = now + Math.Max(1, Config.LogRetentionCheckIntervalMs);
        if (Config.LogCleaner.Enable) _nextCleanerStepMs = now + Math.Max(1, Config.LogCleaner.BackoffMs);
        Log.Info("Node {NodeId} started: cluster {ClusterId}, {Topics} topics, {Logs} partition logs",
            Config.NodeId, ClusterId, _topics.Count, _logs.Count);
    }

    /// <summary>A sync requested through <see cref="IDiskFile.RequestSync"/> finished.</summary>
    public void OnSyncCompleted(long token, DiskStatus status)
    {
        if (!_started) return;
        if (Config.TestOnlyIgnoreSyncErrors) status = DiskStatus.Ok;
        Replicas.OnSyncCompleted(token, status, Clock.MonotonicMs);
        EndStep();
    }

    /// <summary>Sync everything and stop: the host calls this on SIGTERM after draining in-flight writes.</summary>
    public void Shutdown()
    {
        if (!_started) return;
        Replicas.FlushAll();
        Purgatory.OnShutdown();
        // Answers above may have freed connections with requests buffered: a stopping node does not run them.
        foreach (var connection in _resume) connection.ResumeScheduled = false;
        _resume.Clear();
        _logs.Dispose();
        _started = false;
        Log.Info("Node {NodeId} shut down cleanly", Config.NodeId);
    }

    // ---- topics ---------------------------------------------------------------------------------------

    public TopicInfo? FindTopic(string name) => _topics.GetValueOrDefault(name);

    public UnifiedLog? FindLog(string topic, int partition)
        => _started ? _logs.GetLog(new TopicPartition(topic, partition)) : null;

    /// <summary>The broker defaults with the topic's overrides applied.</summary>
    public LogConfig EffectiveConfig(TopicInfo topic)
    {
        if (_brokerDefaults.TryWith(Overrides(topic.ConfigOverrides), out var config, out var error)) return config;
        Log.Warn("Topic {Topic} has an invalid stored config ({Error}); using broker defaults", topic.Name, error);
        return _brokerDefaults;
    }

    private static IEnumerable<KeyValuePair<string, string?>> Overrides(IEnumerable<KeyValuePair<string, string>> values)
        => values.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value));

    /// <summary>Creates a topic (or only validates it). Returns an error code and message.</summary>
    public (Protocol.ErrorCode Error, string? Message) CreateTopic(string name, int partitions,
        IReadOnlyList<KeyValuePair<string, string?>> configs, bool validateOnly, out TopicInfo? created)
    {
        created = null;
        if (TopicInfo.ValidateName(name) is { } invalid) return (Protocol.ErrorCode.InvalidTopicException, invalid);
        if (_topics.ContainsKey(name)) return (Protocol.ErrorCode.TopicAlreadyExists, $"Topic '{name}' already exists.");
        if (partitions <= 0 || partitions > PartitionsPerTopicMax)
            return (Protocol.ErrorCode.InvalidPartitions, $"Number of partitions must be in [1, {PartitionsPerTopicMax}].");
        var overrides = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in configs)
        {
            if (value is null) return (Protocol.ErrorCode.InvalidConfig, $"Null value not supported for topic config {key}");
            overrides[key] = value;
        }
        if (!_brokerDefaults.TryWith(Overrides(overrides), out _, out var configError))
            return (Protocol.ErrorCode.InvalidConfig, configError);
        var topic = new TopicInfo(name, Random.NextUuid(), partitions, overrides);
        if (validateOnly)
        {
            created = topic;
            return (Protocol.ErrorCode.None, null);
        }
        _topics.Add(name, topic);
        // The topics file first: a crash after it recreates missing logs at start-up.
        if (!TrySaveTopics("create topic " + name))
        {
            _topics.Remove(name);
            return (Protocol.ErrorCode.KafkaStorageError, "The topics file could not be written.");
        }
        EnsureLogs(topic);
        created = topic;
        Log.Info("Created topic {Topic} with {Partitions} partitions", name, partitions);
        return (Protocol.ErrorCode.None, null);
    }

    public const int PartitionsPerTopicMax = 10_000;

    public Protocol.ErrorCode DeleteTopic(string name)
    {
        // The coordinator's state lives there: deleting it would drop every group's offsets under them.
        if (DetKafka.Core.Groups.GroupRecords.IsInternalTopic(name)) return Protocol.ErrorCode.InvalidRequest;
        if (!_topics.Remove(name, out var topic)) return Protocol.ErrorCode.UnknownTopicOrPartition;
        // The topics file first: a crash after it leaves orphan logs that start-up deletes.
        if (!TrySaveTopics("delete topic " + name))
        {
            _topics.Add(name, topic);
            return Protocol.ErrorCode.KafkaStorageError;
        }
        for (int p = 0; p < topic.PartitionCount; p++) Replicas.DeletePartition(new TopicPartition(name, p));
        Purgatory.OnTopicDeleted(name, topic.PartitionCount);
        Log.Info("Deleted topic {Topic}", name);
        return Protocol.ErrorCode.None;
    }

    public (Protocol.ErrorCode Error, string? Message) CreatePartitions(string name, int count, bool validateOnly)
    {
        if (!_topics.TryGetValue(name, out var topic)) return (Protocol.ErrorCode.UnknownTopicOrPartition, $"Topic '{name}' does not exist.");
        if (count <= topic.PartitionCount)
            return (Protocol.ErrorCode.InvalidPartitions, $"Topic currently has {topic.PartitionCount} partitions, which is higher than or equal to the requested {count}.");
        if (count > PartitionsPerTopicMax) return (Protocol.ErrorCode.InvalidPartitions, $"At most {PartitionsPerTopicMax} partitions.");
        if (validateOnly) return (Protocol.ErrorCode.None, null);
        int before = topic.PartitionCount;
        topic.PartitionCount = count;
        if (!TrySaveTopics("add partitions to " + name))
        {
            topic.PartitionCount = before;
            return (Protocol.ErrorCode.KafkaStorageError, "The topics file could not be written.");
        }
        EnsureLogs(topic);
        return (Protocol.ErrorCode.None, null);
    }

    /// <summary>Replaces (AlterConfigs) or edits (IncrementalAlterConfigs) a topic's overrides. A null value
    /// deletes the override. Validated whole before anything changes.</summary>
    public (Protocol.ErrorCode Error, string? Message) AlterTopicConfig(string name,
        Func<SortedDictionary<string, string>, (Protocol.ErrorCode, string?)> edit, bool validateOnly)
    {
        if (!_topics.TryGetValue(name, out var topic)) return (Protocol.ErrorCode.UnknownTopicOrPartition, $"Topic '{name}' does not exist.");
        var next = new SortedDictionary<string, string>(topic.ConfigOverrides, StringComparer.Ordinal);
        var (error, message) = edit(next);
        if (error != Protocol.ErrorCode.None) return (error, message);
        if (!_brokerDefaults.TryWith(Overrides(next), out var config, out var configError))
            return (Protocol.ErrorCode.InvalidConfig, configError);
        if (validateOnly) return (Protocol.ErrorCode.None, null);
        var previous = new SortedDictionary<string, string>(topic.ConfigOverrides, StringComparer.Ordinal);
        Replace(topic.ConfigOverrides, next);
        if (!TrySaveTopics("alter configs of " + name))
        {
            Replace(topic.ConfigOverrides, previous);
            return (Protocol.ErrorCode.KafkaStorageError, "The topics file could not be written.");
        }
        for (int p = 0; p < topic.PartitionCount; p++)
            if (Replicas.GetPartition(name, p) is { } partition) Replicas.UpdateConfig(partition, config);
        return (Protocol.ErrorCode.None, null);
    }

    private static void Replace(SortedDictionary<string, string> target, SortedDictionary<string, string> source)
    {
        target.Clear();
        foreach (var (k, v) in source) target[k] = v;
    }

    /// <summary>Writes the topics file; a full or failing disk makes the change fail with an error code
    /// (the caller undoes it in memory), never the node.</summary>
    private bool TrySaveTopics(string what)
    {
        try
        {
            _metadata.SaveTopics(_topics.Values);
            return true;
        }
        catch (StorageException e)
        {
            Log.Error("Could not {What}: {Reason}", what, e.Message);
            return false;
        }
    }

    private void EnsureLogs(TopicInfo topic)
    {
        var config = EffectiveConfig(topic);
        for (int p = 0; p < topic.PartitionCount; p++)
            Replicas.GetOrCreatePartition(new TopicPartition(topic.Name, p), config, Clock.WallClockMs);
    }
}
