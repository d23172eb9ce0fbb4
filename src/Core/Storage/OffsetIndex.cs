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
/// and points at the batch's first byte. In memory while the segment is active, read from the file once it is
/// closed (<see cref="SparseIndex{TEntry}.Release"/>); the file also lets a clean restart skip rescanning old
/// segments. The file is not synced with the log: recovery rebuilds it from the log when it disagrees.
/// </summary>
public sealed class OffsetIndex : SparseIndex<OffsetPosition>
{
    public const int EntrySize = 8;

    public OffsetIndex(IDiskFile file, long baseOffset, int maxIndexBytes) : base(file, baseOffset, maxIndexBytes, EntrySize) { }


    /// <summary>Adds an entry for the batch at <paramref name="position"/> whose base offset is <paramref name="offset"/>.
    /// Ignored when full: a sparser index is still correct, and the segment rolls before its next append.</summary>
    public void Append(long offset, int position)
    {
        if (IsFull) return;
        Check.That(offset >= BaseOffset && offset - BaseOffset <= int.MaxValue);
        if (EntryList.Count > 0)
        {
            var last = EntryList[^1];
            Check.That(offset > last.Offset && position > last.Position);
        }
        Span<byte> entry = stackalloc byte[EntrySize];
        BinaryPrimitives.WriteInt32BigEndian(entry, (int)(offset - BaseOffset));
        BinaryPrimitives.WriteInt32BigEndian(entry[4..], position);
        AppendEntry(entry, new OffsetPosition(offset, position));
    }

    /// <summary>The last entry at or below <paramref name="targetOffset"/>; the segment start when none.</summary>
    public OffsetPosition Lookup(long targetOffset)
    {
        if (!InMemory) return LookupInFile(targetOffset);
        var span = CollectionsMarshal.AsSpan(EntryList);
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

    /// <summary>The same search over a released index: one read of 8 bytes per step (about 17 for a full 1 GiB
    /// segment at the default interval, from the page cache once warm). A read that fails, or an entry that could
    /// not be right, gives the segment start: the walk from there is slower but always correct.</summary>
    private OffsetPosition LookupInFile(long targetOffset)
    {
        var start = new OffsetPosition(BaseOffset, 0);
        int lo = 0, hi = Count - 1;
        var found = start;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (!TryGetEntry(mid, out var entry)) return start;
            if (entry.Offset <= targetOffset)
            {
                if (entry.Offset < found.Offset || entry.Position < found.Position) return start;
                found = entry;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found;
    }

    protected override OffsetPosition Decode(ReadOnlySpan<byte> raw)
        => new(BaseOffset + BinaryPrimitives.ReadInt32BigEndian(raw), BinaryPrimitives.ReadInt32BigEndian(raw[4..]));

    /// <summary>
    /// Reads the file into memory, refusing it (and staying empty) unless it is a whole number of entries
    /// with offsets and positions strictly increasing, positions inside <paramref name="logSize"/> and
    /// offsets below <paramref name="offsetLimit"/>. Returns the reason for refusing, or null.
    /// </summary>
    public string? Load(int logSize, long offsetLimit) => LoadEntries((ReadOnlySpan<byte> raw, int index, out OffsetPosition entry) =>
    {
        long offset = BaseOffset + BinaryPrimitives.ReadInt32BigEndian(raw);
        int position = BinaryPrimitives.ReadInt32BigEndian(raw[4..]);
        entry = new OffsetPosition(offset, position);
        bool increasing = EntryList.Count == 0
            ? offset >= BaseOffset && position >= 0
            : offset > EntryList[^1].Offset && position > EntryList[^1].Position;
        return increasing && position < logSize && offset < offsetLimit ? null
            : $"entry {index} ({offset}, {position}) is out of order or points past the log";
    });
}
