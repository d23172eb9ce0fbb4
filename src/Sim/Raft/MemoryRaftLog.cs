using DetKafka.Core.Raft;
using DetKafka.Core.Util;

namespace DetKafka.Sim.Raft;

/// <summary>One entry of the simulated replicated log: the epoch of the leader that appended it, the proposed value
/// (or a leader-change control entry).</summary>
public readonly record struct SimEntry(int Epoch, long Value, bool Control)
{
    public ulong Hash => ((ulong)(uint)Epoch * 0x9E3779B97F4A7C15UL) ^ ((ulong)Value * 0xBF58476D1CE4E5B9UL) ^ (Control ? 0x94D049BB133111EBUL : 0);
}

/// <summary>A run of entries starting at <see cref="BaseOffset"/> (the simulator's TRecords).</summary>
public sealed class SimBatch(long baseOffset, SimEntry[] entries)
{
    public long BaseOffset { get; } = baseOffset;
    public SimEntry[] Entries { get; } = entries;
    /// <summary>The storage's own form of these entries when they were read from a log (a <see cref="DiskRaftLog"/>'s
    /// record batches), which a follower appends as they are.</summary>
    public object? Payload { get; init; }
}

/// <summary>What the Raft simulation needs of a replica's log beyond <see cref="IRaftLog{TRecords}"/>: the entry at an
/// offset (the checks), the disk's side (sync completion, a crash, retention) and a record of the lowest offset
/// changed since the checker last looked. <see cref="MemoryRaftLog"/> models a log in memory; <see cref="DiskRaftLog"/>
/// is the broker's <c>UnifiedLog</c> on a simulated disk behind the real adapter.</summary>
public interface ISimRaftLog : IRaftLog<SimBatch>
{
    long MinChangedOffset { get; set; }
    Func<bool>? FailSync { get; set; }
    SimEntry? EntryAt(long offset);
    /// <summary>The disk finished the sync (true) or failed it with EIO (false: nothing more became durable).</summary>
    bool CompleteSync();
    /// <summary>Power loss: only what the disk made durable is left; the log is recovered from it.</summary>
    void Crash();
    /// <summary>Retention: drop entries below <paramref name="offset"/> (at most the high watermark).</summary>
    void DeleteBelow(long offset);
}

/// <summary>
/// The simulator's replicated log: a volatile image (what reads see) and a durable image (what a crash keeps). A
/// sync persists the volatile image up to its length when the sync was requested; a crash drops everything not
/// synced (appends, and truncations too: a truncated tail that was synced comes back). Keeps an epoch cache (the
/// start offset of each epoch) as Kafka's LeaderEpochFileCache does.
/// </summary>
public sealed class MemoryRaftLog : ISimRaftLog
{
    public const int MaxEntries = 1_000_000;
    private readonly List<SimEntry> _entries = new();
    private readonly List<(int Epoch, long Start)> _epochs = new();
    private long _start;
    private int _startEpoch; // the epoch of the entry just below the log start (0 for a fresh log)

    private List<SimEntry> _durable = new();
    private long _durableStart;
    private int _durableStartEpoch;
    private int _dirtyFrom; // index into _entries below which volatile and durable agree
    private bool _startDirty;
    private long _syncRequestedLength = -1;

    /// <summary>The lowest offset changed (appended or truncated) since the checker last looked.</summary>
    public long MinChangedOffset { get; set; } = long.MaxValue;
    public long HighWatermarkSeen { get; private set; }
    public Func<bool>? FailSync { get; set; }

    public long LogStartOffset => _start;
    public OffsetAndEpoch LogStartOffsetAndEpoch => new(_start, _start == 0 ? 0 : _startEpoch);
    public long LogEndOffset => _start + _entries.Count;
    public long SyncedEndOffset { get; private set; }
    public bool SyncInFlight => _syncRequestedLength >= 0;

    public OffsetAndEpoch EndOffsetAndEpoch => new(LogEndOffset, _entries.Count > 0 ? _entries[^1].Epoch : _startEpoch);

