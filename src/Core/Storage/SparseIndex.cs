using DetKafka.Core.Abstractions;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>
/// What <see cref="OffsetIndex"/> and <see cref="TimeIndex"/> share: fixed-size big-endian entries appended to a
/// file that is never synced with the log, a bound on how many fit (segment.index.bytes), and the rule that a file
/// which failed a write is emptied and left alone (an empty index is valid and makes the next open scan the
/// segment) while the in-memory entries stay right.
/// <para>
/// The entries are in memory while the segment is active (an append never reads) and while an open checks them;
/// once the segment is closed they are released (<see cref="Release"/>) and a lookup reads the entries its binary
/// search visits from the file, so the broker's heap does not grow with the log (issue 11; STORAGE.md "On disk").
/// The file is checked against the entries when they are released (an index whose file failed a write, or holds
/// anything else, keeps its entries in memory), but it can rot after that (the simulator flips bits of live index
/// files), so the segment checks every entry a lookup of a released index returns (<c>LogSegment.IndexedPosition</c>).
/// </para>
/// </summary>
public abstract class SparseIndex<TEntry> : IDisposable where TEntry : struct
{
    private readonly IDiskFile _file;
    private readonly int _entrySize;
    private List<TEntry>? _entries = new();
    private int _count;

    protected SparseIndex(IDiskFile file, long baseOffset, int maxIndexBytes, int entrySize)
    {
        _file = file;
        _entrySize = entrySize;
        BaseOffset = baseOffset;
        MaxEntries = Math.Max(0, maxIndexBytes / entrySize);
    }

    /// <summary>The entries in memory; only while <see cref="InMemory"/> (active segment, or during an open).</summary>
    protected List<TEntry> EntryList
    {
        get
        {
            Check.That(_entries is not null, "a released index has no entries in memory");
            return _entries!;
        }
    }

    public long BaseOffset { get; }
    public int MaxEntries { get; }
    public int Count => _count;
    public bool IsFull => _count >= MaxEntries;

    /// <summary>The entries, in memory; only while <see cref="InMemory"/> (see <see cref="ReadEntries"/>).</summary>
    public IReadOnlyList<TEntry> Entries => EntryList;

    public long SizeInBytes => (long)_count * _entrySize;

    /// <summary>False once <see cref="Release"/>d: lookups read the file.</summary>
    public bool InMemory => _entries is not null;

    /// <summary>The index file (a cold read of a released index reads it ahead; <c>ColdReads</c>).</summary>
    internal IDiskFile File => _file;

    /// <summary>True once a write of the file failed: the file is then left empty while the entries stay right.</summary>
    public bool FileDamaged { get; private set; }

    /// <summary>Checks one raw entry against the entries loaded before it; null when it is acceptable.</summary>
    protected delegate string? EntryDecoder(ReadOnlySpan<byte> raw, int index, out TEntry entry);

    /// <summary>Decodes one raw entry of the file (no checks: a released index's file is what this process wrote).</summary>
    protected abstract TEntry Decode(ReadOnlySpan<byte> raw);

    /// <summary>Reads the file into memory, refusing it (and staying empty) unless it is a whole number of
    /// entries each of which <paramref name="decode"/> accepts. Returns the reason for refusing, or null.</summary>
    protected string? LoadEntries(EntryDecoder decode)
    {
        var list = _entries ??= new List<TEntry>();
        list.Clear();
        _count = 0;
        long length = _file.Length;
        if (length % _entrySize != 0) return $"size {length} is not a multiple of {_entrySize}";
        if (length > (long)int.MaxValue) return "index file too large";
        var bytes = new byte[(int)length];
        if (_file.Read(0, bytes) != bytes.Length) return "short read";
        for (int at = 0; at < bytes.Length; at += _entrySize)
        {
            if (decode(bytes.AsSpan(at, _entrySize), at / _entrySize, out var entry) is { } problem)
            {
                list.Clear();
                return problem;
            }
            list.Add(entry);
        }
        _count = list.Count;
        return null;
    }

    protected void AppendEntry(ReadOnlySpan<byte> raw, TEntry entry)
    {
        var list = EntryList;
        WriteEntry(raw);
        list.Add(entry);
        _count++;
    }

    private void WriteEntry(ReadOnlySpan<byte> raw)
    {
        if (FileDamaged) return;
        if (_file.Write(SizeInBytes, raw) == DiskStatus.Ok) return;
        FileDamaged = true;
        _file.Truncate(0);
    }

    /// <summary>Entry <paramref name="index"/> (below <see cref="Count"/>): from memory, or read from the file once
    /// released. False when that read fails (a lookup then starts at the segment start, which is always correct).</summary>
    protected bool TryGetEntry(int index, out TEntry entry)
    {
        Check.That(index >= 0 && index < _count);
        if (_entries is { } list)
        {
            entry = list[index];
            return true;
        }
        Span<byte> raw = stackalloc byte[16];
        raw = raw[.._entrySize];
        if (_file.Read((long)index * _entrySize, raw) != _entrySize)
        {
            entry = default;
            return false;
        }
        entry = Decode(raw);
        return true;
    }

    /// <summary>Every entry, from memory or (released) read from the file; empty when that read fails.</summary>
    public List<TEntry> ReadEntries()
    {
        if (_entries is { } list) return new List<TEntry>(list);
        var result = new List<TEntry>(_count);
        var bytes = new byte[checked((int)SizeInBytes)];
        if (_file.Read(0, bytes) != bytes.Length) return result;
        for (int at = 0; at < bytes.Length; at += _entrySize) result.Add(Decode(bytes.AsSpan(at, _entrySize)));
        return result;
    }

    /// <summary>Drops the in-memory entries of a closed segment; lookups read the file from now on. Refused (false,
    /// nothing changes) while the file failed a write (it is then empty and the entries live only here) or does not
    /// hold exactly the entries (a misdirected write, which the simulator models): the file is read back once here,
    /// in chunks, while it is still in the page cache.</summary>
    public bool Release()
    {
        if (FileDamaged || _entries is not { } list) return false;
        if (_file.Length != SizeInBytes) return false;
        const int chunkEntries = 4096;
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(chunkEntries * _entrySize);
        try
        {
            for (int first = 0; first < _count; first += chunkEntries)
            {
                int n = Math.Min(chunkEntries, _count - first);
                var chunk = buffer.AsSpan(0, n * _entrySize);
                if (_file.Read((long)first * _entrySize, chunk) != chunk.Length) return false;
                for (int i = 0; i < n; i++)
                    if (!EqualityComparer<TEntry>.Default.Equals(Decode(chunk.Slice(i * _entrySize, _entrySize)), list[first + i]))
                        return false;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        _entries = null;
        return true;
    }

    /// <summary>Empties the index and its file, before a rebuild (entries in memory again).</summary>
    public void Reset()
    {
        if (_entries is { } list) list.Clear();
        else _entries = new List<TEntry>();
        _count = 0;
        FileDamaged = false;
        _file.Truncate(0);
    }

    /// <summary>Keeps the in-memory entries but empties the file and stops writing it (the other index was damaged).</summary>
    public void DiscardFile()
    {
        Check.That(InMemory, "a released index's file is its only copy");
        FileDamaged = true;
        _file.Truncate(0);
    }

    public DiskStatus SyncNow() => _file.SyncNow();

    /// <summary>Asks for a sync; its completion arrives as <c>OnSyncCompleted(token)</c> (segment roll).</summary>
    public void RequestSync(long token) => _file.RequestSync(token);

    public void Dispose() => _file.Dispose();
}
