using DetKafka.Core.Abstractions;

namespace DetKafka.Sim;

/// <summary>
/// An <see cref="IDisk"/> held in memory that allocates nothing in steady state: file buffers grow by taking
/// the best-fitting spare buffer of a deleted or outgrown file. No crash model (that is SimDisk's job); a
/// requested sync completes when the driver takes its token with <see cref="TryTakeSync"/>. It exists so
/// benchmarks and allocation tests see Core's allocations and not a simulator's bookkeeping.
/// </summary>
public sealed class MemoryDisk : IDisk
{
    private readonly SortedDictionary<string, MemoryFile> _files = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _directories = new(StringComparer.Ordinal) { "" };
    private readonly Queue<long> _syncs = new(1024);
    private readonly List<byte[]> _spare = new();

    private sealed class MemoryFile(string path)
    {
        public string Path = path;
        public byte[] Data = [];
        public int Length;
    }

    private readonly Queue<long> _reads = new();

    public bool TryTakeSync(out long token) => _syncs.TryDequeue(out token);

    /// <summary>A read ahead requested with <see cref="IDiskFile.RequestRead"/>, for the driver to complete (the bytes
    /// are in memory already: nothing to do but report it).</summary>
    public bool TryTakeRead(out long token) => _reads.TryDequeue(out token);

    /// <summary>Adds a spare buffer, so files can grow to <paramref name="bytes"/> without allocating.</summary>
    public void Reserve(int bytes) => _spare.Add(new byte[bytes]);

    private static string Normalize(string path) => path.Trim('/');

    private static string ParentOf(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? "" : path[..slash];
    }

    public bool FileExists(string path) => _files.ContainsKey(Normalize(path));

    public bool DirectoryExists(string path) => _directories.Contains(Normalize(path));

    public void CreateDirectory(string path)
    {
        path = Normalize(path);
        while (path.Length > 0 && _directories.Add(path)) path = ParentOf(path);
    }

    public IReadOnlyList<string> List(string directory)
    {
        directory = Normalize(directory);
        var names = new List<string>();
        foreach (var d in _directories)
            if (d.Length > 0 && ParentOf(d) == directory) names.Add(d[(d.LastIndexOf('/') + 1)..]);
        foreach (var f in _files.Keys)
            if (ParentOf(f) == directory) names.Add(f[(f.LastIndexOf('/') + 1)..]);
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public IDiskFile Open(string path, bool create)
    {
        path = Normalize(path);
        if (!_files.TryGetValue(path, out var file))
        {
            if (!create) throw new InvalidOperationException($"no file {path}");
            file = new MemoryFile(path);
            _files.Add(path, file);
        }
        return new Handle(this, file);
    }

    public void DeleteFile(string path)
    {
        if (_files.Remove(Normalize(path), out var file)) Release(file);
    }

    public void DeleteDirectory(string path)
    {
        path = Normalize(path);
        foreach (var f in _files.Keys.Where(f => f.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
            DeleteFile(f);
        _directories.RemoveWhere(d => d == path || d.StartsWith(path + "/", StringComparison.Ordinal));
    }

    /// <summary>No crash model here, so directory entries are always durable.</summary>
    public DiskStatus SyncDirectory(string path) => DiskStatus.Ok;

    public void Rename(string from, string to)
    {
        if (!_files.Remove(Normalize(from), out var file)) throw new InvalidOperationException($"no file {from}");
        to = Normalize(to);
        if (_files.Remove(to, out var replaced)) Release(replaced);
        file.Path = to;
        _files.Add(to, file);
    }

    private void Release(MemoryFile file)
    {
        if (file.Data.Length > 0) _spare.Add(file.Data);
        file.Data = [];
        file.Length = 0;
    }

    private void Grow(MemoryFile file, long needed)
    {
        if (needed > int.MaxValue) throw new InvalidOperationException("memory files are limited to 2 GiB");
        int best = -1;
        for (int i = 0; i < _spare.Count; i++)
            if (_spare[i].Length >= needed && (best < 0 || _spare[i].Length < _spare[best].Length)) best = i;
        byte[] next;
        if (best >= 0)
        {
            next = _spare[best];
            _spare[best] = _spare[^1];
            _spare.RemoveAt(_spare.Count - 1);
        }
        else next = new byte[(int)Math.Min(int.MaxValue, Math.Max(needed, 2L * file.Data.Length))];
        file.Data.AsSpan(0, file.Length).CopyTo(next);
        if (file.Data.Length > 0) _spare.Add(file.Data);
        file.Data = next;
    }

    private sealed class Handle(MemoryDisk disk, MemoryFile file) : IDiskFile
    {
        public string Path => file.Path;
        public long Length => file.Length;

        public DiskStatus Write(long position, ReadOnlySpan<byte> data)
        {
            long end = position + data.Length;
            if (end > file.Data.Length) disk.Grow(file, end);
            if (position > file.Length) file.Data.AsSpan(file.Length, (int)position - file.Length).Clear();
            data.CopyTo(file.Data.AsSpan((int)position));
            file.Length = Math.Max(file.Length, (int)end);
            return DiskStatus.Ok;
        }

        public int Read(long position, Span<byte> destination)
        {
            if (position >= file.Length) return 0;
            int n = (int)Math.Min(destination.Length, file.Length - position);
            file.Data.AsSpan((int)position, n).CopyTo(destination);
            return n;
        }

        public void Truncate(long length)
        {
            if (length > file.Length)
            {
                Write(file.Length, new byte[length - file.Length]);
                return;
            }
            file.Length = (int)length;
        }

        public void RequestSync(long token) => disk._syncs.Enqueue(token);

        public void RequestRead(long position, int length, long token) => disk._reads.Enqueue(token);

        public DiskStatus SyncNow() => DiskStatus.Ok;

        public void Dispose() { }
    }
}
