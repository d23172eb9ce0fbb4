using System.Buffers.Binary;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Client;

/// <summary>auto.offset.reset: where a partition without a valid position starts.</summary>
public enum OffsetResetPolicy { Earliest, Latest, None }

/// <summary>Settings of <see cref="Consumer"/>, named after the Java consumer's configs.</summary>
public sealed record ConsumerOptions
{
    public int FetchMaxWaitMs { get; init; } = 500;
    public int FetchMinBytes { get; init; } = 1;
    public int FetchMaxBytes { get; init; } = 50 * 1024 * 1024;
    public int MaxPartitionFetchBytes { get; init; } = 1024 * 1024;
    public OffsetResetPolicy AutoOffsetReset { get; init; } = OffsetResetPolicy.Earliest;

    /// <summary>isolation.level: 0 read_uncommitted, 1 read_committed.</summary>
    public sbyte IsolationLevel { get; init; }

    /// <summary>retry.backoff.ms: the wait after a failed fetch or offset lookup.</summary>
    public int RetryBackoffMs { get; init; } = 100;

    /// <summary>Records fetched and not yet taken; no fetch is sent while this many are buffered.</summary>
    public int BufferedRecordsMax { get; init; } = 10_000;

    public void Validate()
    {
        if (FetchMaxWaitMs < 0 || FetchMinBytes < 0 || FetchMaxBytes <= 0 || MaxPartitionFetchBytes <= 0)
            throw new ArgumentException("bad fetch bounds");
        if (IsolationLevel is not (0 or 1)) throw new ArgumentException("isolation level is 0 or 1");
        if (RetryBackoffMs <= 0 || BufferedRecordsMax <= 0) throw new ArgumentException("bounds must be positive");
    }
}

public sealed record ConsumedRecord(TopicPartition Partition, long Offset, long Timestamp, byte[]? Key, byte[]? Value,
    IReadOnlyList<RecordHeader>? Headers = null);

/// <summary>Takes one fetched record batch undecoded (see <see cref="Consumer.RawBatches"/>). The batch's CRC has
/// been checked; records before <paramref name="position"/> were delivered before (a batch may start earlier).
/// The span is valid only during the call.</summary>
public delegate void RawBatchHandler(TopicPartition partition, ReadOnlySpan<byte> batch, long position);

/// <summary>
/// A Kafka consumer over <see cref="KafkaClient"/> with manual assignment (no group membership): it fetches
/// every assigned partition from its leader with sessionless Fetch requests (one in flight per broker),
/// decodes whole record batches, drops records before the position (a batch may start earlier), and
/// buffers records in offset order per partition for <see cref="TakeRecords"/>. A partition without a
/// position, or whose fetch answers OFFSET_OUT_OF_RANGE, is reset by ListOffsets per auto.offset.reset.
/// </summary>
public sealed class Consumer : IClientComponent
{
    private readonly KafkaClient _client;
    // The assignment by partition for lookups, and in partition order for every scan.
    private readonly Dictionary<TopicPartition, PartitionState> _partitions = new();
    private readonly List<(TopicPartition Tp, PartitionState State)> _order = new();
    private readonly SortedSet<int> _fetching = new();
    private readonly SortedSet<int> _listing = new();
    private readonly Queue<ConsumedRecord> _buffer = new();
    private readonly List<DecodedRecord> _decoded = new();
    private long _pendingSkip = -1;

    public Consumer(KafkaClient client, ConsumerOptions options)
    {
        options.Validate();
        _client = client;
        Options = options;
        client.Register(this);
    }

    public ConsumerOptions Options { get; }

    /// <summary>Told about partition-level problems: an offset reset (OffsetOutOfRange), a batch that fails to
    /// decode (CorruptMessage), an error from the broker. For traces and error counts.</summary>
    public Action<TopicPartition, ErrorCode, string>? PartitionError { get; set; }

    /// <summary>Every successful partition of a fetch response: its high watermark and the batches returned, before
    /// they are decoded (the simulator checks that no batch starts at or above the high watermark).</summary>
    public Action<TopicPartition, long, ReadOnlyMemory<byte>>? Fetched { get; set; }

    public int BufferedRecords => _buffer.Count;

    /// <summary>When set, fetched batches go to this handler whole and undecoded instead of into the record buffer
    /// (<see cref="TakeRecords"/> then stays empty): the load generator counts records per batch and allocates
    /// nothing per record.</summary>
    public RawBatchHandler? RawBatches { get; set; }

    public IReadOnlyList<TopicPartition> Assignment => _order.Select(x => x.Tp).ToList();

