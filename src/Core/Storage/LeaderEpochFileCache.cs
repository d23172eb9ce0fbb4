using System.Buffers.Binary;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>One leader epoch and the first offset written in it.</summary>
public readonly record struct EpochEntry(int Epoch, long StartOffset)
{
    public override string ToString() => $"(epoch {Epoch}, start {StartOffset})";
}

/// <summary>
/// A log's leader-epoch cache (Kafka's <c>LeaderEpochFileCache</c>): the epochs its batches were written in, each
/// with its start offset, both strictly increasing. It answers OffsetForLeaderEpoch and a fetch's LastFetchedEpoch
/// check (where does a log that saw epoch E stop holding E's data), the question replication's log matching asks.
/// This class is the in-memory state and its file encoding; <see cref="UnifiedLog"/> persists it as
/// <c>leader-epoch-checkpoint</c>, rebuilds it from batch headers at recovery and truncates it with the log.
/// </summary>
public sealed class LeaderEpochFileCache
{
    /// <summary>Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET: what OffsetForLeaderEpoch answers for an epoch
    /// it cannot place.</summary>
    public const int UndefinedEpoch = -1;
    public const long UndefinedEpochOffset = -1;

    /// <summary>File layout: version int32, count int32, count x (epoch int32, start offset int64), crc32c of all
    /// that (big-endian, like the other checkpoints of STORAGE.md).</summary>
    public const int FormatVersion = 0;
    private const int HeaderBytes = 8;
    private const int EntryBytes = 12;
    private const int CrcBytes = 4;

    /// <summary>Bound on entries a file may claim (one per leader change: far beyond any real partition's history),
    /// so a damaged count cannot make recovery allocate without limit.</summary>
    public const int MaxEntries = 1 << 20;

    private readonly List<EpochEntry> _entries = new();

    public IReadOnlyList<EpochEntry> Entries => _entries;
    public int Count => _entries.Count;
    public bool IsEmpty => _entries.Count == 0;

    /// <summary>The newest epoch, or null when no batch carried one.</summary>
    public EpochEntry? Latest => _entries.Count == 0 ? null : _entries[^1];

    /// <summary>
    /// A batch of <paramref name="epoch"/> starts at <paramref name="startOffset"/>. Nothing changes when the latest
    /// entry already has this epoch (later batches of the same epoch), or for <see cref="RecordBatch"/>es without an
    /// epoch (-1). Otherwise entries that conflict (epoch at or above it, or start at or past its start: they
    /// describe a suffix the log no longer has) are removed, as Kafka's <c>assign</c> does, and the entry is added.
    /// True when the cache changed.
    /// </summary>
    public bool Assign(int epoch, long startOffset)
    {
        Check.That(startOffset >= 0, "an epoch starts at a real offset");
        if (epoch < 0) return false;
        if (_entries.Count > 0 && _entries[^1].Epoch == epoch && _entries[^1].StartOffset <= startOffset) return false;
        while (_entries.Count > 0 && (_entries[^1].Epoch >= epoch || _entries[^1].StartOffset >= startOffset))
            _entries.RemoveAt(_entries.Count - 1);
        _entries.Add(new EpochEntry(epoch, startOffset));
        CheckInvariants();
        return true;
    }

    /// <summary>The log was cut at <paramref name="endOffset"/>: entries starting at or past it go. True when any went.</summary>
    public bool TruncateFromEnd(long endOffset)
    {
        int before = _entries.Count;
        while (_entries.Count > 0 && _entries[^1].StartOffset >= endOffset) _entries.RemoveAt(_entries.Count - 1);
        return _entries.Count != before;
    }

    /// <summary>The log start moved to <paramref name="startOffset"/>: entries wholly below it go, and the one
    /// covering it now starts there (Kafka's <c>truncateFromStart</c>). True when anything changed.</summary>
    public bool TruncateFromStart(long startOffset)
    {
        int covering = -1;
        for (int i = 0; i < _entries.Count && _entries[i].StartOffset <= startOffset; i++) covering = i;
        if (covering < 0) return false;
        bool changed = covering > 0 || _entries[covering].StartOffset != startOffset;
        if (!changed) return false;
        var kept = _entries[covering] with { StartOffset = startOffset };
        _entries.RemoveRange(0, covering + 1);
        _entries.Insert(0, kept);
        CheckInvariants();
        return true;
    }

