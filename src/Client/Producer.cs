using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Client;

/// <summary>Settings of <see cref="Producer"/>, named after the Java producer's configs.</summary>
public sealed record ProducerOptions
{
    /// <summary>acks: 0 (no response), 1 (leader wrote it), -1 (all in-sync replicas have it).</summary>
    public short Acks { get; init; } = -1;

    /// <summary>linger.ms: how long a batch waits for more records before it is sent.</summary>
    public int LingerMs { get; init; } = 5;

    /// <summary>Records and bytes a batch holds at most (batch.size counts bytes; the record bound keeps batches
    /// small in the simulator).</summary>
    public int BatchRecordsMax { get; init; } = 500;
    public int BatchBytesMax { get; init; } = 16 * 1024;

    /// <summary>retries: how many times a batch is re-sent after a retriable failure.</summary>
    public int Retries { get; init; } = int.MaxValue;

    /// <summary>retry.backoff.ms.</summary>
    public int RetryBackoffMs { get; init; } = 100;

    /// <summary>delivery.timeout.ms: a record not acknowledged this long after Send fails (or is reported unknown).</summary>
    public int DeliveryTimeoutMs { get; init; } = 120_000;

    /// <summary>The timeout_ms sent in Produce: how long the broker may wait for the acks.</summary>
    public int AckTimeoutMs { get; init; } = 30_000;

    /// <summary>buffer.memory, counted in records: Send refuses more than this many unacknowledged records.</summary>
    public int BufferedRecordsMax { get; init; } = 10_000;

    /// <summary>compression.type: the codec every batch is compressed with (none, gzip, snappy, lz4, zstd).</summary>
    public CompressionCodec Compression { get; init; } = CompressionCodec.None;

    /// <summary>enable.idempotence: the producer takes a producer id (InitProducerId) and numbers each partition's
    /// batches, so the broker writes a retried batch once and in order. Needs acks=all, as Kafka's producer does.</summary>
    public bool EnableIdempotence { get; init; }

    public void Validate()
    {
        if (Acks is not (-1 or 0 or 1)) throw new ArgumentException("acks must be -1, 0 or 1");
        if (LingerMs < 0 || BatchRecordsMax <= 0 || BatchBytesMax <= 0) throw new ArgumentException("bad batching bounds");
        if (Retries < 0 || RetryBackoffMs <= 0 || DeliveryTimeoutMs <= 0 || AckTimeoutMs < 0) throw new ArgumentException("bad retry settings");
        if (BufferedRecordsMax <= 0) throw new ArgumentException("buffer bound must be positive");
        if (EnableIdempotence && Acks != -1) throw new ArgumentException("enable.idempotence requires acks=all");
        if (Compression != CompressionCodec.None && Records.Compression.CompressionCodecs.For(Compression) is null)
            throw new ArgumentException($"unknown compression codec {Compression}");
    }
}

/// <summary>A record to send. <paramref name="Partition"/> -1 lets the producer pick one round robin.
/// <paramref name="TimestampMs"/> null stamps it with the client's wall clock at <see cref="Producer.Send"/>.</summary>
public sealed record ProducerRecord(string Topic, int Partition, byte[]? Key, byte[]? Value, long? TimestampMs = null,
    IReadOnlyList<RecordHeader>? Headers = null);

/// <summary>
/// What became of a record. <see cref="DeliveryOutcome.Acked"/>: written at <see cref="DeliveryReport.Offset"/>.
/// <see cref="DeliveryOutcome.Failed"/>: definitely not written (every attempt was refused before any write).
/// <see cref="DeliveryOutcome.Unknown"/>: maybe written (a connection broke or a request timed out after it was
/// sent, the broker could not confirm durability, or acks=0); <see cref="DeliveryReport.Error"/> says what
/// happened last (None for acks=0).
/// </summary>
public enum DeliveryOutcome { Acked, Failed, Unknown }

public sealed record DeliveryReport(ProducerRecord Record, TopicPartition Partition, DeliveryOutcome Outcome, long Offset,
    ErrorCode Error, string? Message);

/// <summary>What became of a batch given to <see cref="Producer.SendBatch"/>: one report for all its records.
/// <see cref="BaseOffset"/> is the first record's offset when acknowledged, else -1.</summary>
public readonly record struct BatchDeliveryReport(TopicPartition Partition, int RecordCount, DeliveryOutcome Outcome, long BaseOffset,
    ErrorCode Error, string? Message);