    private sealed class PartitionState
    {
        public long? Position;
        public bool ResetInFlight;
        public bool Fetching;
        public bool Stopped;
        public long BackoffUntilMs;
        public long HighWatermark = -1;
        public long LogStartOffset = -1;
    }

    /// <summary>Replaces the assignment. Partitions kept keep their position; new ones start per
    /// <paramref name="startOffsets"/>, else by the reset policy.</summary>
    public void Assign(IEnumerable<TopicPartition> partitions, IReadOnlyDictionary<TopicPartition, long>? startOffsets = null)
    {
        var wanted = new SortedSet<TopicPartition>(partitions, TopicPartitionComparer.Instance);
        foreach (var (tp, _) in _order.ToList())
            if (!wanted.Contains(tp)) _partitions.Remove(tp);
        _order.RemoveAll(x => !wanted.Contains(x.Tp));
        foreach (var tp in wanted)
        {
            _client.AddTopic(tp.Topic);
            if (_partitions.ContainsKey(tp)) continue;
            var state = new PartitionState();
            if (startOffsets is not null && startOffsets.TryGetValue(tp, out long start)) state.Position = start;
            _partitions.Add(tp, state);
            int at = _order.FindIndex(x => x.Tp.CompareTo(tp) > 0);
            _order.Insert(at < 0 ? _order.Count : at, (tp, state));
        }
        // Records of partitions no longer assigned are dropped with their state.
        var kept = _buffer.Where(r => _partitions.ContainsKey(r.Partition)).ToList();
        _buffer.Clear();
        foreach (var r in kept) _buffer.Enqueue(r);
    }

    public void Seek(TopicPartition tp, long offset)
    {
        Check.That(offset >= 0 && _partitions.ContainsKey(tp), "seek within the assignment");
        var s = _partitions[tp];
        s.Position = offset;
        s.Stopped = false;
        var kept = _buffer.Where(r => !r.Partition.Equals(tp)).ToList();
        _buffer.Clear();
        foreach (var r in kept) _buffer.Enqueue(r);
    }

    /// <summary>The offset of the next record the consumer will fetch (records buffered count as consumed);
    /// null while it is being reset.</summary>
    public long? Position(TopicPartition tp) => _partitions.TryGetValue(tp, out var s) ? s.Position : null;

    /// <summary>The high watermark the last fetch reported, -1 before any.</summary>
    public long HighWatermark(TopicPartition tp) => _partitions.TryGetValue(tp, out var s) ? s.HighWatermark : -1;

    /// <summary>Takes up to <paramref name="max"/> buffered records, in the order fetched (offset order per partition).</summary>
    public List<ConsumedRecord> TakeRecords(int max)
    {
        var taken = new List<ConsumedRecord>(Math.Min(max, _buffer.Count));
        while (taken.Count < max && _buffer.Count > 0) taken.Add(_buffer.Dequeue());
        return taken;
    }

    public long NextDeadlineMs
    {
        get
        {
            long next = long.MaxValue;
            foreach (var (_, s) in _order)
                if (!s.Stopped && s.BackoffUntilMs > 0) next = Math.Min(next, s.BackoffUntilMs);
            return next;
        }
    }

    public void Poll(long nowMs)
    {
        foreach (var (_, s) in _order)
            if (s.BackoffUntilMs != 0 && nowMs >= s.BackoffUntilMs) s.BackoffUntilMs = 0;
        SendResets(nowMs);
        SendFetches(nowMs);
    }

    private bool Waiting(PartitionState s, long now) => s.Stopped || now < s.BackoffUntilMs;

    /// <summary>The partitions in a wanted state, grouped by leader (leaders ascending); asks for metadata when a
    /// leader is unknown.</summary>
    private List<(int Leader, List<TopicPartition> Partitions)> ByLeader(bool resets, long now)
    {
        var groups = new List<(int Leader, List<TopicPartition> Partitions)>();
        foreach (var (tp, s) in _order)
        {
            bool wanted = resets
                ? s.Position is null && !s.ResetInFlight && !Waiting(s, now)
                : s.Position is not null && !s.Fetching && !Waiting(s, now);
            if (!wanted) continue;
            int leader = _client.Metadata.LeaderFor(tp);
            if (leader < 0)
            {
                _client.RequestMetadataUpdate();
                continue;
            }
            int at = FirstAtOrAbove(groups, leader);
            if (at < 0 || groups[at].Leader != leader) groups.Insert(at < 0 ? groups.Count : at, (leader, new List<TopicPartition>()));
            groups[at < 0 ? groups.Count - 1 : at].Partitions.Add(tp);
        }
        return groups;
    }