    public void Clear() => _entries.Clear();

    /// <summary>The epoch the batch at <paramref name="offset"/> should carry: the entry with the largest start at or
    /// below it; null when the offset lies before the first entry.</summary>
    public int? EpochForOffset(long offset)
    {
        int lo = 0, hi = _entries.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (_entries[mid].StartOffset <= offset) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found < 0 ? null : _entries[found].Epoch;
    }

    /// <summary>
    /// Kafka's <c>endOffsetFor</c>: for <paramref name="requestedEpoch"/>, the largest known epoch at or below it and
    /// where that epoch's data ends (the next epoch's start offset, or <paramref name="logEndOffset"/> for the latest).
    /// (UNDEFINED, UNDEFINED) for an undefined request, an empty cache or an epoch above the latest. Below the first
    /// known epoch (retention removed the older ones) it answers (requested epoch, first start offset), as Kafka
    /// does, so a follower truncates to where the leader's retained history begins.
    /// </summary>
    public (int Epoch, long EndOffset) EndOffsetFor(int requestedEpoch, long logEndOffset)
    {
        if (requestedEpoch == UndefinedEpoch || _entries.Count == 0) return (UndefinedEpoch, UndefinedEpochOffset);
        if (requestedEpoch == _entries[^1].Epoch) return (requestedEpoch, logEndOffset);
        // The first entry whose epoch is above the requested one.
        int higher = -1;
        for (int i = 0; i < _entries.Count; i++)
            if (_entries[i].Epoch > requestedEpoch) { higher = i; break; }
        if (higher < 0) return (UndefinedEpoch, UndefinedEpochOffset);
        if (higher == 0) return (requestedEpoch, _entries[0].StartOffset);
        return (_entries[higher - 1].Epoch, _entries[higher].StartOffset);
    }

    /// <summary>Replaces the contents (recovery).</summary>
    internal void Reset(IEnumerable<EpochEntry> entries)
    {
        _entries.Clear();
        _entries.AddRange(entries);
        CheckInvariants();
    }

    public byte[] Serialize()
    {
        var bytes = new byte[HeaderBytes + _entries.Count * EntryBytes + CrcBytes];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt32BigEndian(span, FormatVersion);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], _entries.Count);
        int at = HeaderBytes;
        foreach (var e in _entries)
        {
            BinaryPrimitives.WriteInt32BigEndian(span[at..], e.Epoch);
            BinaryPrimitives.WriteInt64BigEndian(span[(at + 4)..], e.StartOffset);
            at += EntryBytes;
        }
        BinaryPrimitives.WriteUInt32BigEndian(span[at..], Crc32C.Compute(span[..at]));
        return bytes;
    }

    /// <summary>Parses a checkpoint file; null when it is damaged in any way (length, version, crc, order).</summary>
    public static List<EpochEntry>? TryParse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderBytes + CrcBytes) return null;
        if (BinaryPrimitives.ReadInt32BigEndian(bytes) != FormatVersion) return null;
        int count = BinaryPrimitives.ReadInt32BigEndian(bytes[4..]);
        if (count < 0 || count > MaxEntries || bytes.Length != HeaderBytes + (long)count * EntryBytes + CrcBytes) return null;
        int end = HeaderBytes + count * EntryBytes;
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes[end..]) != Crc32C.Compute(bytes[..end])) return null;
        var entries = new List<EpochEntry>(count);
        for (int i = 0; i < count; i++)
        {
            int at = HeaderBytes + i * EntryBytes;
            var e = new EpochEntry(BinaryPrimitives.ReadInt32BigEndian(bytes[at..]), BinaryPrimitives.ReadInt64BigEndian(bytes[(at + 4)..]));
            if (e.Epoch < 0 || e.StartOffset < 0) return null;
            if (entries.Count > 0 && (e.Epoch <= entries[^1].Epoch || e.StartOffset <= entries[^1].StartOffset)) return null;
            entries.Add(e);
        }
        return entries;
    }

    private void CheckInvariants()
    {
        for (int i = 1; i < _entries.Count; i++)
            Check.That(_entries[i].Epoch > _entries[i - 1].Epoch && _entries[i].StartOffset > _entries[i - 1].StartOffset,
                "epochs and their start offsets strictly increase");
    }

    public override string ToString() => "[" + string.Join(", ", _entries) + "]";
}