/// <summary>
/// A Kafka producer over <see cref="KafkaClient"/>: records accumulate per partition into batches (record
/// batch v2, compressed with <see cref="ProducerOptions.Compression"/>: none, gzip, snappy, lz4 or zstd), a batch goes when full, after linger.ms or on <see cref="Flush"/>, one Produce
/// request per leader carries at most one batch per partition, and several requests may be in flight per
/// connection. Retriable failures re-send the same batch bytes after retry.backoff.ms, while retries and
/// delivery.timeout.ms allow. Without idempotence a retry after an ambiguous failure can write a batch twice,
/// and with several requests in flight a retried batch can land after a later one (Kafka's behaviour with
/// enable.idempotence=false). With <see cref="ProducerOptions.EnableIdempotence"/> the producer first takes a
/// producer id, numbers every partition's batches, and keeps one batch per partition in flight, so the broker
/// writes each batch once and in order. A sequence error (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID,
/// INVALID_PRODUCER_EPOCH: the broker lost or never saw an earlier batch) ends the session: the failing batch and
/// any retry that may already be written are reported, and the next epoch numbers what follows from zero
/// (a re-send in a new epoch could duplicate, so batches that may be written are never re-sent in it).
/// </summary>
public sealed class Producer : IClientComponent
{
    private readonly KafkaClient _client;
    // Batch queues by partition for lookups, and in partition order for every scan.
    private readonly Dictionary<TopicPartition, List<Batch>> _queues = new();
    private readonly List<(TopicPartition Tp, List<Batch> Queue)> _queueOrder = new();
    private readonly List<(ProducerRecord Record, Action<DeliveryReport> Callback, long CreatedMs)> _unpartitioned = new();
    private readonly SortedDictionary<string, int> _roundRobin = new(StringComparer.Ordinal);
    private long _nextBatchSequence;
    private int _inFlightBatches;
    private bool _flushing;

    // Idempotence: the session's producer id and epoch (-1 until InitProducerId answers), the next sequence per
    // partition, and the partitions with a batch in flight (one each, so sequences reach the broker in order).
    private long _producerId = -1;
    private short _producerEpoch = -1;
    private bool _initInFlight;
    private long _initRetryAtMs;
    private readonly Dictionary<TopicPartition, int> _sequences = new();
    private readonly HashSet<TopicPartition> _inFlightPartitions = new();

    /// <summary>The producer id of the current idempotent session; -1 before one is taken or without idempotence.</summary>
    public long ProducerId => _producerId;

    public Producer(KafkaClient client, ProducerOptions options)
    {
        options.Validate();
        _client = client;
        Options = options;
        client.Register(this);
    }

    public ProducerOptions Options { get; }

    /// <summary>Records accepted by <see cref="Send"/> whose delivery report has not been given yet.</summary>
    public int PendingRecords { get; private set; }

    public int InFlightBatches => _inFlightBatches;

    private sealed class Batch(TopicPartition tp, long sequence, long createdMs)
    {
        public readonly TopicPartition Partition = tp;
        public readonly long Sequence = sequence;
        public readonly long CreatedMs = createdMs;
        public readonly List<(ProducerRecord Record, Action<DeliveryReport> Callback, long TimestampMs)> Records = new();
        public int Bytes;
        public ReadOnlyMemory<byte>? Encoded;

        /// <summary>Set for a batch given pre-built to <see cref="SendBatch"/>: its one callback, and its record count
        /// (<see cref="Records"/> stays empty).</summary>
        public Action<BatchDeliveryReport>? BatchCallback;
        public int PrebuiltRecords;

        public int RecordCount => BatchCallback is null ? Records.Count : PrebuiltRecords;
        public int Attempts;
        public long RetryAtMs;
        public bool MaybeWritten;
        public ErrorCode LastError;
        public string? LastMessage;
    }

    /// <summary>Accepts a record for sending; false (and no callback) when the buffer is full.</summary>
    public bool Send(ProducerRecord record, Action<DeliveryReport> callback)
    {
        if (PendingRecords >= Options.BufferedRecordsMax) return false;
        PendingRecords++;
        _client.AddTopic(record.Topic);
        long timestamp = record.TimestampMs ?? _client.Clock.WallClockMs;
        long now = _client.Clock.MonotonicMs;
        if (record.Partition < 0)
        {
            _unpartitioned.Add((record with { TimestampMs = timestamp }, callback, now));
            AssignPartitions(now);
            return true;
        }
        Append(new TopicPartition(record.Topic, record.Partition), record, callback, timestamp, now);
        return true;
    }

