using DetKafka.Core.Abstractions;

namespace DetKafka.Core.Storage;

/// <summary>
/// What <see cref="OffsetIndex"/> and <see cref="TimeIndex"/> share: fixed-size big-endian entries appended to a
/// file that is never synced with the log, a copy of them in memory, a bound on how many fit
/// (segment.index.bytes), and the rule that a file which failed a write is emptied and left alone (an empty
/// index is valid and makes the next open scan the segment) while the in-memory entries stay right.
/// </summary>
public abstract class SparseIndex<TEntry> : IDisposable where TEntry : struct
{
    private readonly IDiskFile _file;
    private readonly int _entrySize;

    protected SparseIndex(IDiskFile file, long baseOffset, int maxIndexBytes, int entrySize)
    {
        _file = file;
        _entrySize = entrySize;
        BaseOffset = baseOffset;
        MaxEntries = Math.Max(0, maxIndexBytes / entrySize);
    }

    protected List<TEntry> EntryList { get; } = new();

    public long BaseOffset { get; }
    public int MaxEntries { get; }
    public int Count => EntryList.Count;
    public bool IsFull => EntryList.Count >= MaxEntries;
    public IReadOnlyList<TEntry> Entries => EntryList;
    public long SizeInBytes => (long)EntryList.Count * _entrySize;

    /// <summary>True once a write of the file failed: the file is then left empty while the entries stay right.</summary>
    public bool FileDamaged { get; private set; }

    /// <summary>Checks one raw entry against the entries loaded before it; null when it is acceptable.</summary>
    protected delegate string? EntryDecoder(ReadOnlySpan<byte> raw, int index, out TEntry entry);

    /// <summary>Reads the file into memory, refusing it (and staying empty) unless it is a whole number of
    /// entries each of which <paramref name="decode"/> accepts. Returns the reason for refusing, or null.</summary>
    protected string? LoadEntries(EntryDecoder decode)
    {
        EntryList.Clear();
        long length = _file.Length;
        if (length % _entrySize != 0) return $"size {length} is not a multiple of {_entrySize}";
        if (length > (long)int.MaxValue) return "index file too large";
        var bytes = new byte[(int)length];
        if (_file.Read(0, bytes) != bytes.Length) return "short read";
        for (int at = 0; at < bytes.Length; at += _entrySize)
        {
            if (decode(bytes.AsSpan(at, _entrySize), at / _entrySize, out var entry) is { } problem)
            {
                EntryList.Clear();
                return problem;
            }
            EntryList.Add(entry);
        }
        return null;
    }

    protected void AppendEntry(ReadOnlySpan<byte> raw, TEntry entry)
    {
        WriteEntry(raw);
        EntryList.Add(entry);
    }

    private void WriteEntry(ReadOnlySpan<byte> raw)
    {
        if (FileDamaged) return;
        if (_file.Write(SizeInBytes, raw) == DiskStatus.Ok) return;
        FileDamaged = true;
        _file.Truncate(0);
    }

    /// <summary>Empties the index and its file, before a rebuild.</summary>
    public void Reset()
    {
        EntryList.Clear();
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

    /// <summary>Asks for a sync; its completion arrives as <c>OnSyncCompleted(token)</c> (segment roll).</summary>
    public void RequestSync(long token) => _file.RequestSync(token);

    public void Dispose() => _file.Dispose();
}
