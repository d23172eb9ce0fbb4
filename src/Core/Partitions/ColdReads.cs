using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Partitions;

/// <summary>
/// Reads of segments not in cache as asynchronous inputs (issue 16 item 5; STORAGE.md "Cold reads"). Before a fetch
/// reads a partition, <see cref="Ready"/> asks the segment's <see cref="CacheWindow"/> (Core's model of the page
/// cache: what this node wrote, read or read ahead in the last <see cref="BrokerConfig.ColdReadAfterMs"/>) whether the
/// bytes the read will touch are hot. Hot: the read runs now, on the driver thread, as before. Cold: the range is
/// handed to the disk (<see cref="IDiskFile.RequestRead"/>: the host preads it on a read thread, the simulator
/// completes it after a latency) and the fetch waits in the purgatory like one short of min_bytes; the completion
/// (an <c>OnSyncCompleted</c> with a token from <see cref="TokenBase"/> up) warms the range and marks the partition's
/// watch key, so the fetch is retried and reads what is now cached. One cold read therefore delays only the fetches
/// that need it, never the produces and fetches of other partitions. Kafka has no such step (its fetch threads block
/// in pread); Redpanda's read path is asynchronous throughout.
/// </summary>
public sealed class ColdReads
{
    /// <summary>Read tokens are at least this; sync tokens of partition logs count up from 1, metadata and Raft ones
    /// are negative.</summary>
    public const long TokenBase = 1L << 62;

    /// <summary>Read-aheads in flight per node, at most; past it a cold read runs synchronously, as before (every
    /// waiting fetch must have a completion coming that retries it).</summary>
    public const int InFlightMax = 64;

    /// <summary>The hot check covers the fetch's byte limit plus this: the offset index points up to
    /// index.interval.bytes before the fetch offset, and a first batch may exceed the limit (KIP-74) up to
    /// message.max.bytes.</summary>
    public const int ReadSlackBytes = 1024 * 1024 + 64 * 1024;

    /// <summary>A read-ahead covers the fetch's byte limit plus this, so the consumer's next fetches (sequential) stay
    /// hot for a while; at least <see cref="ReadSlackBytes"/>, so the retried fetch finds its range covered.</summary>
    public const int ReadAheadBytes = 4 * 1024 * 1024;

    /// <summary>The largest byte limit a read-ahead is sized by (a fetch's partition_max_bytes can say 2 GiB).</summary>
    private const int LimitBytesMax = 64 * 1024 * 1024;

    private readonly BrokerNode _broker;
    private readonly Dictionary<long, InFlightRead> _inFlight = new();
    private long _nextToken = TokenBase;

    private sealed record InFlightRead(Partition Partition, LogSegment Segment, long From, long To, bool Index = false);

    internal ColdReads(BrokerNode broker) => _broker = broker;

    public static bool IsReadToken(long token) => token >= TokenBase;

    /// <summary>Off (every read synchronous, the behaviour before this model) when the config says 0.</summary>
    public bool Enabled => _broker.Config.ColdReadAfterMs > 0;

    /// <summary>Read-aheads requested and completed since start (the simulator's checks count them).</summary>
    public long Requested { get; private set; }
    public long Completed { get; private set; }
    public int InFlight => _inFlight.Count;

