using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Produce (key 0). Serves 3-9 with record batch v2 only; 0 is advertised because librdkafka compresses only
/// when the Produce range includes 0, and v0-2 requests (old message formats) get UNSUPPORTED_VERSION per
/// partition. Each partition's records are validated and appended by its <see cref="UnifiedLog"/>.
/// acks=0: no response. acks=1 and acks=-1 (all; the only replica is this one): the response waits in the
/// purgatory until the appended offsets are synced, unless the topic relaxed flush.messages/flush.ms.
/// The hot path allocates nothing in steady state: requests decode into one reused instance, and each
/// request's response and waits live in a pooled <see cref="DelayedProduce"/>.
/// </summary>
public sealed class ProduceHandler : ApiHandler
{
    /// <summary>Idle <see cref="DelayedProduce"/>s kept for reuse.</summary>
    private const int PoolCapacity = 1024;

    /// <summary>A decoded request larger than this many topics and partitions is not kept for reuse.</summary>
    private const int ReusedEntriesMax = 64;

    /// <summary>Oldest version with record batch v2.</summary>
    private const short FirstBatchV2Version = 3;

    private readonly ObjectPool<DelayedProduce> _pool;
    private ProduceRequest _decoded = new();
    private bool _handling;

    public ProduceHandler(BrokerNode broker) : base(broker)
        => _pool = new ObjectPool<DelayedProduce>(() => new DelayedProduce(broker, _pool!), PoolCapacity);

    public override ApiKey Key => ApiKey.Produce;
    public override short MinVersion => 0;
    public override short MaxVersion => 9;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        // Handling never nests: an answer does not run other requests (the node resumes connections at the end
        // of the input step), so the one decoded instance serves every request.
        Check.That(!_handling, "a produce is handled to the end before the next");
        var produce = _decoded;
        _handling = true;
        try
        {
            produce.ReadFrom(ref body, request.Version);
            Handle(request, produce);
        }
        finally
        {
            produce.ReleaseRecords();
            int entries = produce.TopicData.Count;
            foreach (var t in produce.TopicData) entries += t.PartitionData.Count;
            if (entries > ReusedEntriesMax) _decoded = new ProduceRequest();
            _handling = false;
        }
    }

    private void Handle(RequestContext request, ProduceRequest produce)
    {
        var delayed = _pool.Rent();
        delayed.Begin(request);
        ErrorCode requestError = request.Version < FirstBatchV2Version ? ErrorCode.UnsupportedVersion
            : produce.Acks is not (-1 or 0 or 1) ? ErrorCode.InvalidRequiredAcks
            : ErrorCode.None;

        long wallNow = Broker.Clock.WallClockMs;
        var topics = produce.TopicData;
        for (int i = 0; i < topics.Count; i++)
        {
            var topic = topics[i];
            var topicResponse = delayed.Topic(i, topic.Name);
            for (int j = 0; j < topic.PartitionData.Count; j++)
            {
                var partition = topic.PartitionData[j];
                var p = delayed.Partition(topicResponse, j, partition.Index);
                p.BaseOffset = -1;
                if (requestError != ErrorCode.None)
                {
                    p.ErrorCode = requestError;
                    continue;
                }
                if (Groups.GroupRecords.IsInternalTopic(topic.Name))
                {
                    // Kafka: clients cannot append to an internal topic; only the coordinator writes there.
                    p.ErrorCode = ErrorCode.InvalidTopicException;
                    p.ErrorMessage = "Cannot append to internal topic " + topic.Name;
                    continue;
                }
                var replica = Broker.Replicas.GetPartition(topic.Name, partition.Index);
                if (replica is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    continue;
                }
                if (!replica.IsLeader)
                {
                    // Produce v10's CurrentLeader field is past the served range: the client refreshes its metadata.
                    p.ErrorCode = ErrorCode.NotLeaderOrFollower;
                    continue;
                }
                if (partition.Records is not { Length: > 0 } records)
                {
                    p.ErrorCode = ErrorCode.CorruptMessage;
                    p.ErrorMessage = "no records";
                    p.LogStartOffset = replica.LogStartOffset;
                    continue;
                }
                // Transactions: a transactional batch must belong to the producer's ongoing transaction, which
                // must include this partition (TRANSACTIONS.md, the KIP-890 check these clients allow).
                var txnError = Broker.Transactions.CheckProduce(records.Span, topic.Name, partition.Index);
                if (txnError != ErrorCode.None)
                {
                    p.ErrorCode = txnError;
                    p.LogStartOffset = replica.LogStartOffset;
                    continue;
                }
                if (replica.Replica is not null)
                {
                    // A replicated partition: its Raft replica checks leadership and min.insync.replicas, appends in
                    // its epoch, and says when the producer may be answered (PartitionReplica.Completion).
                    var appended = Broker.ProduceReplicated(replica, records, produce.Acks, wallNow);
                    p.LogStartOffset = replica.LogStartOffset;
                    if (appended.Error != ErrorCode.None)
                    {
                        p.ErrorCode = appended.Error;
                        p.ErrorMessage = appended.ErrorMessage;
                        continue;
                    }
                    Broker.Observer.RecordsAppended(topic.Name, partition.Index, records.Length, appended.Result.RecordCount);
                    p.BaseOffset = appended.BaseOffset;
                    p.LogAppendTimeMs = appended.Result.LogAppendTimeMs;
                    if (produce.Acks != 0) delayed.AddReplicatedWait(replica, appended, produce.Acks, p);
                    continue;
                }
                var result = Broker.Replicas.AppendRecordsToLeader(replica, records, wallNow);
                p.LogStartOffset = result.LogStartOffset;
                if (result.Error != ErrorCode.None)
                {
                    p.ErrorCode = result.Error;
                    p.ErrorMessage = result.ErrorMessage;
                    // Bad input gets a log line as well as its error code; storage failures are logged by the log.
                    if (result.Error is ErrorCode.CorruptMessage or ErrorCode.InvalidRecord or ErrorCode.UnsupportedCompressionType
                        or ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge or ErrorCode.UnsupportedForMessageFormat)
                        Broker.Log.Warn("Rejected a produce to {Topic}-{Partition} from {Connection}: {Error} {Message}",
                            topic.Name, partition.Index, request.Connection, result.Error, result.ErrorMessage);
                    continue;
                }
                Broker.Observer.RecordsAppended(topic.Name, partition.Index, records.Length, result.RecordCount);
                p.BaseOffset = result.BaseOffset;
                p.LogAppendTimeMs = result.LogAppendTimeMs;
                if (produce.Acks != 0) delayed.AddWait(replica, result.LastOffset + 1, p);
            }
            DelayedProduce.EndPartitions(topicResponse, topic.PartitionData.Count);
        }
        delayed.EndTopics(topics.Count);

        // Group commit: one sync per log covers every append made so far, this request's included.
        Broker.Replicas.StartSyncs(Broker.Clock.MonotonicMs);

        if (produce.Acks == 0)
        {
            // No response exists to carry an error: Kafka closes the connection so the client notices.
            if (delayed.AnyPartitionFailed())
                Broker.CloseConnectionFor(request, "acks=0 produce failed on at least one partition");
            else
                request.CompleteWithoutResponse();
            delayed.Release();
            return;
        }
        if (delayed.TryComplete()) delayed.Release();
        else Broker.Purgatory.Add(delayed, Broker.Clock.MonotonicMs + Math.Max(0, produce.TimeoutMs));
    }
}
