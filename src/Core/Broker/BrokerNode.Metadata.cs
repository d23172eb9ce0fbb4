using DetKafka.Core.Abstractions;
using DetKafka.Core.Metadata;
using DetKafka.Core.Protocol;

namespace DetKafka.Core.Broker;

// Topic metadata as a log (issue 16 item 6). A topic change is proposed as a batch of metadata records: it is
// validated against the controller's view (published image + proposals in flight), appended to the metadata log,
// applied to the controller's view at once, and published (the topic image every handler reads, the partition
// logs created or deleted, configs pushed to the partitions) only when the log says it is committed. Admin
// handlers answer from the commit callback (WhenMetadataResolved), never before: a change a client was told about
// survives a crash. With the Raft metadata quorum, "committed" becomes "committed by the quorum" and this file
// does not change.
public sealed partial class BrokerNode
{
    private MetadataLog _metadataLog = null!;
    private MetadataImage _published = null!;
    private MetadataImage _controller = null!;

    /// <summary>The node's metadata log (tests and the simulator read its offsets).</summary>
    public MetadataLog MetadataLog => _metadataLog;

    /// <summary>A topic as the controller sees it (committed or proposed): what admin requests are validated against.</summary>
    internal TopicInfo? FindControllerTopic(string name) => _controller.ByName.GetValueOrDefault(name);

    internal TopicInfo? FindControllerTopic(Guid id) => id == Guid.Empty ? null : _controller.FindById(id);

    private void InitializeMetadata()
    {
        _published = new MetadataImage(_topics);
        _controller = _published.Copy();
        _metadataLog = new MetadataLog(Disk, Config.DataDirectory, Log, new CommitListener(this));
    }

    /// <summary>Start-up: replay the snapshot and the log into the published image (no side effects: the partition
    /// logs are opened after it), migrating a data directory that still has the old topics file.</summary>
    private void RecoverMetadata()
    {
        foreach (var batch in _metadataLog.Recover())
            foreach (var record in batch) _published.Apply(record);
        if (_metadata.LegacyTopicsFileExists)
        {
            if (!_metadataLog.HasContent)
            {
                // The pre-log format: one file with every topic. Its content becomes the log's first batch, made
                // durable before the old file goes; a crash in between finds both and keeps the log.
                var legacy = new SortedDictionary<string, TopicInfo>(StringComparer.Ordinal);
                foreach (var t in _metadata.LoadLegacyTopics()) legacy.Add(t.Name, t);
                var records = new MetadataImage(legacy).ToRecords(Config.NodeId);
                if (records.Count > 0) CommitMetadataRecordsNow(records, "migrate the topics file into the metadata log");
                Log.Info("Migrated {Count} topics from the old topics file into the metadata log", legacy.Count);
            }
            _metadata.DeleteLegacyTopicsFile();
        }
        if (_metadata.LegacyProducerIdsFileExists)
        {
            // The pre-log producer-ids file: its block becomes a ProducerIdsRecord, durable before the file goes. A
            // damaged file (null) adds nothing: start-up continues past the largest producer id the logs hold.
            long next = _metadata.LoadLegacyNextProducerId() ?? 0;
            if (next > _published.NextProducerId) CommitMetadataRecordsNow([new ProducerIdsRecord(Config.NodeId, next)], "migrate the producer-ids file");
            _metadata.DeleteLegacyProducerIdsFile();
            Log.Info("Migrated the producer id block {Next} from the old producer-ids file into the metadata log", next);
        }
        _controller = _published.Copy();
    }

    /// <summary>Appends records and syncs them at once (start-up migrations); throws when they cannot be made durable.</summary>
    private void CommitMetadataRecordsNow(List<MetadataRecord> records, string what)
    {
        var status = _metadataLog.Append(records, out _, requestSync: false);
        if (status == DiskStatus.Ok) status = _metadataLog.CommitNow();
        if (status != DiskStatus.Ok) throw new StorageException($"could not {what}: the metadata log write failed ({status})", status);
    }

    /// <summary>Records that producer ids below <paramref name="next"/> are taken and waits until that is durable
    /// (Kafka's controller answers AllocateProducerIds once its ProducerIdsRecord commits).</summary>
    private void CommitProducerIdBlock(long next)
    {
        long offset = -1;
        var (error, _) = Synchronously(() => Propose([new ProducerIdsRecord(Config.NodeId, next)], "take a producer id block", out offset));
        if (error != ErrorCode.None || !CommitMetadataNow(offset))
            throw new StorageException("the producer id block could not be committed to the metadata log", DiskStatus.IoError);
        Log.Info("Producer ids below {Next} are taken (metadata log offset {Offset})", next, offset);
    }

    private void OnMetadataSyncCompleted(long token, DiskStatus status)
    {
        _metadataLog.OnSyncCompleted(token, status);
        MaybeSnapshotMetadata();
    }

    /// <summary>Compacts the metadata log into a snapshot of the published image when enough was appended.</summary>
    private void MaybeSnapshotMetadata()
    {
        if (_metadataLog.SnapshotDue) _metadataLog.WriteSnapshot(_published.ToRecords(Config.NodeId));
    }

