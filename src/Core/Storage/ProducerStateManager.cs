using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>One appended batch of an idempotent producer, as the duplicate check remembers it.</summary>
public readonly record struct ProducerBatch(int FirstSequence, int LastSequence, long FirstOffset, long LastOffset, long MaxTimestamp);

/// <summary>What an idempotent batch may do: be appended, be answered with the offsets of the batch it
/// duplicates, or be refused with <see cref="Error"/>.</summary>
public readonly record struct SequenceCheck(ErrorCode Error, string? Message, ProducerBatch? Duplicate)
{
    public static readonly SequenceCheck Append = new(ErrorCode.None, null, null);
    public bool IsDuplicate => Duplicate is not null;
}

/// <summary>
/// Kafka's ProducerStateManager for one partition: per producer id, its epoch and the sequence ranges and offsets
/// of its last <see cref="BatchesKept"/> batches. A batch from an idempotent producer (producer id >= 0) is
/// checked before it is written: a retry of one of the last five batches is a duplicate (answered with the
/// original offsets, nothing written), the next sequence is appended, anything else is refused
/// (OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch: INVALID_PRODUCER_EPOCH; a producer this partition has no state
/// for, sending a sequence other than 0: UNKNOWN_PRODUCER_ID, as Kafka 2.x answers, which librdkafka resets on).
/// The state is derived from the log: recovery rebuilds it from the latest snapshot (written at every segment
/// roll, as Kafka does) plus the batches after it. Differences from Kafka: no transactional state yet (issue
/// 10's transactions); expiry (producer.id.expiration.ms) is applied when a snapshot is taken.
/// </summary>
public sealed class ProducerStateManager
{
    /// <summary>Batches remembered per producer: librdkafka and the Java client keep at most five in flight.</summary>
    public const int BatchesKept = 5;

    /// <summary>Producers one partition tracks at most; past it the least recently written is forgotten (its next
    /// batch then gets UNKNOWN_PRODUCER_ID unless it starts a sequence). Bounds memory against id churn.</summary>
    public const int ProducersMax = 100_000;

    public const string SnapshotSuffix = ".snapshot";
    private static readonly byte[] SnapshotMagic = "DKP1"u8.ToArray();

    /// <summary>Test-only: plants the bug the simulator must catch (retries are appended again, any sequence goes).</summary>
    private readonly bool _ignoreSequences;

    public ProducerStateManager(bool ignoreSequences = false) => _ignoreSequences = ignoreSequences;

    private sealed class Entry
    {
        public short Epoch;
        public readonly ProducerBatch[] Batches = new ProducerBatch[BatchesKept];
        public int Count;
        public int Newest = -1;
        public long LastTimestamp;
        public long LastOffset;

        public ProducerBatch Last => Batches[Newest];

        public void Add(ProducerBatch b)
        {
            Newest = (Newest + 1) % BatchesKept;
            Batches[Newest] = b;
            Count = Math.Min(BatchesKept, Count + 1);
            LastTimestamp = Math.Max(LastTimestamp, b.MaxTimestamp);
            LastOffset = b.LastOffset;
        }

        public void Clear(short epoch)
        {
            Epoch = epoch;
            Count = 0;
            Newest = -1;
        }
    }

    private readonly Dictionary<long, Entry> _producers = new();

    public int ProducerCount => _producers.Count;

    /// <summary>Whether the batch ending at <paramref name="lastOffset"/> is the newest batch <paramref name="producerId"/>
    /// wrote here (the cleaner keeps those whole).</summary>
    public bool IsLastBatch(long producerId, long lastOffset)
        => _producers.TryGetValue(producerId, out var e) && e.Count > 0 && e.Last.LastOffset == lastOffset;

    /// <summary>The largest producer id with state here; -1 when none.</summary>
    public long LargestProducerId
    {
        get
        {
            long largest = -1;
            foreach (long id in _producers.Keys) largest = Math.Max(largest, id);
            return largest;
        }
    }

    /// <summary>The epoch and last sequence of a producer, for tests and tools; null when unknown.</summary>
    public (short Epoch, int LastSequence)? Describe(long producerId)
        => _producers.TryGetValue(producerId, out var e) && e.Count > 0 ? (e.Epoch, e.Last.LastSequence) : null;

    /// <summary>The producer's epoch here (from its batches or markers); null when unknown.</summary>
    public short? EpochOf(long producerId) => _producers.TryGetValue(producerId, out var e) ? e.Epoch : null;