    public SimEntry? EntryAt(long offset) => offset >= _start && offset < LogEndOffset ? _entries[(int)(offset - _start)] : null;

    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        for (int i = _epochs.Count - 1; i >= 0; i--)
        {
            if (_epochs[i].Epoch > epoch) continue;
            long end = i == _epochs.Count - 1 ? LogEndOffset : _epochs[i + 1].Start;
            return new OffsetAndEpoch(end, _epochs[i].Epoch);
        }
        if (_startEpoch >= 0 && _startEpoch <= epoch) return new OffsetAndEpoch(_epochs.Count > 0 ? _epochs[0].Start : LogEndOffset, _startEpoch);
        return new OffsetAndEpoch(-1, -1);
    }

    public long AppendAsLeader(SimBatch records, int epoch)
    {
        long first = LogEndOffset;
        foreach (var e in records.Entries) Append(e with { Epoch = epoch });
        return first;
    }

    public long AppendLeaderChange(int epoch, int leaderId)
    {
        long offset = LogEndOffset;
        Append(new SimEntry(epoch, leaderId, Control: true));
        return offset;
    }

    public void AppendAsFollower(SimBatch records)
    {
        Check.That(records.BaseOffset == LogEndOffset);
        foreach (var e in records.Entries) Append(e);
    }

    private void Append(SimEntry e)
    {
        Check.That(_entries.Count < MaxEntries);
        int lastEpoch = _entries.Count > 0 ? _entries[^1].Epoch : _startEpoch;
        Check.That(e.Epoch >= lastEpoch);
        if (_epochs.Count == 0 || _epochs[^1].Epoch != e.Epoch) _epochs.Add((e.Epoch, LogEndOffset));
        MinChangedOffset = Math.Min(MinChangedOffset, LogEndOffset);
        _entries.Add(e);
    }

    public SimBatch? Read(long fromOffset, int maxEntries)
    {
        Check.That(fromOffset >= _start && fromOffset <= LogEndOffset);
        int from = (int)(fromOffset - _start);
        int n = Math.Min(maxEntries, _entries.Count - from);
        if (n <= 0) return null;
        return new SimBatch(fromOffset, _entries.GetRange(from, n).ToArray());
    }

    public void TruncateTo(long offset)
    {
        Check.That(offset >= _start && offset <= LogEndOffset);
        int keep = (int)(offset - _start);
        _entries.RemoveRange(keep, _entries.Count - keep);
        while (_epochs.Count > 0 && _epochs[^1].Start >= offset) _epochs.RemoveAt(_epochs.Count - 1);
        _dirtyFrom = Math.Min(_dirtyFrom, keep);
        MinChangedOffset = Math.Min(MinChangedOffset, offset);
        SyncedEndOffset = Math.Min(SyncedEndOffset, offset);
    }

    public void TruncateFullyAndStartAt(long offset, int epoch)
    {
        MinChangedOffset = Math.Min(MinChangedOffset, _start);
        _entries.Clear();
        _epochs.Clear();
        _start = offset;
        _startEpoch = epoch;
        _dirtyFrom = 0;
        _startDirty = true;
        SyncedEndOffset = Math.Min(SyncedEndOffset, offset);
    }

    /// <summary>Retention: drop entries below <paramref name="offset"/> (at most the high watermark).</summary>
    public void DeleteBelow(long offset)
    {
        if (offset <= _start || offset > LogEndOffset) return;
        int n = (int)(offset - _start);
        _startEpoch = _entries[n - 1].Epoch;
        _entries.RemoveRange(0, n);
        _start = offset;
        while (_epochs.Count > 1 && _epochs[1].Start <= offset) _epochs.RemoveAt(0);
        if (_epochs.Count > 0 && _epochs[0].Start < offset) _epochs[0] = (_epochs[0].Epoch, offset);
        _dirtyFrom = 0;
        _startDirty = true;
    }

    public void RequestSync()
    {
        Check.That(!SyncInFlight);
        _syncRequestedLength = _entries.Count;
    }

    /// <summary>The disk finished the sync (true) or failed it with EIO (false: nothing more became durable).</summary>
    public bool CompleteSync()
    {
        Check.That(SyncInFlight);
        int len = (int)Math.Min(_syncRequestedLength, _entries.Count);
        _syncRequestedLength = -1;
        if (FailSync?.Invoke() == true) return false;
        if (_startDirty)
        {
            _durable = _entries.GetRange(0, len);
            _durableStart = _start;
            _durableStartEpoch = _startEpoch;
            _startDirty = false;
        }
        else
        {
            int from = Math.Min(_dirtyFrom, _durable.Count);
            _durable.RemoveRange(from, _durable.Count - from);
            if (len > from) _durable.AddRange(_entries.GetRange(from, len - from));
        }
        _dirtyFrom = len;
        SyncedEndOffset = _start + len;
        return true;
    }

    public void OnHighWatermark(long highWatermark) => HighWatermarkSeen = highWatermark;

    /// <summary>Power loss: the volatile image becomes the durable one.</summary>
    public void Crash()
    {
        MinChangedOffset = Math.Min(MinChangedOffset, _start);
        _entries.Clear();
        _entries.AddRange(_durable);
        _start = _durableStart;
        _startEpoch = _durableStartEpoch;
        _epochs.Clear();
        for (int i = 0; i < _entries.Count; i++)
            if (_epochs.Count == 0 || _epochs[^1].Epoch != _entries[i].Epoch) _epochs.Add((_entries[i].Epoch, _start + i));
        _dirtyFrom = _entries.Count;
        _startDirty = false;
        _syncRequestedLength = -1;
        SyncedEndOffset = LogEndOffset;
        HighWatermarkSeen = 0;
        MinChangedOffset = Math.Min(MinChangedOffset, _start);
    }

    public IEnumerable<(long Offset, SimEntry Entry)> Entries()
    {
        for (int i = 0; i < _entries.Count; i++) yield return (_start + i, _entries[i]);
    }
}

/// <summary>The simulator's quorum-state file: writes are volatile until their sync completes (FIFO).</summary>
public sealed class MemoryQuorumStore : IQuorumStateStore
{
    private QuorumStateData? _volatile;
    private readonly Queue<QuorumStateData> _pending = new();
    public QuorumStateData? Durable { get; private set; }
    public int PendingSyncs => _pending.Count;
    public int SyncsToSchedule { get; set; }

    public QuorumStateData? Read() => _volatile;

    public void Write(QuorumStateData state)
    {
        _volatile = state;
        _pending.Enqueue(state);
        SyncsToSchedule++;
        Check.That(_pending.Count <= 10_000);
    }

    public void CompleteSync() => Durable = _pending.Dequeue();

    public void Crash()
    {
        _pending.Clear();
        SyncsToSchedule = 0;
        _volatile = Durable;
    }

    /// <summary>Formats the disk with a directory id (kafka-storage format), durable at once.</summary>
    public void Format(Guid directoryId)
    {
        Durable = new QuorumStateData(0, QuorumStateData.NoId, Guid.Empty, QuorumStateData.NoId, directoryId);
        _volatile = Durable;
    }
}
