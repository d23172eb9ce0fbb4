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
public sealed class TimeIndex : SparseIndex<TimestampOffset>
{
    public const int EntrySize = 12;

    public TimeIndex(IDiskFile file, long baseOffset, int maxIndexBytes) : base(file, baseOffset, maxIndexBytes, EntrySize) { }

    /// <summary>The last entry (read from the file once released); null when there is none or that read fails.</summary>
    public TimestampOffset? LastEntry => Count > 0 && TryGetEntry(Count - 1, out var last) ? last : null;

    /// <summary>Adds (timestamp, offset) when the timestamp is above the last entry's and there is room.</summary>
    public void MaybeAppend(long timestamp, long offset)
    {
        if (IsFull) return;
        if (EntryList.Count > 0)
        {
            var last = EntryList[^1];
            if (timestamp <= last.Timestamp) return;
            Check.That(offset > last.Offset);
        }
        Check.That(offset >= BaseOffset && offset - BaseOffset <= int.MaxValue);
        Span<byte> entry = stackalloc byte[EntrySize];
        BinaryPrimitives.WriteInt64BigEndian(entry, timestamp);
        BinaryPrimitives.WriteInt32BigEndian(entry[8..], (int)(offset - BaseOffset));
        AppendEntry(entry, new TimestampOffset(timestamp, offset));
    }

    /// <summary>The last entry whose timestamp is below <paramref name="target"/>: every record with a timestamp
    /// at or above the target lies after that entry's offset. Null when the search must start at the segment start.</summary>
    public TimestampOffset? LookupBelow(long target)
    {
        if (!InMemory) return LookupBelowInFile(target);
        var span = CollectionsMarshal.AsSpan(EntryList);
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

    /// <summary>The same search over a released index, one 12-byte read per step; a failed read, or an entry that
    /// could not be right, gives null (search from the segment start: slower, always correct).</summary>
    private TimestampOffset? LookupBelowInFile(long target)
    {
        int lo = 0, hi = Count - 1;
        TimestampOffset? found = null;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (!TryGetEntry(mid, out var entry) || entry.Offset < BaseOffset) return null;
            if (entry.Timestamp < target)
            {
                if (found is { } f && (entry.Timestamp < f.Timestamp || entry.Offset < f.Offset)) return null;
                found = entry;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return found;
    }

    protected override TimestampOffset Decode(ReadOnlySpan<byte> raw)
        => new(BinaryPrimitives.ReadInt64BigEndian(raw), BaseOffset + BinaryPrimitives.ReadInt32BigEndian(raw[8..]));

    /// <summary>Reads the file, refusing it (staying empty) unless whole entries strictly increase in both
    /// columns with offsets below <paramref name="offsetLimit"/>. Returns the reason for refusing, or null.</summary>
    public string? Load(long offsetLimit) => LoadEntries((ReadOnlySpan<byte> raw, int index, out TimestampOffset entry) =>
    {
        long timestamp = BinaryPrimitives.ReadInt64BigEndian(raw);
        long offset = BaseOffset + BinaryPrimitives.ReadInt32BigEndian(raw[8..]);
        entry = new TimestampOffset(timestamp, offset);
        bool increasing = EntryList.Count == 0
            ? offset >= BaseOffset
            : timestamp > EntryList[^1].Timestamp && offset > EntryList[^1].Offset;
        return increasing && offset < offsetLimit ? null
            : $"entry {index} ({timestamp}, {offset}) is out of order or past the log";
    });
}
