using DetKafka.Core.Abstractions;

namespace DetKafka.Sim;

/// <summary>Which disk operation a <see cref="SimDisk.FaultHook"/> is asked about.</summary>
public enum SimDiskOperation { Write, SyncCompletion, SyncNow }

/// <summary>
/// An in-memory <see cref="IDisk"/> that models what survives a crash. Each file has a durable image and a
/// volatile one (what reads see). Writes and truncations change the volatile image and are queued as pending
/// operations; a sync makes the operations issued before it durable: <see cref="IDiskFile.SyncNow"/> at once,
/// <see cref="IDiskFile.RequestSync"/> when the driver calls <see cref="CompletePendingSyncs"/>. A crash drops
/// what was not made durable, except that an unsynced appended tail may partly survive, at sector granularity
/// and possibly torn, as on a real disk.
/// <para>Directory entries have a durable and a volatile view too. Creating a file (except through
/// <see cref="CreateDeferred"/>) or a directory, and deleting a directory, are durable at once (the host syncs the parent inside those calls). Deleting a file and renaming
/// one change only the volatile view until <see cref="SyncDirectory"/> of that directory; a crash before it
/// brings deleted files back (with their durable bytes) and undoes renames, as a real file system may.</para>
/// <para>Deterministic: no clock, randomness only from the <see cref="IRandom"/> passed to <see cref="Crash(IRandom)"/>,
/// listings sorted ordinally. Paths are relative, '/'-separated; "" is the root.</para>
/// </summary>
public sealed class SimDisk : IDisk
{
    public const int SectorSize = 512;

    private readonly SortedDictionary<string, FileState> _files = new(StringComparer.Ordinal);
    // The directory entries a crash would find: changed by creations at once, by deletes and renames only at
    // SyncDirectory.
    private readonly SortedDictionary<string, FileState> _durableFiles = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _directories = new(StringComparer.Ordinal) { "" };
    private readonly List<PendingSync> _pendingSyncs = new();
    private readonly List<string> _scratch = new();
    private long _usedBytes;
    private int _generation;

    /// <summary>A lying fsync: every sync reports success and persists nothing.</summary>
    public bool LyingFsync { get; set; }

    /// <summary>Total bytes (volatile images of all files) after which writes fail with NoSpace.</summary>
    public long CapacityBytes { get; set; } = long.MaxValue;

    /// <summary>Consulted before each write, sync completion and SyncNow: a status other than Ok fails the
    /// operation (the write is not applied, the sync persists nothing).</summary>
    public Func<SimDiskOperation, string, DiskStatus>? FaultHook { get; set; }

    /// <summary>A misdirected write: consulted before each write with (path, position, length), it returns where the
    /// bytes really land. The caller is not told. Null, or returning the position asked, is a faithful disk.</summary>
    public Func<string, long, int, long>? WriteRedirect { get; set; }

    /// <summary>Bytes in the volatile images of all files.</summary>
    public long UsedBytes => _usedBytes;

    public int PendingSyncCount => _pendingSyncs.Count;

    // ---- cold reads (STORAGE.md, "Cold reads") ----------------------------------------------------------------------

    /// <summary>The page-cache model: with a clock, every file has a <see cref="Core.Storage.CacheWindow"/> that its
    /// writes, reads and completed read-aheads touch, cold <see cref="ColdAfterUs"/> after the last touch. Null (the
    /// default): no model, every read is hot.</summary>
    public Func<long>? NowUs { get; set; }

    public long ColdAfterUs { get; set; } = long.MaxValue;

    /// <summary>What a synchronous <see cref="IDiskFile.Read"/> of a cold range costs the caller: the time its thread
    /// is blocked, added to <see cref="TakeStallUs"/> for the driver to charge to the node. Null: not charged (still
    /// counted in <see cref="ColdSyncReads"/>).</summary>
    public Func<long>? ColdReadStallUs { get; set; }

    /// <summary>Synchronous reads that found their range cold (the driver thread would have blocked on the disk).</summary>
    public long ColdSyncReads { get; private set; }

    private long _stallUs;
    private readonly List<PendingRead> _pendingReads = new();

    private readonly record struct PendingRead(long Token, FileState File, long Position, int Length);