    /// <summary>
    /// Accepts a pre-built record batch (magic 2, offset deltas 0..<paramref name="recordCount"/>-1) for one partition;
    /// false (and no callback) when the buffer has no room for its records. It is sent as it is, with no linger, and
    /// retried and timed out like records given to <see cref="Send"/>; the callback runs once, for the whole batch.
    /// The load generator builds its batches ahead this way, so per-record work stays out of its measurements.
    /// The caller must leave the bytes unchanged until the callback has run (a retry sends them again).
    /// </summary>
    public bool SendBatch(TopicPartition partition, ReadOnlyMemory<byte> batch, int recordCount, Action<BatchDeliveryReport> callback)
    {
        if (recordCount <= 0 || batch.Length < RecordBatch.HeaderSize || partition.Partition < 0)
            throw new ArgumentException("a pre-built batch holds at least one record, for a known partition");
        if (Options.EnableIdempotence) throw new NotSupportedException("pre-built batches carry no producer id or sequence");
        if (PendingRecords > 0 && PendingRecords + recordCount > Options.BufferedRecordsMax) return false;
        PendingRecords += recordCount;
        _client.AddTopic(partition.Topic);
        long now = _client.Clock.MonotonicMs;
        var b = new Batch(partition, _nextBatchSequence++, now)
        {
            Encoded = batch,
            BatchCallback = callback,
            PrebuiltRecords = recordCount,
        };
        QueueFor(partition).Add(b);
        return true;
    }

    /// <summary>Batches accepted and not yet handed to the network (waiting for linger, a connection, an
    /// in-flight slot or a retry).</summary>
    public int QueuedBatches
    {
        get
        {
            int n = 0;
            foreach (var (_, queue) in _queueOrder) n += queue.Count;
            return n;
        }
    }

    /// <summary>Sends every batch without waiting for linger.ms, until nothing is queued.</summary>
    public void Flush() => _flushing = true;

    private void Append(TopicPartition tp, ProducerRecord record, Action<DeliveryReport> callback, long timestamp, long now)
    {
        var queue = QueueFor(tp);
        int size = (record.Key?.Length ?? 0) + (record.Value?.Length ?? 0) + 24;
        if (record.Headers is { } headers)
            foreach (var h in headers) size += h.Key.Length + (h.Value?.Length ?? 0) + 4;
        var last = queue.Count > 0 ? queue[^1] : null;
        if (last is null || last.Encoded is not null || last.Records.Count >= Options.BatchRecordsMax
            || (last.Records.Count > 0 && last.Bytes + size > Options.BatchBytesMax))
        {
            last = new Batch(tp, _nextBatchSequence++, now);
            queue.Add(last);
        }
        last.Records.Add((record, callback, timestamp));
        last.Bytes += size;
    }

    private List<Batch> QueueFor(TopicPartition tp)
    {
        if (_queues.TryGetValue(tp, out var queue)) return queue;
        queue = new List<Batch>();
        _queues.Add(tp, queue);
        int at = _queueOrder.FindIndex(x => x.Tp.CompareTo(tp) > 0);
        _queueOrder.Insert(at < 0 ? _queueOrder.Count : at, (tp, queue));
        return queue;
    }

    private void AssignPartitions(long now)
    {
        for (int i = 0; i < _unpartitioned.Count;)
        {
            var (record, callback, created) = _unpartitioned[i];
            int count = _client.Metadata.PartitionCount(record.Topic);
            if (count <= 0)
            {
                if (now >= created + Options.DeliveryTimeoutMs)
                {
                    _unpartitioned.RemoveAt(i);
                    PendingRecords--;
                    callback(new DeliveryReport(record, new TopicPartition(record.Topic, -1), DeliveryOutcome.Failed, -1,
                        ErrorCode.UnknownTopicOrPartition, "no metadata for the topic within delivery.timeout.ms"));
                    continue;
                }
                i++;
                continue;
            }
            _roundRobin.TryGetValue(record.Topic, out int next);
            _roundRobin[record.Topic] = (next + 1) % count;
            _unpartitioned.RemoveAt(i);
            Append(new TopicPartition(record.Topic, next % count), record, callback, record.TimestampMs!.Value, now);
        }
    }