    /// <summary>
    /// A consumer or follower fetch is about to read <paramref name="partition"/> from <paramref name="fetchOffset"/>,
    /// at most <paramref name="maxBytes"/>, below <paramref name="maxOffsetExclusive"/>. True when the read may run now
    /// (hot, or it reads nothing); false when the bytes were asked of the disk (or are already being read) and the
    /// fetch must wait for the completion, which marks the partition's watch key.
    /// </summary>
    public bool Ready(Partition partition, long fetchOffset, int maxBytes, long maxOffsetExclusive)
    {
        long coldAfter = _broker.Config.ColdReadAfterMs;
        if (coldAfter <= 0) return true;
        if (!partition.Log.TryLocateSegment(fetchOffset, maxOffsetExclusive, out var segment, out long offset)) return true;
        long now = _broker.Clock.MonotonicMs;
        if (!IndexReady(partition, segment, now, coldAfter)) return false;
        int position = segment.IndexedPosition(offset);
        long limit = Math.Clamp(maxBytes, 0, LimitBytesMax);
        long to = Math.Min(segment.Size, position + limit + ReadSlackBytes);
        if (segment.ReadCache.Covers(position, to, now, coldAfter) || _broker.Config.TestOnlySynchronousColdReads)
        {
            // The planted bug reads cold bytes right here, on the driver thread, as the broker did before.
            segment.ReadCache.Touch(position, to, now, coldAfter);
            return true;
        }
        if (segment.ReadPending) return false;
        if (_inFlight.Count >= InFlightMax)
        {
            // Too many reads in flight: this one runs synchronously, as before (rare; bounded either way).
            segment.ReadCache.Touch(position, to, now, coldAfter);
            return true;
        }
        long readTo = Math.Min(segment.Size, position + limit + ReadAheadBytes);
        long token = _nextToken++;
        segment.ReadPending = true;
        _inFlight.Add(token, new InFlightRead(partition, segment, position, readTo));
        Requested++;
        segment.LogFile.RequestRead(position, checked((int)(readTo - position)), token);
        return false;
    }

    /// <summary>
    /// A closed segment's offset index is searched in its file (<see cref="LogSegment.ReleaseIndexEntries"/>): before
    /// that search runs on the driver thread, the whole file (8 bytes per index.interval.bytes of log, at most
    /// segment.index.bytes) must be warm in <see cref="LogSegment.IndexReadCache"/>, else it is read ahead like the
    /// log's bytes and the fetch waits for the completion. True when the search may run now.
    /// </summary>
    private bool IndexReady(Partition partition, LogSegment segment, long now, long coldAfter)
    {
        var index = segment.OffsetIndex;
        if (index.InMemory || index.Count == 0) return true;
        long length = index.SizeInBytes;
        if (segment.IndexReadCache.Covers(0, length, now, coldAfter) || _broker.Config.TestOnlySynchronousColdReads
            || (!segment.ReadPending && _inFlight.Count >= InFlightMax))
        {
            // Hot, or (planted bug, or too many reads in flight) searched synchronously as the log would be read.
            segment.IndexReadCache.Touch(0, length, now, coldAfter);
            return true;
        }
        if (segment.ReadPending) return false;
        long token = _nextToken++;
        segment.ReadPending = true;
        _inFlight.Add(token, new InFlightRead(partition, segment, 0, length, Index: true));
        Requested++;
        index.File.RequestRead(0, checked((int)length), token);
        return false;
    }

    /// <summary>Bytes were written to <paramref name="segment"/> at <c>[from, to)</c>: the page cache holds them.</summary>
    internal void NoteWritten(LogSegment segment, long from, long to)
    {
        long coldAfter = _broker.Config.ColdReadAfterMs;
        if (coldAfter > 0) segment.ReadCache.Touch(from, to, _broker.Clock.MonotonicMs, coldAfter);
    }

    /// <summary>A read-ahead finished: its range is warm; the fetches waiting on its partition are retried at the end
    /// of the step. A failed read warms it too, so the synchronous read that follows meets the error as it did before
    /// (and the fetch answers it) rather than asking again forever.</summary>
    internal void OnCompleted(long token, DiskStatus status)
    {
        if (!_inFlight.Remove(token, out var read)) return; // a read from before a restart of this state: ignored
        Check.That(read.Segment.ReadPending, "one read-ahead in flight per segment");
        read.Segment.ReadPending = false;
        Completed++;
        if (status != DiskStatus.Ok)
            _broker.Log.Warn("A read ahead of {TopicPartition} failed ({Status}); the fetch reads synchronously",
                read.Partition.TopicPartition, status);
        long coldAfter = _broker.Config.ColdReadAfterMs;
        if (read.Index) read.Segment.IndexReadCache.Touch(read.From, read.To, _broker.Clock.MonotonicMs, Math.Max(1, coldAfter));
        else read.Segment.ReadCache.Touch(read.From, read.To, _broker.Clock.MonotonicMs, Math.Max(1, coldAfter));
        _broker.Purgatory.OnPartitionAdvanced(read.Partition);
    }
}
