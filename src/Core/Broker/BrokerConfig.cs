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

    /// <summary>controller.quorum.voters (<c>--controller-quorum</c>): the metadata quorum's voters, each node id,
    /// host and port, in Kafka's syntax <c>1@127.0.0.1:19091,2@127.0.0.1:19092</c> (<see cref="QuorumVoter.ParseList"/>).
    /// Every voter is a controller and a broker (Kafka's combined mode) and is reached at that address. Empty: a
    /// single node that is its own controller, with the local metadata log (no Raft).</summary>
    public IReadOnlyList<QuorumVoter> ControllerQuorumVoters { get; init; } = [];

    /// <summary>controller.quorum.* timers of the metadata quorum (REPLICATION.md).</summary>
    public Raft.RaftConfig ControllerQuorum { get; init; } = new() { DataLog = false };

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

    /// <summary>producer.id.expiration.ms: a partition forgets an idempotent producer that wrote nothing for this
    /// long (checked when a segment rolls). Kafka's default: one day.</summary>
    public long ProducerIdExpirationMs { get; init; } = 86_400_000;

    /// <summary>Test-only: plants a bug (partitions accept any producer sequence, so retries duplicate) so that a
    /// test can show the simulator's idempotence check goes red. Never set in production.</summary>
    public bool TestOnlyIgnoreProducerSequences { get; init; }

    /// <summary>Test-only planted bugs for the simulator's reference model and faults (src/Sim/Reach/PlantedBugs.cs):
    /// ListOffsets by timestamp answers one past the right offset; DeleteRecords skips the log start checkpoint; a
    /// sync's EIO counts as success; an IncrementalAlterConfigs DELETE is ignored. Never set in production.</summary>
    public bool TestOnlyListOffsetsOffByOne { get; init; }
    public bool TestOnlySkipLogStartCheckpoint { get; init; }
    public bool TestOnlyIgnoreSyncErrors { get; init; }
    public bool TestOnlyIgnoreConfigDeletes { get; init; }

    /// <summary>Test-only planted bugs for the simulator's raw requests (src/Sim/Reach/PlantedBugs.cs): a produced
    /// batch's CRC is not checked; LeaveGroup answers without removing the member; EndTxn commits what it was asked
    /// to abort. Never set in production.</summary>
    public bool TestOnlySkipBatchCrc { get; init; }
    public bool TestOnlyIgnoreLeaveGroup { get; init; }
    public bool TestOnlyEndTxnCommitsAborts { get; init; }

    /// <summary>Test-only planted bugs in the metadata quorum's Raft core (REPLICATION.md). Never set in production.</summary>
    public Raft.RaftPlantedBugs TestOnlyRaftBugs { get; init; }

    /// <summary>Test-only: the controller answers an admin request when its proposal is appended to its own log,
    /// not when the quorum commits it, or, without a quorum, before the metadata log's sync completes (the
    /// simulator's planted bug for lost acknowledged topics, in the quorum sweep and in MetadataCrashPoints). Never set
    /// in production.</summary>
    public bool TestOnlyAnswerAdminOnAppend { get; init; }

    /// <summary>log.cold.read.after.ms (DetKafka's own): a segment's bytes that this node has not written, read or read
    /// ahead for this long count as cold, and a fetch that needs them asks the disk to read them ahead and waits for
    /// the completion instead of blocking the driver thread on the read (STORAGE.md, "Cold reads"). 0: every read is
    /// synchronous (in-process tests and tools whose drivers deliver no read completions).</summary>
    public long ColdReadAfterMs { get; init; }

    /// <summary>Test-only: cold segments are read synchronously on the driver thread, as before reads were
    /// asynchronous (the planted bug of the simulator's cold-read-during-a-burst check). Never set in production.</summary>
    public bool TestOnlySynchronousColdReads { get; init; }

    /// <summary>Test-only: a replicated partition answers acks=all when the leader's own sync covers the batch, not
    /// when the high watermark passes it (the planted bug for lost acknowledged records). Never set in production.</summary>
    public bool TestOnlyAnswerAcksAllAtLeaderSync { get; init; }

    /// <summary>replica.lag.time.max.ms: a follower whose fetches have not reached the leader's log end for this long
    /// leaves the ISR (replicated partitions, REPLICATION.md).</summary>
    public long ReplicaLagTimeMaxMs { get; init; } = 30_000;

    /// <summary>min.insync.replicas, the broker default a topic may override.</summary>
    public int MinInSyncReplicas { get; init; } = 1;

    // ---- groups (docs/design/GROUPS.md) ----

    /// <summary>offsets.topic.num.partitions: partitions of __consumer_offsets when it is created.</summary>
    public int OffsetsTopicNumPartitions { get; init; } = 50;

    /// <summary>offsets.topic.replication.factor: replicas of each __consumer_offsets partition when a controller
    /// quorum creates it (capped at the number of brokers; single-node mode has one).</summary>
    public int OffsetsTopicReplicationFactor { get; init; } = 3;

    /// <summary>offsets.topic.segment.bytes.</summary>
    public int OffsetsTopicSegmentBytes { get; init; } = 104_857_600;

    /// <summary>offsets.retention.minutes: offsets of an empty group expire this long after it became empty.</summary>
    public long OffsetsRetentionMinutes { get; init; } = 10_080;

    /// <summary>offsets.retention.check.interval.ms.</summary>
    public long OffsetsRetentionCheckIntervalMs { get; init; } = 600_000;

    /// <summary>offsets.commit.timeout.ms: a commit not durable by then gets COORDINATOR_NOT_AVAILABLE.</summary>
    public int OffsetCommitTimeoutMs { get; init; } = 5_000;

    /// <summary>offset.metadata.max.bytes.</summary>
    public int OffsetMetadataMaxBytes { get; init; } = 4_096;

    /// <summary>group.min.session.timeout.ms / group.max.session.timeout.ms.</summary>
    public int GroupMinSessionTimeoutMs { get; init; } = 6_000;
    public int GroupMaxSessionTimeoutMs { get; init; } = 1_800_000;

    /// <summary>group.initial.rebalance.delay.ms: an empty group's first rebalance waits this long for more members.</summary>
    public int GroupInitialRebalanceDelayMs { get; init; } = 3_000;

    /// <summary>group.max.size.</summary>
    public int GroupMaxSize { get; init; } = int.MaxValue;

    /// <summary>group.consumer.*: KIP-848 consumer groups.</summary>
    public Groups.ConsumerGroupConfig ConsumerGroup { get; init; } = new();

    // ---- transactions (docs/design/TRANSACTIONS.md) ----

    /// <summary>transaction.state.log.num.partitions: partitions of __transaction_state when it is created.</summary>
    public int TransactionStateLogNumPartitions { get; init; } = 50;

    /// <summary>transaction.state.log.replication.factor: replicas of each __transaction_state partition when a
    /// controller quorum creates it (capped at the number of brokers).</summary>
    public int TransactionStateLogReplicationFactor { get; init; } = 3;

    /// <summary>transaction.state.log.segment.bytes.</summary>
    public int TransactionStateLogSegmentBytes { get; init; } = 104_857_600;

    /// <summary>transaction.max.timeout.ms: the largest transaction.timeout.ms a producer may ask for.</summary>
    public int TransactionMaxTimeoutMs { get; init; } = 900_000;

    /// <summary>transaction.abort.timed.out.transaction.cleanup.interval.ms: how often timed-out transactions are aborted.</summary>
    public int TransactionAbortTimedOutTransactionCleanupIntervalMs { get; init; } = 10_000;

    /// <summary>transactional.id.expiration.ms: a transactional id with no transaction in progress and no update for
    /// this long is forgotten (a tombstone in __transaction_state); its next InitProducerId starts afresh.</summary>
    public long TransactionalIdExpirationMs { get; init; } = 604_800_000;

    /// <summary>transaction.remove.expired.transaction.cleanup.interval.ms: how often expired ids are looked for.</summary>
    public int TransactionRemoveExpiredTransactionCleanupIntervalMs { get; init; } = 3_600_000;
}