    /// <summary>Linger and retry-backoff expiries still ahead, and delivery timeouts. A batch that could go now but
    /// waits for a connection or an in-flight slot adds nothing: the client's input wakes the producer.</summary>
    public long NextDeadlineMs
    {
        get
        {
            long now = _client.Clock.MonotonicMs;
            long next = long.MaxValue;
            foreach (var (_, _, created) in _unpartitioned) next = Math.Min(next, created + Options.DeliveryTimeoutMs);
            foreach (var (_, queue) in _queueOrder)
            {
                foreach (var b in queue)
                {
                    next = Math.Min(next, b.CreatedMs + Options.DeliveryTimeoutMs);
                    long ready = b.Attempts > 0 ? b.RetryAtMs : _flushing ? long.MaxValue : b.CreatedMs + Options.LingerMs;
                    if (ready > now) next = Math.Min(next, ready);
                }
            }
            return next;
        }
    }

    public void Poll(long nowMs)
    {
        AssignPartitions(nowMs);
        ExpireQueued(nowMs);
        Drain(nowMs);
        if (_flushing && PendingRecords == 0) _flushing = false;
    }

    private void ExpireQueued(long now)
    {
        foreach (var (_, queue) in _queueOrder)
        {
            for (int i = 0; i < queue.Count;)
            {
                var b = queue[i];
                if (now < b.CreatedMs + Options.DeliveryTimeoutMs)
                {
                    i++;
                    continue;
                }
                queue.RemoveAt(i);
                Complete(b, ErrorCode.RequestTimedOut, "delivery.timeout.ms passed", offset: null);
            }
        }
    }

    private bool IsSendable(List<Batch> queue, Batch b, long now)
    {
        if (b.Attempts > 0) return now >= b.RetryAtMs;
        return _flushing || queue.Count > 1 || b.BatchCallback is not null || b.Records.Count >= Options.BatchRecordsMax || b.Bytes >= Options.BatchBytesMax
               || now >= b.CreatedMs + Options.LingerMs;
    }

