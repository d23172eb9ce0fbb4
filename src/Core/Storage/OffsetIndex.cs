using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>A position in a segment's .log file: the batch there starts at or before <see cref="Offset"/>.</summary>
public readonly record struct OffsetPosition(long Offset, int Position);

/// <summary>
/// Sparse map from offset to file position for one segment (file <c>.index</c>): 8-byte big-endian entries of
/// (offset relative to the segment's base int32, position int32). An entry names a batch by its base offset
/// and points at the batch's first byte. Kept in memory; the file exists so a clean restart need not rescan
/// old segments. The file is not synced with the log: recovery rebuilds it from the log when it disagrees.
/// </summary>
public sealed class OffsetIndex : IDisposable
{
    public const int EntrySize = 8;

    private readonly IDiskFile _file;
    private readonly List<OffsetPosition> _entries = new();

    public OffsetIndex(IDiskFile file, long baseOffset, int maxIndexBytes)
    {
        _file = file;
        BaseOffset = baseOffset;
        MaxEntries = Math.Max(0, maxIndexBytes / EntrySize);
    }

    public long BaseOffset { get; }
    public int MaxEntries { get; }
    public int Count => _entries.Count;
    public bool IsFull => _entries.Count >= MaxEntries;
    public IReadOnlyList<OffsetPosition> Entries => _entries;
    public long SizeInBytes => (long)_entries.Count * EntrySize;

    /// <summary>Adds an entry for the batch at <paramref name="position"/> whose base offset is <paramref name="offset"/>.
    /// Ignored when full: a sparser index is still correct, and the segment rolls before its next append.</summary>
    public void Append(long offset, int position)
    {
        if (IsFull) return;
        Check.That(offset >= BaseOffset && offset - BaseOffset <= int.MaxValue);
        if (_entries.Count > 0)
        {
            var last = _entries[^1];
            Check.That(offset > last.Offset && position > last.Position);
        }
        Span<byte> entry = stackalloc byte[EntrySize];
        BinaryPrimitives.WriteInt32BigEndian(entry, (int)(offset - BaseOffset));
        BinaryPrimitives.WriteInt32BigEndian(entry[4..], position);
        WriteEntry(entry);
        _entries.Add(new OffsetPosition(offset, position));
    }

    /// <summary>The last entry at or below <paramref name="targetOffset"/>; the segment start when none.</summary>
    public OffsetPosition Lookup(long targetOffset)
    {
        var span = CollectionsMarshal.AsSpan(_entries);
        int lo = 0, hi = span.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (span[mid].Offset <= targetOffset)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found < 0 ? new OffsetPosition(BaseOffset, 0) : span[found];
    }

    /// <summary>
    /// Reads the file into memory, refusing it (and staying empty) unless it is a whole number of entries
    /// with offsets and positions strictly increasing, positions inside <paramref name="logSize"/> and
    /// offsets below <paramref name="offsetLimit"/>. Returns the reason for refusing, or null.
    /// </summary>
    public string? Load(int logSize, long offsetLimit)
    {
        _entries.Clear();
        long length = _file.Length;
        if (length % EntrySize != 0) return $"size {length} is not a multiple of {EntrySize}";
        if (length > (long)int.MaxValue) return "index file too large";
        var bytes = new byte[(int)length];
        if (_file.Read(0, bytes) != bytes.Length) return "short read";
        for (int at = 0; at < bytes.Length; at += EntrySize)
        {
            long offset = BaseOffset + BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at));
            int position = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at + 4));
            bool increasing = _entries.Count == 0
                ? offset >= BaseOffset && position >= 0
                : offset > _entries[^1].Offset && position > _entries[^1].Position;
            if (!increasing || position >= logSize || offset >= offsetLimit)
            {
                _entries.Clear();
                return $"entry {at / EntrySize} ({offset}, {position}) is out of order or points past the log";
            }
            _entries.Add(new OffsetPosition(offset, position));
        }
        return null;
    }

    /// <summary>Empties the index and its file, before a rebuild.</summary>
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