    /// <summary>The sequence number <paramref name="count"/> - 1 records after <paramref name="first"/>, wrapping
    /// from int.MaxValue to 0 as Kafka's sequences do.</summary>
    public static int LastSequenceOf(int first, int count)
    {
        Util.Check.That(first >= 0 && count >= 1);
        long last = (long)first + count - 1;
        return last > int.MaxValue ? (int)(last - int.MaxValue - 1) : (int)last;
    }

    private static int Next(int sequence) => sequence == int.MaxValue ? 0 : sequence + 1;

    /// <summary>Decides what a batch of producer <paramref name="producerId"/> may do; changes nothing.</summary>
    public SequenceCheck Check(long producerId, short epoch, int firstSequence, int lastSequence)
    {
        Util.Check.That(producerId >= 0, "only idempotent batches are checked");
        if (firstSequence < 0) return new SequenceCheck(ErrorCode.InvalidRecord, "an idempotent batch has a negative base sequence", null);
        if (!_producers.TryGetValue(producerId, out var entry) || entry.Count == 0)
        {
            if (entry is not null && epoch < entry.Epoch)
                return new SequenceCheck(ErrorCode.InvalidProducerEpoch, $"epoch {epoch} is older than {entry.Epoch}", null);
            return firstSequence == 0 ? SequenceCheck.Append
                : new SequenceCheck(ErrorCode.UnknownProducerId,
                    $"no state for producer {producerId} and its batch starts at sequence {firstSequence}, not 0", null);
        }
        if (epoch < entry.Epoch)
            return new SequenceCheck(ErrorCode.InvalidProducerEpoch, $"epoch {epoch} is older than {entry.Epoch}", null);
        if (epoch > entry.Epoch)
            return firstSequence == 0 ? SequenceCheck.Append
                : new SequenceCheck(ErrorCode.OutOfOrderSequenceNumber, $"a new epoch {epoch} must start at sequence 0, not {firstSequence}", null);
        if (!_ignoreSequences)
        {
            for (int i = 0; i < entry.Count; i++)
            {
                var b = entry.Batches[i];
                if (b.FirstSequence == firstSequence && b.LastSequence == lastSequence)
                    return new SequenceCheck(ErrorCode.None, null, b);
            }
        }
        int expected = Next(entry.Last.LastSequence);
        if (firstSequence != expected && !_ignoreSequences)
            return new SequenceCheck(ErrorCode.OutOfOrderSequenceNumber,
                $"producer {producerId} sent sequence {firstSequence}, expected {expected}", null);
        return SequenceCheck.Append;
    }

    /// <summary>Records a batch that was appended (or recovered from the log).</summary>
    public void Update(long producerId, short epoch, ProducerBatch batch)
    {
        if (!_producers.TryGetValue(producerId, out var entry))
        {
            if (_producers.Count >= ProducersMax) EvictOldest();
            _producers.Add(producerId, entry = new Entry { Epoch = epoch });
        }
        if (epoch != entry.Epoch) entry.Clear(epoch);
        entry.Add(batch);
    }

    /// <summary>
    /// A transaction marker of <paramref name="producerId"/> at <paramref name="epoch"/> was written (Kafka's
    /// appendEndTxnMarker): a newer epoch (the coordinator fenced the producer, or KIP-890's bump) becomes the
    /// producer's epoch here and its sequences start again, so a zombie's batch at the old epoch is refused by the
    /// partition itself (INVALID_PRODUCER_EPOCH).
    /// </summary>
    public void OnMarker(long producerId, short epoch, long offset, long timestamp)
    {
        if (producerId < 0 || epoch < 0) return;
        if (!_producers.TryGetValue(producerId, out var entry))
        {
            if (_producers.Count >= ProducersMax) EvictOldest();
            _producers.Add(producerId, entry = new Entry { Epoch = epoch });
        }
        else if (epoch > entry.Epoch) entry.Clear(epoch);
        entry.LastOffset = Math.Max(entry.LastOffset, offset);
        entry.LastTimestamp = Math.Max(entry.LastTimestamp, timestamp);
    }

    /// <summary>Feeds a batch header read from the log (recovery); non-idempotent batches add nothing, a control
    /// batch (a marker) may move the producer's epoch (<see cref="OnMarker"/>).</summary>
    public void Replay(in RecordBatchHeader header)
    {
        if (header.IsControl)
        {
            OnMarker(header.ProducerId, header.ProducerEpoch, header.BaseOffset, header.MaxTimestamp);
            return;
        }
        if (header.ProducerId < 0 || header.BaseSequence < 0) return;
        Update(header.ProducerId, header.ProducerEpoch, new ProducerBatch(header.BaseSequence,
            LastSequenceOf(header.BaseSequence, header.LastOffsetDelta + 1), header.BaseOffset, header.LastOffset, header.MaxTimestamp));
    }