    /// <summary>Appends a proposal and applies it to the controller's view. KafkaStorageError when it cannot be
    /// written (nothing changed then).</summary>
    private (ErrorCode Error, string? Message) Propose(List<MetadataRecord> records, string what, out long offset)
    {
        if (IsQuorumMode) return ProposeToQuorum(records, what, out offset);
        // The synchronous API (CommitMetadataNow next) syncs at once instead of requesting a sync.
        var status = _metadataLog.Append(records, out offset, requestSync: !_proposingSynchronously);
        if (status != DiskStatus.Ok)
        {
            Log.Error("Could not {What}: the metadata log write failed ({Status})", what, status);
            return (ErrorCode.KafkaStorageError, MetadataWriteFailed);
        }
        foreach (var record in records) _controller.Apply(record);
        return (ErrorCode.None, null);
    }

    /// <summary>Blocks until <paramref name="offset"/> is durable (the synchronous API: start-up, tools, tests, the
    /// rare internal callers that cannot wait for an input). True when it was committed.</summary>
    private bool CommitMetadataNow(long offset)
    {
        // A quorum commits in later steps: the synchronous API cannot wait for it here (only what is applied counts).
        if (IsQuorumMode) return offset >= 0 && offset <= _appliedMetadataOffset;
        _metadataLog.CommitNow();
        MaybeSnapshotMetadata();
        return offset <= _metadataLog.CommittedOffset;
    }

    /// <summary>Set while a synchronous topic change (CreateTopic, DeleteTopic, ... called directly) proposes.</summary>
    private bool _proposingSynchronously;

    private T Synchronously<T>(Func<T> propose)
    {
        _proposingSynchronously = true;
        try { return propose(); }
        finally { _proposingSynchronously = false; }
    }

    /// <summary>
    /// Calls <paramref name="then"/> once every change this request proposed (up to <paramref name="offset"/>; -1 for
    /// none) is committed or abandoned, with the last committed offset: an offset at or below it was committed.
    /// </summary>
    internal void WhenMetadataResolved(long offset, Action<long> then)
    {
        if (IsQuorumMode)
        {
            if (offset < 0) then(_appliedMetadataOffset);
            else if (Config.TestOnlyAnswerAdminOnAppend) then(offset); // planted bug: "committed" on the local append
            else WhenQuorumResolved(offset, then);
            return;
        }
        if (offset < 0) then(_metadataLog.CommittedOffset);
        else if (Config.TestOnlyAnswerAdminOnAppend) then(offset); // planted bug: answered before the sync completes
        else _metadataLog.WhenResolved(offset, then);
    }

    /// <summary>What a request whose metadata change was abandoned (a failed sync) is told.</summary>
    internal const string MetadataWriteFailed = "The metadata log could not be written.";

    /// <summary>The admin handlers' answer: once every change proposed for the request is committed or abandoned,
    /// <paramref name="abandoned"/> marks the result of each that was abandoned, then <paramref name="respond"/>.</summary>
    internal void AnswerWhenResolved<T>(List<(T Result, long Offset)> proposed, Action<T> abandoned, Action respond)
        => WhenMetadataResolved(proposed.Count == 0 ? -1 : proposed[^1].Offset, committed =>
        {
            foreach (var (result, offset) in proposed)
                if (offset > committed) abandoned(result);
            respond();
        });

    /// <summary>A committed batch reaches the published image; once started, the partition layer follows it.</summary>
    private void PublishCommitted(IReadOnlyList<MetadataRecord> records)
    {
        var touched = new List<TopicInfo>();
        var configChanged = new HashSet<TopicInfo>(ReferenceEqualityComparer.Instance);
        foreach (var record in records)
        {
            var topic = _published.Apply(record);
            if (topic is null) continue;
            if (!touched.Contains(topic)) touched.Add(topic);
            if (record is ConfigRecord) configChanged.Add(topic);
        }
        if (!_started) return;
        foreach (var topic in touched)
        {
            bool removed = !_topics.TryGetValue(topic.Name, out var current) || !ReferenceEquals(current, topic);
            if (removed)
            {
                for (int p = 0; p < topic.PartitionCount; p++) Replicas.DeletePartition(new TopicPartition(topic.Name, p));
                Purgatory.OnTopicDeleted(topic.Name, topic.PartitionCount);
                Log.Info("Deleted topic {Topic}", topic.Name);
                continue;
            }
            EnsureLogs(topic);
            if (configChanged.Contains(topic))
            {
                var config = EffectiveConfig(topic);
                for (int p = 0; p < topic.PartitionCount; p++)
                    if (Replicas.GetPartition(topic.Name, p) is { } partition) Replicas.UpdateConfig(partition, config);
            }
        }
    }

    private sealed class CommitListener(BrokerNode node) : IMetadataCommitListener
    {
        public void OnCommitted(long lastOffset, IReadOnlyList<MetadataRecord> records) => node.PublishCommitted(records);

        // Nobody was told the abandoned proposals succeeded: the controller's view goes back to what is committed.
        public void OnAbandoned() => node._controller.ResetTo(node._published);
    }
}
