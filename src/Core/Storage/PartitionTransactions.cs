using DetKafka.Core.Protocol;

namespace DetKafka.Core.Storage;

/// <summary>An aborted transaction of one partition: its producer, first data offset and marker offset.</summary>
public readonly record struct AbortedTransaction(long ProducerId, long FirstOffset, long LastOffset);

/// <summary>
/// The transactional state of one partition (the part of Kafka's ProducerStateManager and its per-segment
/// transaction index that serves read_committed): which producers have a transaction open here and from which
/// offset, the aborted transactions (Kafka's .txnindex, kept in memory, rebuilt from the log at start-up), and
/// the last coordinator epoch of each producer's markers. The last stable offset is the smallest first offset
/// of a transaction whose marker is not yet below the high watermark, or the high watermark.
/// docs/design/TRANSACTIONS.md.
/// </summary>
public sealed class PartitionTransactions
{
    /// <summary>Transactions open in one partition at most (one per producer): past it a new one is refused.</summary>
    public const int OpenMax = 100_000;

    private readonly Dictionary<long, long> _open = new();                 // producer id -> first offset
    private readonly List<(long First, long Marker)> _completing = new();  // ended, marker not yet durable
    private readonly List<AbortedTransaction> _aborted = new();           // in marker-offset order
    private readonly Dictionary<long, int> _coordinatorEpochs = new();     // producer id -> last marker's epoch

    public int OpenCount => _open.Count;

    /// <summary>The largest coordinator epoch of any marker written here; -1 when none.</summary>
    public int LargestCoordinatorEpoch
    {
        get
        {
            int largest = -1;
            foreach (int e in _coordinatorEpochs.Values) largest = Math.Max(largest, e);
            return largest;
        }
    }
    public IReadOnlyList<AbortedTransaction> Aborted => _aborted;

    /// <summary>The first offset of the producer's open transaction here, or null.</summary>
    public long? OpenFirstOffset(long producerId) => _open.TryGetValue(producerId, out long f) ? f : null;

    public bool CanOpen(long producerId) => _open.ContainsKey(producerId) || _open.Count < OpenMax;

    /// <summary>A transactional data batch was appended at <paramref name="baseOffset"/>.</summary>
    public void OnTransactionalData(long producerId, long baseOffset) => _open.TryAdd(producerId, baseOffset);

    /// <summary>Whether a marker from a coordinator of <paramref name="coordinatorEpoch"/> may be written: not older
    /// than the last marker written here for the producer (a stale coordinator is fenced).</summary>
    public ErrorCode CheckMarker(long producerId, int coordinatorEpoch)
        => _coordinatorEpochs.TryGetValue(producerId, out int last) && coordinatorEpoch < last
            ? ErrorCode.TransactionCoordinatorFenced : ErrorCode.None;

    /// <summary>A marker was appended at <paramref name="markerOffset"/>: the producer's open transaction ends.</summary>
    public void OnMarker(long producerId, bool commit, int coordinatorEpoch, long markerOffset)
    {
        if (coordinatorEpoch >= 0)
            _coordinatorEpochs[producerId] = Math.Max(coordinatorEpoch, _coordinatorEpochs.GetValueOrDefault(producerId, -1));
        if (!_open.Remove(producerId, out long first)) return; // a marker where the producer wrote nothing
        _completing.Add((first, markerOffset));
        if (!commit) _aborted.Add(new AbortedTransaction(producerId, first, markerOffset));
    }

    /// <summary>The last stable offset: below it every transaction is decided and its marker durable.</summary>
    public long LastStableOffset(long highWatermark)
    {
        // Without a lambda: this runs on every fetch, which allocates nothing once warm.
        int kept = 0;
        for (int i = 0; i < _completing.Count; i++)
            if (_completing[i].Marker >= highWatermark) _completing[kept++] = _completing[i];
        if (kept < _completing.Count) _completing.RemoveRange(kept, _completing.Count - kept);
        long lso = highWatermark;
        foreach (long first in _open.Values) lso = Math.Min(lso, first);
        foreach (var (first, _) in _completing) lso = Math.Min(lso, first);
        return lso;
    }

    /// <summary>Index into <see cref="Aborted"/> of the first transaction whose marker is at or after
    /// <paramref name="from"/>: a read from there must be told about it and every later one that starts below
    /// where the read ends.</summary>
    public int FirstAbortedEndingAtOrAfter(long from)
    {
        int lo = 0, hi = _aborted.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_aborted[mid].LastOffset < from) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Aborted transactions a read of [<paramref name="from"/>, <paramref name="upTo"/>) must be told about:
    /// those that end at or after <paramref name="from"/> and start before <paramref name="upTo"/>, in marker order.</summary>
    public List<AbortedTransaction> AbortedIn(long from, long upTo)
    {
        var list = new List<AbortedTransaction>();
        for (int i = FirstAbortedEndingAtOrAfter(from); i < _aborted.Count; i++)
            if (_aborted[i].FirstOffset < upTo) list.Add(_aborted[i]);
        return list;
    }

    /// <summary>Forgets aborted transactions whose marker is below the log start (retention or DeleteRecords).</summary>
    public void RemoveBelow(long logStartOffset)
    {
        int n = 0;
        while (n < _aborted.Count && _aborted[n].LastOffset < logStartOffset) n++;
        if (n > 0) _aborted.RemoveRange(0, n);
    }

    public void Clear()
    {
        _open.Clear();
        _completing.Clear();
        _aborted.Clear();
        _coordinatorEpochs.Clear();
    }
}