    // A loop rather than FindIndex with a lambda: the lambda captures the leader, an allocation per partition per poll.
    private static int FirstAtOrAbove(List<(int Leader, List<TopicPartition> Partitions)> groups, int leader)
    {
        for (int i = 0; i < groups.Count; i++)
            if (groups[i].Leader >= leader) return i;
        return -1;
    }

    /// <summary>Consecutive runs of the same topic (the list is sorted by topic, then partition).</summary>
    private static List<(string Topic, List<TopicPartition> Partitions)> ByTopic(List<TopicPartition> sorted)
    {
        var groups = new List<(string Topic, List<TopicPartition> Partitions)>();
        foreach (var tp in sorted)
        {
            if (groups.Count == 0 || groups[^1].Topic != tp.Topic) groups.Add((tp.Topic, new List<TopicPartition>()));
            groups[^1].Partitions.Add(tp);
        }
        return groups;
    }

    private void SendResets(long now)
    {
        if (_order.Count == 0) return;
        foreach (var (leader, list) in ByLeader(resets: true, now))
        {
            if (_listing.Contains(leader) || !_client.Ready(leader)) continue;
            if (Options.AutoOffsetReset == OffsetResetPolicy.None)
            {
                foreach (var tp in list) Stop(tp, ErrorCode.OffsetOutOfRange, "no position and auto.offset.reset=none");
                continue;
            }
            long timestamp = Options.AutoOffsetReset == OffsetResetPolicy.Earliest
                ? ListOffsetsRequest.EarliestTimestamp : ListOffsetsRequest.LatestTimestamp;
            var request = new ListOffsetsRequest { IsolationLevel = Options.IsolationLevel };
            foreach (var (topic, group) in ByTopic(list))
                request.Topics.Add(new ListOffsetsRequest.ListOffsetsTopic
                {
                    Name = topic,
                    Partitions = group.Select(tp => new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = tp.Partition, Timestamp = timestamp }).ToList(),
                });
            foreach (var tp in list) _partitions[tp].ResetInFlight = true;
            _listing.Add(leader);
            _client.Send(leader, ApiKey.ListOffsets, request, r => OnListOffsets(leader, list, r));
        }
    }

    private void OnListOffsets(int leader, List<TopicPartition> asked, ClientResponse response)
    {
        _listing.Remove(leader);
        long now = _client.Clock.MonotonicMs;
        var body = response.Status == ResponseStatus.Ok ? (ListOffsetsResponse)response.Body! : null;
        foreach (var tp in asked)
        {
            if (!_partitions.TryGetValue(tp, out var s) || !s.ResetInFlight) continue;
            s.ResetInFlight = false;
            var p = body is null ? null : FindPartition(body, tp);
            if (p is null || p.ErrorCode != ErrorCode.None || p.Offset < 0)
            {
                if (p is not null && p.ErrorCode != ErrorCode.None) PartitionError?.Invoke(tp, p.ErrorCode, "ListOffsets failed");
                Backoff(s, now, metadata: p is null || p.ErrorCode is ErrorCode.NotLeaderOrFollower or ErrorCode.UnknownTopicOrPartition);
                continue;
            }
            if (s.Position is null) s.Position = p.Offset;
        }
    }

    private void SendFetches(long now)
    {
        if (_buffer.Count >= Options.BufferedRecordsMax) return;
        foreach (var (leader, list) in ByLeader(resets: false, now))
        {
            if (_fetching.Contains(leader) || !_client.Ready(leader)) continue;
            var request = new FetchRequest
            {
                MaxWaitMs = Options.FetchMaxWaitMs,
                MinBytes = Options.FetchMinBytes,
                MaxBytes = Options.FetchMaxBytes,
                IsolationLevel = Options.IsolationLevel,
                SessionId = 0,
                SessionEpoch = -1,
            };
            var fetched = new List<(TopicPartition Tp, long Offset)>();
            foreach (var (name, group) in ByTopic(list))
            {
                var topic = new FetchRequest.FetchTopic { Topic = name };
                foreach (var tp in group)
                {
                    long offset = _partitions[tp].Position!.Value;
                    topic.Partitions.Add(new FetchRequest.FetchPartition
                    {
                        Partition = tp.Partition,
                        FetchOffset = offset,
                        PartitionMaxBytes = Options.MaxPartitionFetchBytes,
                    });
                    fetched.Add((tp, offset));
                    _partitions[tp].Fetching = true;
                }
                request.Topics.Add(topic);
            }
            _fetching.Add(leader);
            _client.Send(leader, ApiKey.Fetch, request, r => OnFetch(leader, fetched, r));
        }
    }

    private void OnFetch(int leader, List<(TopicPartition Tp, long Offset)> fetched, ClientResponse response)
    {
        _fetching.Remove(leader);
        long now = _client.Clock.MonotonicMs;
        var body = response.Status == ResponseStatus.Ok ? (FetchResponse)response.Body! : null;
        bool refresh = body is null;
        foreach (var (tp, offset) in fetched)
        {
            if (!_partitions.TryGetValue(tp, out var s)) continue;
            s.Fetching = false;
            if (s.Position != offset) continue; // sought elsewhere meanwhile
            if (body is null || body.ErrorCode != ErrorCode.None)
            {
                Backoff(s, now, metadata: false);
                continue;
            }
            var p = FindPartition(body, tp);
            if (p is null)
            {
                Backoff(s, now, metadata: false);
                continue;
            }
            switch (p.ErrorCode)
            {
                case ErrorCode.None:
                    s.HighWatermark = Math.Max(s.HighWatermark, p.HighWatermark);
                    s.LogStartOffset = p.LogStartOffset;
                    Fetched?.Invoke(tp, p.HighWatermark, p.Records ?? ReadOnlyMemory<byte>.Empty);
                    Deliver(tp, s, p.Records ?? ReadOnlyMemory<byte>.Empty, now, p.AbortedTransactions);
                    break;
                case ErrorCode.OffsetOutOfRange:
                    PartitionError?.Invoke(tp, p.ErrorCode, $"offset {offset} out of range [{p.LogStartOffset}, {p.HighWatermark}]; resetting");
                    s.HighWatermark = p.HighWatermark;
                    if (Options.AutoOffsetReset == OffsetResetPolicy.None) Stop(tp, p.ErrorCode, "out of range and auto.offset.reset=none");
                    else s.Position = null;
                    break;
                case ErrorCode.NotLeaderOrFollower:
                case ErrorCode.UnknownTopicOrPartition:
                case ErrorCode.LeaderNotAvailable:
                    refresh = true;
                    Backoff(s, now, metadata: true);
                    break;
                default:
                    PartitionError?.Invoke(tp, p.ErrorCode, "fetch failed");
                    Backoff(s, now, metadata: false);
                    break;
            }
        }
        if (refresh) _client.RequestMetadataUpdate();
    }

    // Loops rather than Find with lambdas, which capture the partition: two allocations per partition per response.
    private static FetchResponse.PartitionData? FindPartition(FetchResponse body, TopicPartition tp)
    {
        foreach (var t in body.Responses)
        {
            if (t.Topic != tp.Topic) continue;
            foreach (var x in t.Partitions)
                if (x.PartitionIndex == tp.Partition) return x;
            return null;
        }
        return null;
    }

    private static ListOffsetsResponse.ListOffsetsPartitionResponse? FindPartition(ListOffsetsResponse body, TopicPartition tp)
    {
        foreach (var t in body.Topics)
        {
            if (t.Name != tp.Topic) continue;
            foreach (var x in t.Partitions)
                if (x.PartitionIndex == tp.Partition) return x;
            return null;
        }
        return null;
    }

    private void Deliver(TopicPartition tp, PartitionState s, ReadOnlyMemory<byte> records, long now,
        List<FetchResponse.AbortedTransaction>? aborted = null)
    {
        if (RawBatches is { } raw)
        {
            DeliverRaw(tp, s, records.Span, raw, now);
            return;
        }
        _decoded.Clear();
        var error = ReadOnlySpanHasTransactions(records.Span)
            ? DecodeTransactional(records.Span, aborted, s)
            : RecordBatchDecoder.Decode(records.Span, _decoded, allowPartialTrailingBatch: true);
        long position = s.Position!.Value;
        foreach (var r in _decoded)
        {
            if (r.Offset < position) continue; // the batch holding the position may start before it
            _buffer.Enqueue(new ConsumedRecord(tp, r.Offset, r.Timestamp, r.Key, r.Value, r.Headers));
            position = r.Offset + 1;
        }
        if (_pendingSkip > position) position = _pendingSkip;
        _pendingSkip = -1;
        s.Position = position;
        if (error != ErrorCode.None)
        {
            // The records after the damage are not delivered; fetching again from the position will meet it again.
            PartitionError?.Invoke(tp, error, $"a fetched batch failed to decode at offset {position}");
            Backoff(s, now, metadata: false);
        }
    }

    /// <summary>Whether any batch in <paramref name="records"/> is transactional or a control batch (only then
    /// does delivery walk batch by batch).</summary>
    private static bool ReadOnlySpanHasTransactions(ReadOnlySpan<byte> records)
    {
        int at = 0;
        while (records.Length - at >= RecordBatch.HeaderSize && RecordBatchHeader.TryRead(records[at..], out var h))
        {
            if (h.IsTransactional || h.IsControl) return true;
            if (h.TotalSize <= 0 || h.TotalSize > records.Length - at) break;
            at += (int)h.TotalSize;
        }
        return false;
    }

    /// <summary>
    /// Kafka's consumer over transactional data: control batches (commit/abort markers) are never records, and at
    /// read_committed the data of a producer inside an aborted transaction the fetch listed (from its first offset
    /// to its abort marker) is skipped. The position still moves past skipped batches. A partial trailing batch is
    /// left for the next fetch.
    /// </summary>
    private ErrorCode DecodeTransactional(ReadOnlySpan<byte> records, List<FetchResponse.AbortedTransaction>? abortedList, PartitionState s)
    {
        var aborted = Options.IsolationLevel == 1 && abortedList is { Count: > 0 }
            ? abortedList.OrderBy(a => a.FirstOffset).ToList() : null;
        var inAborted = new HashSet<long>();
        int at = 0;
        long skippedTo = -1;
        while (records.Length - at >= RecordBatch.HeaderSize && RecordBatchHeader.TryRead(records[at..], out var h))
        {
            if (h.TotalSize <= 0 || h.TotalSize > records.Length - at) break; // partial trailing batch
            var batch = records.Slice(at, (int)h.TotalSize);
            at += (int)h.TotalSize;
            while (aborted is { Count: > 0 } && aborted[0].FirstOffset <= h.LastOffset)
            {
                inAborted.Add(aborted[0].ProducerId);
                aborted.RemoveAt(0);
            }
            if (h.IsControl)
            {
                if (ControlRecord.TryReadMarker(batch, out bool commit, out _) && !commit) inAborted.Remove(h.ProducerId);
                skippedTo = h.LastOffset + 1;
                continue;
            }
            if (h.IsTransactional && inAborted.Contains(h.ProducerId))
            {
                skippedTo = h.LastOffset + 1;
                continue;
            }
            var error = RecordBatchDecoder.Decode(batch, _decoded);
            if (error != ErrorCode.None) return error;
        }
        // Skipped batches at the end still move the position (the delivery loop below only sees records).
        if (skippedTo > s.Position!.Value && (_decoded.Count == 0 || _decoded[^1].Offset < skippedTo))
            _pendingSkip = skippedTo;
        return ErrorCode.None;
    }

    /// <summary>Hands whole batches to <paramref name="raw"/> after checking their framing and CRC; a partial trailing
    /// batch is left for the next fetch, as in <see cref="RecordBatchDecoder.Decode"/>.</summary>
    private void DeliverRaw(TopicPartition tp, PartitionState s, ReadOnlySpan<byte> records, RawBatchHandler raw, long now)
    {
        long position = s.Position!.Value;
        int at = 0;
        while (records.Length - at >= RecordBatch.LogOverhead)
        {
            var rest = records[at..];
            long size = (long)BinaryPrimitives.ReadInt32BigEndian(rest[RecordBatch.BatchLengthOffset..]) + RecordBatch.LogOverhead;
            if (size > rest.Length && size >= RecordBatch.HeaderSize) break; // partial trailing batch
            var batch = size >= RecordBatch.HeaderSize ? rest[..(int)size] : default;
            if (batch.IsEmpty || batch[RecordBatch.MagicOffset] != RecordBatch.CurrentMagic
                || BinaryPrimitives.ReadUInt32BigEndian(batch[RecordBatch.CrcOffset..]) != Crc32C.Compute(batch[RecordBatch.AttributesOffset..]))
            {
                s.Position = position;
                PartitionError?.Invoke(tp, ErrorCode.CorruptMessage, $"a fetched batch failed its checks at offset {position}");
                Backoff(s, now, metadata: false);
                return;
            }
            long lastOffset = BinaryPrimitives.ReadInt64BigEndian(batch) + BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.LastOffsetDeltaOffset..]);
            if (lastOffset >= position)
            {
                raw(tp, batch, position);
                position = lastOffset + 1;
            }
            at += (int)size;
        }
        s.Position = position;
    }

    private void Backoff(PartitionState s, long now, bool metadata)
    {
        s.BackoffUntilMs = now + Options.RetryBackoffMs;
        if (metadata) _client.RequestMetadataUpdate();
    }

    private void Stop(TopicPartition tp, ErrorCode error, string message)
    {
        _partitions[tp].Stopped = true;
        PartitionError?.Invoke(tp, error, message);
    }
}