    /// <summary>Blocking time the synchronous cold reads since the last call cost; resets it.</summary>
    public long TakeStallUs()
    {
        long stall = _stallUs;
        _stallUs = 0;
        return stall;
    }

    public int PendingReadCount => _pendingReads.Count;

    /// <summary>Completes the oldest <paramref name="max"/> read-aheads (<see cref="IDiskFile.RequestRead"/>): their
    /// ranges become warm. Always Ok: a read error would show at the synchronous read that follows.</summary>
    public List<(long Token, DiskStatus Status)> CompletePendingReads(int max = int.MaxValue)
    {
        int count = Math.Min(max, _pendingReads.Count);
        var done = new List<(long, DiskStatus)>(count);
        for (int i = 0; i < count; i++)
        {
            var read = _pendingReads[i];
            if (NowUs is { } now) read.File.Cache.Touch(read.Position, read.Position + read.Length, now(), ColdAfterUs);
            done.Add((read.Token, DiskStatus.Ok));
        }
        _pendingReads.RemoveRange(0, count);
        return done;
    }

    private void NoteSyncRead(FileState f, long position, int length)
    {
        if (NowUs is not { } clock || length <= 0) return;
        long now = clock();
        if (!f.Cache.Covers(position, position + length, now, ColdAfterUs))
        {
            ColdSyncReads++;
            if (ColdReadStallUs is { } stall) _stallUs += stall();
        }
        // The kernel reads a cold range ahead (128 KiB by default on Linux): the reads that follow are hot.
        f.Cache.Touch(position, Math.Max(position + length, Math.Min(f.Volatile.Length, position + SyncReadAheadBytes)), now, ColdAfterUs);
    }

    /// <summary>What a synchronous cold read brings into the cache past the bytes asked (Linux's default read-ahead).</summary>
    public const int SyncReadAheadBytes = 128 * 1024;

    /// <summary>Counts bumped on every crash: handles from before a crash must not be used after it.</summary>
    public int Generation => _generation;

    private sealed class FileState(string path)
    {
        public string Path = path;
        public readonly Buffer Durable = new();
        public readonly Buffer Volatile = new();
        public readonly List<PendingOp> Pending = new();
        public long NextSeq;
        public bool Deleted;
        public Core.Storage.CacheWindow Cache;
    }

    /// <summary>A write (Data set) or a truncation (Data null) not yet durable.</summary>
    private readonly record struct PendingOp(long Seq, long Position, byte[]? Data);

    private readonly record struct PendingSync(long Token, FileState File, long UpToSeq);

    private sealed class Buffer
    {
        private byte[] _bytes = [];
        public int Length { get; private set; }
        public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, Length);

        public void Write(long position, ReadOnlySpan<byte> data)
        {
            long end = position + data.Length;
            if (end > int.MaxValue) throw new InvalidOperationException("simulated files are limited to 2 GiB");
            if (end > _bytes.Length)
            {
                var bigger = new byte[(int)Math.Min(int.MaxValue, Math.Max(end, 2L * _bytes.Length))];
                _bytes.AsSpan(0, Length).CopyTo(bigger);
                _bytes = bigger;
            }
            if (position > Length) _bytes.AsSpan(Length, (int)position - Length).Clear();
            data.CopyTo(_bytes.AsSpan((int)position));
            Length = Math.Max(Length, (int)end);
        }

        public void Truncate(long length)
        {
            if (length < Length) Length = (int)length;
            else if (length > Length) Write(Length, new byte[length - Length]);
        }

