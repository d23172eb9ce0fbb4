using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>An entry of the time index: no batch before the batch at <see cref="Offset"/> has a timestamp
/// as large as <see cref="Timestamp"/>, and that batch's max timestamp is <see cref="Timestamp"/>.</summary>
public readonly record struct TimestampOffset(long Timestamp, long Offset);

/// <summary>
/// Sparse map from timestamp to offset for one segment (file <c>.timeindex</c>): 12-byte big-endian entries
/// of (timestamp int64, offset relative to the segment's base int32). Written alongside the offset index,
/// only when the segment's max timestamp has grown since the last entry, so both columns strictly increase.
/// </summary>
public sealed class TimeIndex : IDisposable
{
    public const int EntrySize = 12;

    private readonly IDiskFile _file;
    private readonly List<TimestampOffset> _entries = new();

    public TimeIndex(IDiskFile file, long baseOffset, int maxIndexBytes)
    {
        _file = file;
        BaseOffset = baseOffset;
        MaxEntries = Math.Max(0, maxIndexBytes / EntrySize);
    }

    public long BaseOffset { get; }
    public int MaxEntries { get; }
    public int Count => _entries.Count;
    public bool IsFull => _entries.Count >= MaxEntries;
    public IReadOnlyList<TimestampOffset> Entries => _entries;
    public long SizeInBytes => (long)_entries.Count * EntrySize;
    public TimestampOffset? LastEntry => _entries.Count == 0 ? null : _entries[^1];

    /// <summary>Adds (timestamp, offset) when the timestamp is above the last entry's and there is room.</summary>
    public void MaybeAppend(long timestamp, long offset)
    {
        if (IsFull) return;
        if (_entries.Count > 0)
        {
            var last = _entries[^1];
            if (timestamp <= last.Timestamp) return;
            Check.That(offset > last.Offset);
        }
        Check.That(offset >= BaseOffset && offset - BaseOffset <= int.MaxValue);
        Span<byte> entry = stackalloc byte[EntrySize];
        BinaryPrimitives.WriteInt64BigEndian(entry, timestamp);
        BinaryPrimitives.WriteInt32BigEndian(entry[8..], (int)(offset - BaseOffset));
        WriteEntry(entry);
        _entries.Add(new TimestampOffset(timestamp, offset));
    }

    /// <summary>The last entry whose timestamp is below <paramref name="target"/>: every record with a timestamp
    /// at or above the target lies after that entry's offset. Null when the search must start at the segment start.</summary>
    public TimestampOffset? LookupBelow(long target)
    {
        var span = CollectionsMarshal.AsSpan(_entries);
        int lo = 0, hi = span.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (span[mid].Timestamp < target)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found < 0 ? null : span[found];
    }

    /// <summary>Reads the file, refusing it (staying empty) unless whole entries strictly increase in both
    /// columns with offsets below <paramref name="offsetLimit"/>. Returns the reason for refusing, or null.</summary>
    public string? Load(long offsetLimit)
    {
        _entries.Clear();
        long length = _file.Length;
        if (length % EntrySize != 0) return $"size {length} is not a multiple of {EntrySize}";
        if (length > (long)int.MaxValue) return "index file too large";
        var bytes = new byte[(int)length];
        if (_file.Read(0, bytes) != bytes.Length) return "short read";
        for (int at = 0; at < bytes.Length; at += EntrySize)
        {
            long timestamp = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(at));
            long offset = BaseOffset + BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at + 8));
            bool increasing = _entries.Count == 0
                ? offset >= BaseOffset
                : timestamp > _entries[^1].Timestamp && offset > _entries[^1].Offset;
            if (!increasing || offset >= offsetLimit)
            {
                _entries.Clear();
                return $"entry {at / EntrySize} ({timestamp}, {offset}) is out of order or past the log";
            }
            _entries.Add(new TimestampOffset(timestamp, offset));
        }
        return null;
    }

    /// <summary>True once a write of the file failed: the file is then left empty (an empty index is valid
    /// and makes the next open scan the segment) while the in-memory entries stay right.</summary>
    public bool FileDamaged { get; private set; }

    private void WriteEntry(ReadOnlySpan<byte> entry)
    {
        if (FileDamaged) return;
        if (_file.Write(SizeInBytes, entry) == DiskStatus.Ok) return;
        FileDamaged = true;
        _file.Truncate(0);
    }

    /// <summary>Empties the index and its file, before a rebuild.</summary>
    public void Reset()
    {
        _entries.Clear();
        FileDamaged = false;
        _file.Truncate(0);
    }

    /// <summary>Keeps the in-memory entries but empties the file and stops writing it (the other index was damaged).</summary>
    public void DiscardFile()
    {
        FileDamaged = true;
        _file.Truncate(0);
    }

    public DiskStatus SyncNow() => _file.SyncNow();

    public void Dispose() => _file.Dispose();
}
