using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
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

    /// <summary>Producer ids are taken in blocks of this many (Kafka: 1000), one metadata-log commit per block.</summary>
    internal const long ProducerIdBlockSize = 1000;
    private long _nextProducerId;
    private long _producerIdBlockEnd;

    public string ClusterId { get; private set; } = "";

    /// <summary>
    /// A producer id no producer of this cluster had before (InitProducerId). A new block is a ProducerIdsRecord
    /// committed to the metadata log before its first id is handed out, so a crash can skip ids but never repeat
    /// one. Throws <see cref="StorageException"/> when the block cannot be committed.
    /// </summary>
    internal long AllocateProducerId()
    {
        Check.That(_started, "producer ids are handed out once the node has started");
        if (_nextProducerId == _producerIdBlockEnd)
        {
            // A quorum commits a block in later steps (BrokerNode.ProducerIds.cs): asked for now, none to hand out yet.
            if (IsQuorumMode)
            {
                RequestProducerIdBlock();
                throw new StorageException("no producer id block yet (one is being allocated by the controller)", DiskStatus.IoError);
            }
            long end = checked(Math.Max(_producerIdBlockEnd, _controller.NextProducerId) + ProducerIdBlockSize);
            CommitProducerIdBlock(end);
            _nextProducerId = Math.Max(_nextProducerId, end - ProducerIdBlockSize);
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

    /// <summary>Which segment reads are cold and the read-aheads in flight (STORAGE.md, "Cold reads").</summary>
    public Partitions.ColdReads ColdReads { get; private set; } = null!;

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
        InitializeMetadata();
        Purgatory = new Purgatory(this);
        Replicas = new Partitions.ReplicaManager(this);
        ColdReads = new Partitions.ColdReads(this);
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
        ClusterId = IsQuorumMode ? QuorumClusterId() : _metadata.LoadOrCreateClusterId(Config.NodeId, Random);
        // With a quorum the metadata is the Raft log's, applied as the quorum commits it (BrokerNode.Quorum.cs).
        if (IsQuorumMode) StartQuorum();
        else RecoverMetadata();
        _logs = new LogManager(Disk, Config.DataDirectory, Log);
        var found = _logs.LoadAll(name => _topics.TryGetValue(name, out var t) ? EffectiveConfig(t) : _brokerDefaults, Clock.WallClockMs);
        foreach (var tp in found)
        {
            // A crash between writing the topics file and deleting a topic's logs leaves orphans: finish the delete.
            // With a quorum the topics are not known yet (they arrive as the log commits): nothing is an orphan yet.
            if (!IsQuorumMode && (!_topics.TryGetValue(tp.Topic, out var t) || tp.Partition >= t.PartitionCount))
            {
                Log.Warn("Deleting orphaned log {TopicPartition}: its topic or partition no longer exists", tp);
                _logs.DeleteLog(tp);
            }
        }
        Replicas.LoadAll();
        foreach (var t in _topics.Values) EnsureLogs(t);
        // Ids of a block handed out before a crash are never reused: the next block starts past every committed block,
        // and past every id a partition has seen (the only record left when an old producer-ids file was damaged).
        long largestSeen = -1;
        foreach (var log in _logs.Logs) largestSeen = Math.Max(largestSeen, log.Producers.LargestProducerId);
        _nextProducerId = _producerIdBlockEnd = Math.Max(_published.NextProducerId, largestSeen + 1);
        _started = true;
        Groups.Load();
        Transactions.Load();
        long now = Clock.MonotonicMs;
        _nextRetentionMs = now + Math.Max(1, Config.LogRetentionCheckIntervalMs);
        if (Config.LogCleaner.Enable) _nextCleanerStepMs = now + Math.Max(1, Config.LogCleaner.BackoffMs);
        Log.Info("Node {NodeId} started: cluster {ClusterId}, {Topics} topics, {Logs} partition logs",
            Config.NodeId, ClusterId, _topics.Count, _logs.Count);
    }

    /// <summary>A disk request finished: a sync requested through <see cref="IDiskFile.RequestSync"/>, or a read
    /// ahead requested through <see cref="IDiskFile.RequestRead"/> (tokens from <see cref="Partitions.ColdReads.TokenBase"/>).</summary>
    public void OnSyncCompleted(long token, DiskStatus status)
    {
        if (!_started) return;
        if (Partitions.ColdReads.IsReadToken(token)) ColdReads.OnCompleted(token, status);
        else
        {
            if (Config.TestOnlyIgnoreSyncErrors) status = DiskStatus.Ok;
            if (TryRaftSyncCompleted(token, status)) { }
            else if (Metadata.MetadataLog.IsMetadataToken(token)) OnMetadataSyncCompleted(token, status);
            else Replicas.OnSyncCompleted(token, status, Clock.MonotonicMs);
        }
        EndStep();
    }

    /// <summary>Sync everything and stop: the host calls this on SIGTERM after draining in-flight writes.</summary>
    public void Shutdown()
    {
        if (!_started) return;
        Replicas.FlushAll();
        _metadataLog.CommitNow();
        Purgatory.OnShutdown();
        // Answers above may have freed connections with requests buffered: a stopping node does not run them.
        foreach (var connection in _resume) connection.ResumeScheduled = false;
        _resume.Clear();
        _logs.Dispose();
        _metadataLog.Dispose();
        _metadataRaftLog?.Dispose();
        _metadataQuorumStore?.Dispose();
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

    /// <summary>Creates a topic (or only validates it) and waits until the change is durable: the synchronous form
    /// of <see cref="ProposeCreateTopic"/> (start-up, tools, tests, internal topics). Returns an error code and message.</summary>
    public (Protocol.ErrorCode Error, string? Message) CreateTopic(string name, int partitions,
        IReadOnlyList<KeyValuePair<string, string?>> configs, bool validateOnly, out TopicInfo? created)
    {
        long offset = -1;
        TopicInfo? proposed = null;
        var result = Synchronously(() => ProposeCreateTopic(name, partitions, configs, validateOnly, out proposed, out offset));
        created = proposed;
        if (result.Error != Protocol.ErrorCode.None || validateOnly) return result;
        created = null;
        if (!CommitMetadataNow(offset)) return (Protocol.ErrorCode.KafkaStorageError, MetadataWriteFailed);
        created = FindTopic(name);
        return result;
    }

    /// <summary>Validates a topic creation against the controller's view and proposes it (TopicRecord, a
    /// PartitionRecord per partition, a ConfigRecord per override). <paramref name="created"/> describes the topic
    /// as it will be; it exists for everyone else once <paramref name="offset"/> commits.</summary>
    internal (Protocol.ErrorCode Error, string? Message) ProposeCreateTopic(string name, int partitions,
        IReadOnlyList<KeyValuePair<string, string?>> configs, bool validateOnly, out TopicInfo? created, out long offset, int replicationFactor = -1)
    {
        created = null;
        offset = -1;
        if (NotControllerError() is { } notController) return notController;
        if (TopicInfo.ValidateName(name) is { } invalid) return (Protocol.ErrorCode.InvalidTopicException, invalid);
        if (_controller.ByName.ContainsKey(name)) return (Protocol.ErrorCode.TopicAlreadyExists, $"Topic '{name}' already exists.");
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
        if (replicationFactor == -1) replicationFactor = 1;
        if (replicationFactor < 1 || replicationFactor > ClusterBrokers.Count)
            return (Protocol.ErrorCode.InvalidReplicationFactor,
                $"Replication factor {replicationFactor} is larger than the {ClusterBrokers.Count} available broker{(ClusterBrokers.Count == 1 ? "" : "s")}.");
        // Unique among the topics the controller knows: a node restarted with the same random stream (a harness that
        // restarts with its seed) could draw an id a surviving topic already has, and one id for two topics breaks the image.
        Guid topicId;
        do topicId = Random.NextUuid(); while (topicId == Guid.Empty || _controller.FindById(topicId) is not null);
        var topic = new TopicInfo(name, topicId, partitions, overrides);
        created = topic;
        if (validateOnly) return (Protocol.ErrorCode.None, null);
        var records = new List<Metadata.MetadataRecord>(partitions + overrides.Count + 1) { new Metadata.TopicRecord(name, topic.TopicId) };
        for (int p = 0; p < partitions; p++) records.Add(NewPartitionRecord(topic.TopicId, name, p, replicationFactor));
        foreach (var (k, v) in overrides) records.Add(new Metadata.ConfigRecord(Metadata.ConfigRecord.TopicResource, name, k, v));
        foreach (var r in records)
            if (r is Metadata.PartitionRecord pr) topic.Replicas.Add(pr.Replicas.ToArray());
        var result = Propose(records, "create topic " + name, out offset);
        if (result.Error != Protocol.ErrorCode.None) created = null;
        else Log.Info("Created topic {Topic} with {Partitions} partitions", name, partitions);
        return result;
    }

    public const int PartitionsPerTopicMax = 10_000;

    /// <summary>A new partition's record: this node alone, or (quorum) placed over the voters.</summary>
    private Metadata.PartitionRecord NewPartitionRecord(Guid topicId, string topic, int partition, int factor)
    {
        if (!IsQuorumMode) return new Metadata.PartitionRecord(topicId, partition, Config.NodeId, 0, [Config.NodeId]);
        var replicas = PlaceReplicas(Config.ControllerQuorumVoters, topic, partition, Math.Min(factor, Config.ControllerQuorumVoters.Count));
        return new Metadata.PartitionRecord(topicId, partition, replicas[0], 0, replicas);
    }

    /// <summary>Deletes a topic and waits until the change is durable (synchronous form of <see cref="ProposeDeleteTopic"/>).</summary>
    public Protocol.ErrorCode DeleteTopic(string name)
    {
        long offset = -1;
        var error = Synchronously(() => ProposeDeleteTopic(name, out offset));
        if (error != Protocol.ErrorCode.None) return error;
        return CommitMetadataNow(offset) ? Protocol.ErrorCode.None : Protocol.ErrorCode.KafkaStorageError;
    }

    /// <summary>Proposes a RemoveTopicRecord; the logs are deleted when it commits (a crash after the commit and
    /// before the delete leaves orphan logs that start-up deletes).</summary>
    internal Protocol.ErrorCode ProposeDeleteTopic(string name, out long offset)
    {
        offset = -1;
        if (NotControllerError() is { } notController) return notController.Error;
        // The coordinator's state lives there: deleting it would drop every group's offsets under them.
        if (DetKafka.Core.Groups.GroupRecords.IsInternalTopic(name)) return Protocol.ErrorCode.InvalidRequest;
        if (!_controller.ByName.TryGetValue(name, out var topic)) return Protocol.ErrorCode.UnknownTopicOrPartition;
        return Propose([new Metadata.RemoveTopicRecord(topic.TopicId)], "delete topic " + name, out offset).Error;
    }

    /// <summary>Grows a topic and waits until the change is durable (synchronous form of <see cref="ProposeCreatePartitions"/>).</summary>
    public (Protocol.ErrorCode Error, string? Message) CreatePartitions(string name, int count, bool validateOnly)
    {
        long offset = -1;
        var result = Synchronously(() => ProposeCreatePartitions(name, count, validateOnly, out offset));
        if (result.Error != Protocol.ErrorCode.None || validateOnly) return result;
        return CommitMetadataNow(offset) ? result : (Protocol.ErrorCode.KafkaStorageError, MetadataWriteFailed);
    }

    internal (Protocol.ErrorCode Error, string? Message) ProposeCreatePartitions(string name, int count, bool validateOnly, out long offset)
    {
        offset = -1;
        if (NotControllerError() is { } notController) return notController;
        if (!_controller.ByName.TryGetValue(name, out var topic)) return (Protocol.ErrorCode.UnknownTopicOrPartition, $"Topic '{name}' does not exist.");
        if (count <= topic.PartitionCount)
            return (Protocol.ErrorCode.InvalidPartitions, $"Topic currently has {topic.PartitionCount} partitions, which is higher than or equal to the requested {count}.");
        if (count > PartitionsPerTopicMax) return (Protocol.ErrorCode.InvalidPartitions, $"At most {PartitionsPerTopicMax} partitions.");
        if (validateOnly) return (Protocol.ErrorCode.None, null);
        var records = new List<Metadata.MetadataRecord>(count - topic.PartitionCount);
        int factor = topic.Replicas.Count > 0 ? topic.Replicas[0].Length : 1;
        for (int p = topic.PartitionCount; p < count; p++) records.Add(NewPartitionRecord(topic.TopicId, name, p, factor));
        return Propose(records, "add partitions to " + name, out offset);
    }

    /// <summary>Replaces (AlterConfigs) or edits (IncrementalAlterConfigs) a topic's overrides and waits until the
    /// change is durable (synchronous form of <see cref="ProposeAlterTopicConfig"/>).</summary>
    public (Protocol.ErrorCode Error, string? Message) AlterTopicConfig(string name,
        Func<SortedDictionary<string, string>, (Protocol.ErrorCode, string?)> edit, bool validateOnly)
    {
        long offset = -1;
        var result = Synchronously(() => ProposeAlterTopicConfig(name, edit, validateOnly, out offset));
        if (result.Error != Protocol.ErrorCode.None || validateOnly || offset < 0) return result;
        return CommitMetadataNow(offset) ? result : (Protocol.ErrorCode.KafkaStorageError, MetadataWriteFailed);
    }

    /// <summary>A null value deletes the override. Validated whole before anything is proposed; proposes one
    /// ConfigRecord per key that changes (none when nothing does: offset stays -1).</summary>
    internal (Protocol.ErrorCode Error, string? Message) ProposeAlterTopicConfig(string name,
        Func<SortedDictionary<string, string>, (Protocol.ErrorCode, string?)> edit, bool validateOnly, out long offset)
    {
        offset = -1;
        if (NotControllerError() is { } notController) return notController;
        if (!_controller.ByName.TryGetValue(name, out var topic)) return (Protocol.ErrorCode.UnknownTopicOrPartition, $"Topic '{name}' does not exist.");
        var next = new SortedDictionary<string, string>(topic.ConfigOverrides, StringComparer.Ordinal);
        var (error, message) = edit(next);
        if (error != Protocol.ErrorCode.None) return (error, message);
        if (!_brokerDefaults.TryWith(Overrides(next), out _, out var configError))
            return (Protocol.ErrorCode.InvalidConfig, configError);
        if (validateOnly) return (Protocol.ErrorCode.None, null);
        var records = new List<Metadata.MetadataRecord>();
        foreach (var key in topic.ConfigOverrides.Keys)
            if (!next.ContainsKey(key)) records.Add(new Metadata.ConfigRecord(Metadata.ConfigRecord.TopicResource, name, key, null));
        foreach (var (k, v) in next)
            if (!topic.ConfigOverrides.TryGetValue(k, out var old) || old != v)
                records.Add(new Metadata.ConfigRecord(Metadata.ConfigRecord.TopicResource, name, k, v));
        if (records.Count == 0) return (Protocol.ErrorCode.None, null);
        return Propose(records, "alter configs of " + name, out offset);
    }

    private void EnsureLogs(TopicInfo topic)
    {
        var config = EffectiveConfig(topic);
        for (int p = 0; p < topic.PartitionCount; p++)
        {
            if (IsReplicatedPartition(topic, p))
            {
                EnsureReplicatedPartition(topic, p, config);
                continue;
            }
            Replicas.GetOrCreatePartition(new TopicPartition(topic.Name, p), config, Clock.WallClockMs).LeadAlone();
        }
    }
}