    /// <summary>Forgets producers that wrote nothing since <paramref name="expireBeforeMs"/> (by record time).</summary>
    public int RemoveExpired(long expireBeforeMs) => RemoveWhere(e => e.LastTimestamp < expireBeforeMs);

    /// <summary>Forgets producers whose last batch is below the log start (DeleteRecords or retention removed it).</summary>
    public void RemoveBelow(long logStartOffset) => RemoveWhere(e => e.LastOffset < logStartOffset);

    /// <summary>Removes the producers <paramref name="gone"/> picks (a Dictionary may lose entries while it is
    /// enumerated); order does not matter, nothing reaches an output.</summary>
    private int RemoveWhere(Func<Entry, bool> gone)
    {
        int removed = 0;
        foreach (var (id, e) in _producers)
            if (gone(e) && _producers.Remove(id)) removed++;
        return removed;
    }

    public void Clear() => _producers.Clear();

    private void EvictOldest()
    {
        long victim = -1, oldest = long.MaxValue;
        foreach (var (id, e) in _producers)
            if (e.LastOffset < oldest || (e.LastOffset == oldest && id < victim)) (victim, oldest) = (id, e.LastOffset);
        _producers.Remove(victim);
    }

    // ---- snapshots ----

    public static string SnapshotFileName(long offset) => LogSegment.FileStem(offset) + SnapshotSuffix;

    /// <summary>
    /// The state as bytes, producers in id order (deterministic): magic "DKP1", int64 offset, int32 producers, per
    /// producer int64 id, int16 epoch, int64 last timestamp, int32 batches, per batch (int32 first and last
    /// sequence, int64 first and last offset, int64 max timestamp), oldest first; then the CRC-32C of all before it.
    /// </summary>
    public byte[] SerializeSnapshot(long offset)
    {
        using var w = new KafkaWriter(64 + _producers.Count * 64);
        w.WriteRaw(SnapshotMagic);
        w.WriteInt64(offset);
        w.WriteInt32(_producers.Count);
        var ids = _producers.Keys.ToList();
        ids.Sort();
        foreach (long id in ids)
        {
            var e = _producers[id];
            w.WriteInt64(id);
            w.WriteInt16(e.Epoch);
            w.WriteInt64(e.LastTimestamp);
            w.WriteInt32(e.Count);
            for (int i = e.Count - 1; i >= 0; i--)
            {
                var b = e.Batches[(e.Newest - i + BatchesKept) % BatchesKept];
                w.WriteInt32(b.FirstSequence);
                w.WriteInt32(b.LastSequence);
                w.WriteInt64(b.FirstOffset);
                w.WriteInt64(b.LastOffset);
                w.WriteInt64(b.MaxTimestamp);
            }
        }
        w.WriteUInt32(Crc32C.Compute(w.WrittenSpan));
        return w.ToArray();
    }

    /// <summary>Replaces the state with a snapshot's; false (state untouched) when the bytes are not a whole,
    /// intact snapshot taken at <paramref name="offset"/>.</summary>
    public bool TryLoadSnapshot(byte[] bytes, long offset)
    {
        if (bytes.Length < SnapshotMagic.Length + 16 || !bytes.AsSpan(0, 4).SequenceEqual(SnapshotMagic)) return false;
        int body = bytes.Length - 4;
        if (Crc32C.Compute(bytes.AsSpan(0, body)) != BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(body))) return false;
        var loaded = new Dictionary<long, Entry>();
        try
        {
            var r = new KafkaReader(bytes, 4, body - 4);
            if (r.ReadInt64() != offset) return false;
            int count = r.ReadInt32();
            if (count < 0 || count > ProducersMax) return false;
            for (int p = 0; p < count; p++)
            {
                long id = r.ReadInt64();
                var e = new Entry { Epoch = r.ReadInt16() };
                long lastTimestamp = r.ReadInt64();
                int batches = r.ReadInt32();
                if (batches < 0 || batches > BatchesKept) return false;
                for (int i = 0; i < batches; i++)
                    e.Add(new ProducerBatch(r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64()));
                e.LastTimestamp = lastTimestamp;
                if (!loaded.TryAdd(id, e)) return false;
            }
            if (!r.IsAtEnd) return false;
        }
        catch (ProtocolException)
        {
            return false;
        }
        _producers.Clear();
        foreach (var (id, e) in loaded) _producers.Add(id, e);
        return true;
    }
}