    /// <summary>An idempotent producer sends nothing until it has a producer id: asks for one (once at a time,
    /// retrying after retry.backoff.ms) and returns false meanwhile.</summary>
    private bool HasProducerId(long now)
    {
        if (!Options.EnableIdempotence || _producerId >= 0) return true;
        if (_initInFlight || now < _initRetryAtMs) return false;
        int node = -1;
        foreach (var (tp, queue) in _queueOrder)
        {
            if (queue.Count == 0) continue;
            int leader = _client.Metadata.LeaderFor(tp);
            if (leader >= 0 && _client.Ready(leader)) { node = leader; break; }
        }
        if (node < 0) return false;
        _initInFlight = true;
        _client.Send(node, ApiKey.InitProducerId, new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000 },
            response =>
            {
                _initInFlight = false;
                if (response.Status == ResponseStatus.Ok && response.Body is InitProducerIdResponse r && r.ErrorCode == ErrorCode.None)
                {
                    _producerId = r.ProducerId;
                    _producerEpoch = r.ProducerEpoch;
                    _sequences.Clear();
                }
                else
                {
                    _initRetryAtMs = _client.Clock.MonotonicMs + Options.RetryBackoffMs;
                }
            });
        return false;
    }

    /// <summary>
    /// Ends the idempotent session after a sequence error, as Kafka's producer does since KIP-360: the epoch is bumped
    /// locally (a new producer id only when the epoch would overflow) and sequences restart at 0. The bump is what
    /// keeps order: a batch of the old epoch still travelling to the broker (its request timed out here, its bytes
    /// did not) is refused as INVALID_PRODUCER_EPOCH once the new epoch has been written, instead of landing after
    /// batches sent later. Queued batches are re-numbered, except retries that may already be written, which are
    /// reported as unknown (re-sending them in the new epoch could write them twice).
    /// </summary>
    private void ResetProducerId()
    {
        if (_producerId >= 0 && _producerEpoch < short.MaxValue)
        {
            _producerEpoch++;
        }
        else
        {
            _producerId = -1;
            _producerEpoch = -1;
        }
        _sequences.Clear();
        foreach (var (_, queue) in _queueOrder)
        {
            for (int i = 0; i < queue.Count;)
            {
                var b = queue[i];
                if (b.MaybeWritten)
                {
                    queue.RemoveAt(i);
                    Complete(b, b.LastError == ErrorCode.None ? ErrorCode.OutOfOrderSequenceNumber : b.LastError,
                        "the idempotent session ended while this batch may have been written", offset: null);
                    continue;
                }
                b.Encoded = null;
                i++;
            }
        }
    }

    private void Drain(long now)
    {
        if (!HasProducerId(now)) return;
        // Each round sends at most one batch per partition per leader; more rounds while connections take them.
        int batches = 0;
        foreach (var (_, q) in _queueOrder) batches += q.Count;
        for (int round = 0; round <= batches; round++)
        {
            // Made only when a batch is sendable: most polls find none, and this runs on every poll.
            SortedDictionary<int, List<Batch>>? byLeader = null;
            foreach (var (tp, queue) in _queueOrder)
            {
                if (queue.Count == 0 || !IsSendable(queue, queue[0], now)) continue;
                if (Options.EnableIdempotence && _inFlightPartitions.Contains(tp)) continue;
                int leader = _client.Metadata.LeaderFor(tp);
                if (leader < 0)
                {
                    _client.RequestMetadataUpdate();
                    continue;
                }
                byLeader ??= new SortedDictionary<int, List<Batch>>();
                if (!byLeader.TryGetValue(leader, out var list)) byLeader[leader] = list = new List<Batch>();
                list.Add(queue[0]);
            }
            if (byLeader is null) return;
            bool sent = false;
            foreach (var (leader, list) in byLeader)
            {
                if (!_client.Ready(leader)) continue;
                foreach (var b in list) _queues[b.Partition].RemoveAt(0);
                SendBatches(leader, list);
                sent = true;
            }
            if (!sent) return;
        }
    }

    private void SendBatches(int leader, List<Batch> batches)
    {
        var request = new ProduceRequest { Acks = Options.Acks, TimeoutMs = Options.AckTimeoutMs };
        foreach (var b in batches)
        {
            if (b.Encoded is null)
            {
                var records = b.Records.Select(r => new SimpleRecord(r.Record.Key, r.Record.Value, r.TimestampMs, r.Record.Headers)).ToList();
                if (Options.EnableIdempotence)
                {
                    _sequences.TryGetValue(b.Partition, out int sequence);
                    b.Encoded = RecordBatchBuilder.Build(records, Options.Compression, producerId: _producerId,
                        producerEpoch: _producerEpoch, baseSequence: sequence);
                    // Sequences wrap from int.MaxValue to 0, as the broker expects.
                    _sequences[b.Partition] = (int)(((long)sequence + records.Count) % ((long)int.MaxValue + 1));
                }
                else
                {
                    b.Encoded = RecordBatchBuilder.Build(records, Options.Compression);
                }
            }
            if (Options.EnableIdempotence) _inFlightPartitions.Add(b.Partition);
            b.Attempts++;
            ProduceRequest.TopicProduceData? topic = null;
            foreach (var t in request.TopicData)
                if (t.Name == b.Partition.Topic)
                {
                    topic = t;
                    break;
                }
            if (topic is null) request.TopicData.Add(topic = new ProduceRequest.TopicProduceData { Name = b.Partition.Topic });
            topic.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = b.Partition.Partition, Records = b.Encoded });
        }
        _inFlightBatches += batches.Count;
        _client.Send(leader, ApiKey.Produce, request, response => OnResponse(batches, response), expectResponse: Options.Acks != 0);
    }

    private void OnResponse(List<Batch> batches, ClientResponse response)
    {
        foreach (var b in batches) _inFlightPartitions.Remove(b.Partition);
        _inFlightBatches -= batches.Count;
        Check.That(_inFlightBatches >= 0);
        long now = _client.Clock.MonotonicMs;
        switch (response.Status)
        {
            case ResponseStatus.SentWithoutResponse:
                foreach (var b in batches)
                {
                    b.MaybeWritten = true;
                    Complete(b, ErrorCode.None, "acks=0: no acknowledgement", offset: null);
                }
                return;
            case ResponseStatus.Unsupported:
                foreach (var b in batches) Complete(b, ErrorCode.UnsupportedVersion, "the broker serves no Produce version this client speaks", offset: null);
                return;
            case ResponseStatus.Disconnected:
            case ResponseStatus.TimedOut:
                foreach (var b in batches)
                {
                    b.MaybeWritten = true;
                    RetryOrComplete(b, ErrorCode.NetworkException,
                        response.Status == ResponseStatus.TimedOut ? "request timed out" : "connection lost", now);
                }
                return;
        }
        var body = (ProduceResponse)response.Body!;
        bool sessionEnded = false;
        foreach (var b in batches)
        {
            var p = body.Responses.Find(t => t.Name == b.Partition.Topic)?.PartitionResponses.Find(x => x.Index == b.Partition.Partition);
            if (p is null)
            {
                b.MaybeWritten = true;
                RetryOrComplete(b, ErrorCode.UnknownServerError, "partition missing from the response", now);
                continue;
            }
            if (p.ErrorCode == ErrorCode.None)
            {
                Complete(b, ErrorCode.None, null, p.BaseOffset);
                continue;
            }
            var (retriable, ambiguous) = Classify(p.ErrorCode);
            if (ambiguous) b.MaybeWritten = true;
            if (retriable) RetryOrComplete(b, p.ErrorCode, p.ErrorMessage, now);
            else Complete(b, p.ErrorCode, p.ErrorMessage, offset: null);
            if (p.ErrorCode is ErrorCode.OutOfOrderSequenceNumber or ErrorCode.UnknownProducerId or ErrorCode.InvalidProducerEpoch)
                sessionEnded = true;
        }
        if (sessionEnded && Options.EnableIdempotence) ResetProducerId();
        if (body.Responses.Any(t => t.PartitionResponses.Any(x => x.ErrorCode is ErrorCode.NotLeaderOrFollower
                or ErrorCode.LeaderNotAvailable or ErrorCode.UnknownTopicOrPartition)))
            _client.RequestMetadataUpdate();
    }

    /// <summary>
    /// (retriable, ambiguous) per error. Ambiguous errors may come after the batch was appended: RequestTimedOut
    /// (appended, not synced in time), KafkaStorageError (the sync failed, or the write did), NotLeaderOrFollower (a
    /// replicated partition's leader appended the batch, then leadership moved before it committed: the new leader
    /// may hold and commit it, as in Kafka; found by the simulator's cluster swarm) and anything unrecognised. Errors
    /// raised before any write (no leader, unknown partition, too few in-sync replicas) are definite.
    /// </summary>
    private static (bool Retriable, bool Ambiguous) Classify(ErrorCode error) => error switch
    {
        ErrorCode.LeaderNotAvailable or ErrorCode.UnknownTopicOrPartition
            or ErrorCode.NotEnoughReplicas => (true, false),
        ErrorCode.NotLeaderOrFollower
            or ErrorCode.RequestTimedOut or ErrorCode.KafkaStorageError or ErrorCode.NotEnoughReplicasAfterAppend
            or ErrorCode.NetworkException => (true, true),
        ErrorCode.CorruptMessage or ErrorCode.InvalidRecord or ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge
            or ErrorCode.InvalidRequiredAcks or ErrorCode.UnsupportedVersion or ErrorCode.UnsupportedForMessageFormat
            or ErrorCode.InvalidTopicException or ErrorCode.InvalidTimestamp or ErrorCode.TopicAuthorizationFailed
            or ErrorCode.UnsupportedCompressionType
            or ErrorCode.OutOfOrderSequenceNumber or ErrorCode.UnknownProducerId or ErrorCode.InvalidProducerEpoch => (false, false),
        _ => (false, true),
    };

    private void RetryOrComplete(Batch b, ErrorCode error, string? message, long now)
    {
        b.LastError = error;
        b.LastMessage = message;
        bool withinTimeout = now + Options.RetryBackoffMs < b.CreatedMs + Options.DeliveryTimeoutMs;
        if (b.Attempts > Options.Retries || !withinTimeout)
        {
            Complete(b, error, message, offset: null);
            return;
        }
        b.RetryAtMs = now + Options.RetryBackoffMs;
        var queue = QueueFor(b.Partition);
        int at = queue.FindIndex(x => x.Sequence > b.Sequence);
        queue.Insert(at < 0 ? queue.Count : at, b);
    }

    private void Complete(Batch b, ErrorCode error, string? message, long? offset)
    {
        DeliveryOutcome outcome = offset is not null ? DeliveryOutcome.Acked
            : b.MaybeWritten ? DeliveryOutcome.Unknown : DeliveryOutcome.Failed;
        if (error == ErrorCode.RequestTimedOut && offset is null && b.LastError != ErrorCode.None && !b.MaybeWritten)
            error = b.LastError;
        PendingRecords -= b.RecordCount;
        Check.That(PendingRecords >= 0);
        if (b.BatchCallback is { } batchCallback)
        {
            batchCallback(new BatchDeliveryReport(b.Partition, b.PrebuiltRecords, outcome, offset ?? -1, error, message));
            return;
        }
        for (int i = 0; i < b.Records.Count; i++)
        {
            var (record, callback, _) = b.Records[i];
            callback(new DeliveryReport(record, b.Partition, outcome, offset is { } o ? o + i : -1, error, message));
        }
    }
}