        public void CopyFrom(Buffer other)
        {
            Length = 0;
            Write(0, other.Span);
            Length = other.Length;
        }
    }

    private static string Normalize(string path) => path.Trim('/');

    private static string ParentOf(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? "" : path[..slash];
    }

    /// <summary>ParentOf(path) == directory, without making the parent's string (listings and directory syncs
    /// ask it of every file on the disk).</summary>
    private static bool IsChildOf(string path, string directory)
    {
        int slash = path.LastIndexOf('/');
        return directory.Length == 0 ? slash < 0
            : slash == directory.Length && path.StartsWith(directory, StringComparison.Ordinal);
    }

    private static bool IsUnder(string path, string directory)
        => directory.Length == 0 || (path.Length > directory.Length && path.StartsWith(directory, StringComparison.Ordinal)
                                     && path[directory.Length] == '/');

    public bool FileExists(string path) => _files.ContainsKey(Normalize(path));

    public bool DirectoryExists(string path) => _directories.Contains(Normalize(path));

    public void CreateDirectory(string path)
    {
        path = Normalize(path);
        if (_files.ContainsKey(path)) throw new InvalidOperationException($"{path} is a file");
        while (path.Length > 0 && _directories.Add(path)) path = ParentOf(path);
    }

    public IReadOnlyList<string> List(string directory)
    {
        directory = Normalize(directory);
        // An absent directory lists as empty, as the host's FileDisk does.
        if (!_directories.Contains(directory)) return [];
        var names = new List<string>();
        foreach (var d in _directories)
            if (d.Length > 0 && IsChildOf(d, directory)) names.Add(NameOf(d));
        foreach (var f in _files.Keys)
            if (IsChildOf(f, directory)) names.Add(NameOf(f));
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static string NameOf(string path) => path[(path.LastIndexOf('/') + 1)..];

    public IDiskFile Open(string path, bool create)
    {
        path = Normalize(path);
        if (!_files.TryGetValue(path, out var state))
        {
            if (!create) throw new InvalidOperationException($"no file {path}");
            if (!_directories.Contains(ParentOf(path))) throw new InvalidOperationException($"no directory for {path}");
            if (_directories.Contains(path)) throw new InvalidOperationException($"{path} is a directory");
            state = new FileState(path);
            _files.Add(path, state);
            _durableFiles[path] = state;
        }
        return new SimDiskFile(this, state, _generation);
    }

    /// <summary>A new file whose entry is volatile until <see cref="SyncDirectory"/> of its directory: a crash
    /// before that loses it (it is not in the durable view), as on a real file system without the parent fsync.</summary>
    public IDiskFile CreateDeferred(string path)
    {
        path = Normalize(path);
        if (_files.ContainsKey(path)) return Open(path, create: false);
        if (!_directories.Contains(ParentOf(path))) throw new InvalidOperationException($"no directory for {path}");
        if (_directories.Contains(path)) throw new InvalidOperationException($"{path} is a directory");
        var state = new FileState(path);
        _files.Add(path, state);
        return new SimDiskFile(this, state, _generation);
    }

    public void DeleteFile(string path)
    {
        path = Normalize(path);
        if (!_files.Remove(path, out var state)) throw new InvalidOperationException($"no file {path}");
        Forget(state);
    }

    private void Forget(FileState state)
    {
        state.Deleted = true;
        _usedBytes -= state.Volatile.Length;
    }

    public void DeleteDirectory(string path)
    {
        path = Normalize(path);
        if (path.Length == 0) throw new InvalidOperationException("cannot delete the root");
        if (!_directories.Contains(path)) throw new InvalidOperationException($"no directory {path}");
        foreach (var f in _files.Keys.Where(f => IsUnder(f, path)).ToList())
        {
            _files.Remove(f, out var state);
            Forget(state!);
        }
        foreach (var f in _durableFiles.Keys.Where(f => IsUnder(f, path)).ToList()) _durableFiles.Remove(f);
        _directories.RemoveWhere(d => d == path || IsUnder(d, path));
    }

    public void Rename(string from, string to)
    {
        from = Normalize(from);
        to = Normalize(to);
        if (!_files.Remove(from, out var state)) throw new InvalidOperationException($"no file {from}");
        if (!_directories.Contains(ParentOf(to))) throw new InvalidOperationException($"no directory for {to}");
        if (_files.Remove(to, out var replaced)) Forget(replaced);
        state.Path = to;
        _files.Add(to, state);
    }

    /// <summary>Directory fsync: the entries directly in <paramref name="path"/> become durable as they are now.</summary>
    public DiskStatus SyncDirectory(string path)
    {
        path = Normalize(path);
        var fault = Fault(SimDiskOperation.SyncNow, path);
        if (fault != DiskStatus.Ok) return fault;
        if (LyingFsync) return DiskStatus.Ok;
        _scratch.Clear();
        foreach (var f in _durableFiles.Keys)
            if (IsChildOf(f, path)) _scratch.Add(f);
        foreach (var f in _scratch) _durableFiles.Remove(f);
        _scratch.Clear();
        foreach (var (f, state) in _files)
            if (IsChildOf(f, path)) _durableFiles[f] = state;
        return DiskStatus.Ok;
    }

    /// <summary>Deletes and renames not yet made durable by a directory sync (tests).</summary>
    public int PendingDirectoryChanges
    {
        get
        {
            int changes = 0;
            foreach (var (f, state) in _files)
                if (!_durableFiles.TryGetValue(f, out var d) || !ReferenceEquals(d, state)) changes++;
            foreach (var f in _durableFiles.Keys)
                if (!_files.ContainsKey(f)) changes++;
            return changes;
        }
    }

    private DiskStatus Fault(SimDiskOperation op, string path) => FaultHook?.Invoke(op, path) ?? DiskStatus.Ok;

    private DiskStatus Write(FileState f, long position, ReadOnlySpan<byte> data)
    {
        if (position < 0) throw new ArgumentOutOfRangeException(nameof(position));
        var fault = Fault(SimDiskOperation.Write, f.Path);
        if (fault != DiskStatus.Ok) return fault;
        if (WriteRedirect is { } redirect)
        {
            position = redirect(f.Path, position, data.Length);
            if (position < 0) throw new InvalidOperationException("a redirected write needs a non-negative position");
        }
        long growth = Math.Max(0, position + data.Length - f.Volatile.Length);
        if (!f.Deleted && _usedBytes + growth > CapacityBytes) return DiskStatus.NoSpace;
        f.Volatile.Write(position, data);
        if (!f.Deleted) _usedBytes += growth;
        f.Pending.Add(new PendingOp(f.NextSeq++, position, data.ToArray()));
        if (NowUs is { } clock) f.Cache.Touch(position, position + data.Length, clock(), ColdAfterUs);
        return DiskStatus.Ok;
    }

    private void Truncate(FileState f, long length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        long before = f.Volatile.Length;
        f.Volatile.Truncate(length);
        if (!f.Deleted) _usedBytes += f.Volatile.Length - before;
        f.Pending.Add(new PendingOp(f.NextSeq++, length, null));
    }

    /// <summary>Makes the pending operations up to <paramref name="upToSeq"/> (exclusive) durable.</summary>
    private static void Persist(FileState f, long upToSeq)
    {
        int applied = 0;
        foreach (var op in f.Pending)
        {
            if (op.Seq >= upToSeq) break;
            if (op.Data is null) f.Durable.Truncate(op.Position);
            else f.Durable.Write(op.Position, op.Data);
            applied++;
        }
        f.Pending.RemoveRange(0, applied);
    }

    /// <summary>Drops the pending operations up to <paramref name="upToSeq"/> from the durable path: the volatile
    /// image keeps them (reads still see them) but no later sync persists them.</summary>
    private static void Forget(FileState f, long upToSeq)
    {
        int dropped = 0;
        foreach (var op in f.Pending)
        {
            if (op.Seq >= upToSeq) break;
            dropped++;
        }
        f.Pending.RemoveRange(0, dropped);
    }

    private DiskStatus SyncNow(FileState f)
    {
        var fault = Fault(SimDiskOperation.SyncNow, f.Path);
        if (fault != DiskStatus.Ok) return fault;
        if (!LyingFsync) Persist(f, f.NextSeq);
        return DiskStatus.Ok;
    }

    /// <summary>
    /// Completes up to <paramref name="max"/> pending syncs, oldest first, making the writes each one covers
    /// durable. The caller feeds the returned (token, status) pairs to the broker as OnSyncCompleted inputs.
    /// </summary>
    public List<(long Token, DiskStatus Status)> CompletePendingSyncs(int max = int.MaxValue)
    {
        int count = Math.Min(max, _pendingSyncs.Count);
        var completed = new List<(long, DiskStatus)>(count);
        for (int i = 0; i < count; i++)
        {
            var sync = _pendingSyncs[i];
            var status = Fault(SimDiskOperation.SyncCompletion, sync.File.Path);
            if (status == DiskStatus.Ok && !LyingFsync) Persist(sync.File, sync.UpToSeq);
            // A failed writeback: the kernel drops the dirty pages' error state and marks them clean, so a later
            // sync succeeds without them (PostgreSQL's "fsyncgate"); a crash loses them.
            else if (status == DiskStatus.IoError) Forget(sync.File, sync.UpToSeq);
            completed.Add((sync.Token, status));
        }
        _pendingSyncs.RemoveRange(0, count);
        return completed;
    }

    /// <summary>A crash that loses everything not made durable.</summary>
    public void Crash() => Crash((_, durable, _) => durable);

    /// <summary>
    /// A crash where each file with an unsynced appended tail keeps the durable image plus a prefix of that tail,
    /// <paramref name="keptLength"/>(path, durableLength, volatileLength) long in total (clamped to that range).
    /// Files whose pending operations touched durable bytes (an overwrite, a truncation) fall back to the
    /// durable image. Pending syncs are lost; open handles become unusable.
    /// </summary>
    public void Crash(Func<string, long, long, long> keptLength)
        => CrashCore((path, durable, volatileImage) =>
        {
            long keep = Math.Clamp(keptLength(path, durable, volatileImage.Length), durable, volatileImage.Length);
            return volatileImage[..(int)keep].ToArray();
        });

    /// <summary>
    /// A crash as a disk does it: for each file with an unsynced appended tail, keeps a random number of whole
    /// sectors of it, and half the time tears the last kept sector at a random byte, either cutting the file
    /// there or leaving the rest of that sector zeroed.
    /// </summary>
    public void Crash(IRandom random)
        => CrashCore((_, durable, volatileImage) => KeepSectors(random, durable, volatileImage));

    private static byte[] KeepSectors(IRandom random, int durable, ReadOnlySpan<byte> volatileImage)
    {
        long end = volatileImage.Length;
        var cuts = new List<long> { durable };
        for (long b = (durable / SectorSize + 1) * SectorSize; b < end; b += SectorSize) cuts.Add(b);
        cuts.Add(end);
        long keep = cuts[random.NextInt(0, cuts.Count)];
        var image = volatileImage[..(int)keep].ToArray();
        if (keep > durable && random.NextBool(0.5))
        {
            long sectorStart = Math.Max(durable, (keep - 1) / SectorSize * SectorSize);
            int tear = (int)(sectorStart + (long)random.NextBelow((ulong)(keep - sectorStart)));
            if (random.NextBool(0.5)) return image[..tear];
            image.AsSpan(tear).Clear();
        }
        return image;
    }

    /// <summary>What a crash took: for the simulator's statistics and the tests that prove faults happen.</summary>
    public readonly record struct CrashReport(int FilesWithUnsyncedData, long UnsyncedBytesLost, int TailsKept, int BitsFlipped);

    /// <summary>
    /// The simulator's crash. Every file loses what was not synced. With <paramref name="partialTails"/>, an
    /// unsynced appended tail may partly survive as in <see cref="Crash(IRandom)"/> (whole sectors, the last one
    /// possibly torn). Then <paramref name="bitFlips"/> random bits are flipped in each surviving unsynced tail:
    /// garbage where a write was in flight, which recovery's CRC and length checks must catch. Synced bytes are
    /// never touched.
    /// </summary>
    public CrashReport Crash(IRandom random, bool partialTails, int bitFlips)
    {
        int files = 0, kept = 0, flipped = 0;
        long lost = 0;
        foreach (var f in _files.Values)
        {
            if (f.Pending.Count == 0) continue;
            files++;
            lost += Math.Abs((long)f.Volatile.Length - f.Durable.Length);
        }
        CrashCore((_, durable, volatileImage) =>
        {
            if (!partialTails) return volatileImage[..durable].ToArray();
            var image = KeepSectors(random, durable, volatileImage);
            if (image.Length > durable)
            {
                kept++;
                lost -= image.Length - durable;
                for (int i = 0; i < bitFlips; i++)
                {
                    int at = durable + (int)random.NextBelow((ulong)(image.Length - durable));
                    image[at] ^= (byte)(1 << random.NextInt(0, 8));
                    flipped++;
                }
            }
            return image;
        });
        return new CrashReport(files, Math.Max(0, lost), kept, flipped);
    }

    private void CrashCore(SurvivingImage survivor)
    {
        // The directories come back as last synced: undone renames, deleted files back with their durable bytes.
        _files.Clear();
        foreach (var (path, state) in _durableFiles)
        {
            state.Path = path;
            state.Deleted = false;
            _files.Add(path, state);
        }
        _usedBytes = 0;
        foreach (var f in _files.Values) _usedBytes += f.Volatile.Length;
        foreach (var f in _files.Values)
        {
            bool appendOnly = f.Pending.TrueForAll(op => op.Position >= f.Durable.Length);
            if (f.Pending.Count > 0 && appendOnly && f.Volatile.Length > f.Durable.Length)
            {
                var image = survivor(f.Path, f.Durable.Length, f.Volatile.Span);
                if (image.Length < f.Durable.Length) throw new InvalidOperationException("a crash cannot lose durable bytes");
                f.Durable.Truncate(0);
                f.Durable.Write(0, image);
            }
            long before = f.Volatile.Length;
            f.Volatile.CopyFrom(f.Durable);
            _usedBytes += f.Volatile.Length - before;
            f.Pending.Clear();
        }
        _pendingSyncs.Clear();
        _pendingReads.Clear();
        foreach (var f in _files.Values) f.Cache.Clear(); // the page cache is gone with the power
        _stallUs = 0;
        _generation++;
    }

    private delegate byte[] SurvivingImage(string path, int durableLength, ReadOnlySpan<byte> volatileImage);

    /// <summary>The bytes a crash right now would certainly keep.</summary>
    public byte[] ReadDurable(string path) => _files[Normalize(path)].Durable.Span.ToArray();

    /// <summary>The bytes reads see now.</summary>
    public byte[] ReadVolatile(string path) => _files[Normalize(path)].Volatile.Span.ToArray();

    /// <summary>Bit rot: flips one bit in both images (it is on the platter and in the cache).</summary>
    public void FlipBit(string path, long position, int bit)
    {
        var f = _files[Normalize(path)];
        foreach (var b in new[] { f.Durable, f.Volatile })
        {
            if (position >= b.Length) continue;
            byte[] one = [(byte)(b.Span[(int)position] ^ (1 << bit))];
            b.Write(position, one);
        }
    }

    /// <summary>Removes a file from the platter and the directory alike (damage at rest while the machine is down:
    /// no later crash brings it back).</summary>
    public void DeleteAtRest(string path)
    {
        path = Normalize(path);
        DeleteFile(path);
        _durableFiles.Remove(path);
    }

    /// <summary>Overwrites a durable file outright (tests that plant damaged files).</summary>
    public void Replace(string path, ReadOnlySpan<byte> content)
    {
        var f = _files[Normalize(path)];
        long before = f.Volatile.Length;
        f.Pending.Clear();
        f.Durable.Truncate(0);
        f.Durable.Write(0, content);
        f.Volatile.CopyFrom(f.Durable);
        _usedBytes += f.Volatile.Length - before;
    }

    private sealed class SimDiskFile(SimDisk disk, FileState state, int generation) : IDiskFile
    {
        private bool _disposed;

        private FileState State
        {
            get
            {
                if (_disposed) throw new ObjectDisposedException(state.Path);
                if (generation != disk._generation)
                    throw new InvalidOperationException($"{state.Path}: handle from before a crash");
                return state;
            }
        }

        public string Path => state.Path;
        public long Length => State.Volatile.Length;

        public DiskStatus Write(long position, ReadOnlySpan<byte> data) => disk.Write(State, position, data);

        public int Read(long position, Span<byte> destination)
        {
            var v = State.Volatile;
            if (position < 0) throw new ArgumentOutOfRangeException(nameof(position));
            if (position >= v.Length) return 0;
            int n = (int)Math.Min(destination.Length, v.Length - position);
            v.Span.Slice((int)position, n).CopyTo(destination);
            disk.NoteSyncRead(state, position, n);
            return n;
        }

        public void Truncate(long length) => disk.Truncate(State, length);

        public void RequestRead(long position, int length, long token)
        {
            if (position < 0 || length < 0) throw new ArgumentOutOfRangeException(nameof(position));
            disk._pendingReads.Add(new PendingRead(token, State, position, length));
        }

        public void RequestSync(long token)
        {
            var s = State;
            disk._pendingSyncs.Add(new PendingSync(token, s, s.NextSeq));
        }

        public DiskStatus SyncNow() => disk.SyncNow(State);

        public void Dispose() => _disposed = true;
    }
}
