using System.Collections.Concurrent;
using DetKafka.Core.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace DetKafka.Host.Runtime;

/// <summary>
/// <see cref="IDisk"/> over a real directory. Paths are relative, '/'-separated, under <see cref="Root"/>.
/// Writes go to the OS page cache; <see cref="IDiskFile.RequestSync"/> hands the fsync to one dedicated sync
/// thread and reports its completion through the callback (the driver turns it into an input, so Core sees
/// <c>OnSyncCompleted</c> on its own thread). New files and new directories also fsync the parent directory,
/// because until then the directory entry itself can vanish in a crash. Deletes and renames do not: Core calls
/// <see cref="SyncDirectory"/> where it needs them durable (after a group of them, in the order its crash
/// safety needs), as the simulator's disk models. <see cref="IDiskFile.RequestRead"/> (a cold read ahead, STORAGE.md
/// "Cold reads") runs on one of <see cref="ReadThreads"/> read threads and reports through the same callback.
/// </summary>
public sealed class FileDisk : IDisk, IDisposable
{
    private const int SyncQueueMax = 1_000_000;

    /// <summary>Read-ahead threads (<see cref="IDiskFile.RequestRead"/>): two, so one slow read does not hold up
    /// the next; Core bounds the reads in flight (<c>ColdReads.InFlightMax</c>), which bounds this queue.</summary>
    public const int ReadThreads = 2;
    private const int ReadQueueMax = 100_000;
    private const int ReadChunkBytes = 256 * 1024;

    /// <summary>Sync threads by default. Each file is served by one of them (its syncs complete in the order asked),
    /// taken round robin when it first asks for a sync; different files sync in parallel, so partitions do not queue
    /// behind one another's fsync, and the file system commits concurrent fsyncs together (one journal commit for
    /// several). Measured with 8 partitions of 100-byte records: 1, 2, 4, 8 and 16 threads gave 0.51, 0.84, 1.08,
    /// 1.31 and 1.34 M records/s. The threads mostly wait in fsync.</summary>
    public const int DefaultSyncThreads = 8;

    private readonly Action<long, DiskStatus> _onSyncCompleted;
    private readonly bool _writeBehind;
    private readonly BlockingCollection<SyncRequest>[] _lanes;
    private readonly Thread[] _syncThreads;
    // Cold reads (IDiskFile.RequestRead) have their own threads: a read ahead of an old segment must not queue
    // behind a partition's fsync, nor an fsync behind a read.
    private readonly BlockingCollection<ReadRequest> _reads = new(new ConcurrentQueue<ReadRequest>(), ReadQueueMax);
    private readonly Thread[] _readThreads;
    private int _nextLane;
    private int _pendingSyncs;
    private bool _disposed;

    /// <param name="root">The data directory; created (and made durable) when missing.</param>
    /// <param name="onSyncCompleted">Called on a sync thread after each requested sync, with its token.</param>
    /// <param name="syncThreads">Threads running fsync; a file always uses the same one.</param>
    /// <param name="writeBehind">Writes are copied and handed to the file's sync thread, which does the pwrite before
    /// any later sync of that file (so a sync still covers every write before it); the caller does not wait for the
    /// kernel's copy into the page cache. A read, length, truncate, SyncNow or close of the file first waits for its
    /// queued writes, so the file reads as written. A failed queued write fails the file's next sync and every
    /// later write. See PERFORMANCE.md, "The host's I/O path".</param>
    public FileDisk(string root, Action<long, DiskStatus> onSyncCompleted, int syncThreads = DefaultSyncThreads, bool writeBehind = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(syncThreads, 1);
        Root = Path.GetFullPath(root);
        _onSyncCompleted = onSyncCompleted;
        _writeBehind = writeBehind;
        CreateDirectoryDurably(Root);
        _lanes = new BlockingCollection<SyncRequest>[syncThreads];
        _syncThreads = new Thread[syncThreads];
        for (int i = 0; i < syncThreads; i++)
        {
            var lane = _lanes[i] = new BlockingCollection<SyncRequest>(new ConcurrentQueue<SyncRequest>(), SyncQueueMax);
            _syncThreads[i] = new Thread(() => SyncLoop(lane)) { IsBackground = true, Name = "detkafka-sync-" + i };
            _syncThreads[i].Start();
        }
        _readThreads = new Thread[ReadThreads];
        for (int i = 0; i < ReadThreads; i++)
        {
            _readThreads[i] = new Thread(ReadLoop) { IsBackground = true, Name = "detkafka-read-" + i };
            _readThreads[i].Start();
        }
    }

    public string Root { get; }

    /// <summary>Told how long each requested fsync took (on the sync thread), for the metrics.</summary>
    public Action<TimeSpan>? SyncTimed { get; set; }

    /// <summary>Syncs requested whose completion has not been handed to the callback yet.</summary>
    public int PendingSyncs => Volatile.Read(ref _pendingSyncs);

    /// <summary>The absolute path of a relative disk path. Rejects absolute paths and '.'/'..' segments: Core
    /// must not reach outside the data directory.</summary>
    public string FullPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0) return Root;
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == "." || segment == ".." || segment.Contains('\\') || segment.Contains(':'))
                throw new ArgumentException($"'{path}' is not a relative '/'-separated path under the data directory", nameof(path));
        }
        return Path.Join(Root, path.Replace('/', Path.DirectorySeparatorChar));
    }

    public bool FileExists(string path) => File.Exists(FullPath(path));

    public bool DirectoryExists(string path) => Directory.Exists(FullPath(path));

    public void CreateDirectory(string path) => CreateDirectoryDurably(FullPath(path));

    /// <summary>Entry names sorted ordinally; an absent directory lists as empty.</summary>
    public IReadOnlyList<string> List(string directory)
    {
        var full = FullPath(directory);
        if (!Directory.Exists(full)) return [];
        var names = Directory.EnumerateFileSystemEntries(full).Select(p => Path.GetFileName(p)).ToList();
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public IDiskFile Open(string path, bool create)
    {
        var full = FullPath(path);
        bool created = create && !File.Exists(full);
        var handle = File.OpenHandle(full, create ? FileMode.OpenOrCreate : FileMode.Open, FileAccess.ReadWrite,
            FileShare.ReadWrite | FileShare.Delete);
        try
        {
            if (created) NativeSync.SyncDirectory(Path.GetDirectoryName(full)!);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        return new DiskFile(this, path, handle);
    }

    /// <summary>A new file without the parent fsync of <see cref="Open"/>: Core syncs the directory once for
    /// several new files (IDisk.CreateDeferred).</summary>
    public IDiskFile CreateDeferred(string path)
    {
        var handle = File.OpenHandle(FullPath(path), FileMode.OpenOrCreate, FileAccess.ReadWrite,
            FileShare.ReadWrite | FileShare.Delete);
        return new DiskFile(this, path, handle);
    }

    // Durable only after SyncDirectory: until then a crash may bring the file back.
    public void DeleteFile(string path) => File.Delete(FullPath(path));

    public void DeleteDirectory(string path)
    {
        var full = FullPath(path);
        if (!Directory.Exists(full)) return;
        Directory.Delete(full, recursive: true);
        NativeSync.SyncDirectory(Path.GetDirectoryName(full)!);
    }

    // Durable only after SyncDirectory of the target's (and the source's) directory.
    public void Rename(string from, string to)
    {
        var source = FullPath(from);
        var target = FullPath(to);
        if (Directory.Exists(source)) Directory.Move(source, target);
        else File.Move(source, target, overwrite: true);
    }

    public DiskStatus SyncDirectory(string path)
    {
        try
        {
            NativeSync.SyncDirectory(FullPath(path));
            return DiskStatus.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return StatusOf(e);
        }
    }

    /// <summary>ENOSPC / quota exceeded (or Windows' disk-full errors) is <see cref="DiskStatus.NoSpace"/>,
    /// every other I/O failure <see cref="DiskStatus.IoError"/>. On Unix .NET puts the errno in HResult.</summary>
    public static DiskStatus StatusOf(Exception e)
    {
        if (e is not IOException io) return DiskStatus.IoError;
        int h = io.HResult;
        bool noSpace = OperatingSystem.IsWindows()
            ? h == unchecked((int)0x80070070) || h == unchecked((int)0x80070027) // ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL
            : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()
                ? h == 28 || h == 69 // ENOSPC, EDQUOT
                : h == 28 || h == 122; // ENOSPC, EDQUOT (Linux)
        return noSpace ? DiskStatus.NoSpace : DiskStatus.IoError;
    }

    /// <summary>Stop the sync threads after they have finished (and reported) every sync already requested.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var lane in _lanes) lane.CompleteAdding();
        _reads.CompleteAdding();
        foreach (var thread in _syncThreads) thread.Join();
        foreach (var thread in _readThreads) thread.Join();
        foreach (var lane in _lanes) lane.Dispose();
        _reads.Dispose();
    }

    private void CreateDirectoryDurably(string full)
    {
        // Sync the parent of every level this call creates, deepest last, so the whole chain is durable.
        var missing = new Stack<string>();
        for (var d = full; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Push(d);
        if (missing.Count == 0) return;
        Directory.CreateDirectory(full);
        foreach (var created in missing) NativeSync.SyncDirectory(Path.GetDirectoryName(created)!);
    }

    private void EnqueueSync(SafeFileHandle handle, long token, int lane, DiskFile file)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Keep the descriptor alive until the fsync ran, even if Core closes the file right after asking.
        bool added = false;
        handle.DangerousAddRef(ref added);
        Interlocked.Increment(ref _pendingSyncs);
        _lanes[lane].Add(new SyncRequest(handle, token, _writeBehind ? file : null));
    }

    private void EnqueueWrite(DiskFile file, byte[] data, int length, long position, int lane)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _lanes[lane].Add(new SyncRequest(file.Handle, position, file, data, length));
    }

    private void EnqueueRead(SafeFileHandle handle, long position, int length, long token)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Keep the descriptor alive until the read ran, even if Core deletes the segment meanwhile.
        bool added = false;
        handle.DangerousAddRef(ref added);
        _reads.Add(new ReadRequest(handle, position, length, token));
    }

    /// <summary>On a read thread: pread the range in chunks into a scratch buffer (the page cache keeps the bytes;
    /// the buffer is dropped), then report the completion like a sync's.</summary>
    private void ReadLoop()
    {
        var scratch = new byte[ReadChunkBytes];
        foreach (var request in _reads.GetConsumingEnumerable())
        {
            var status = DiskStatus.Ok;
            try
            {
                long at = request.Position, end = request.Position + request.Length;
                while (at < end)
                {
                    int n = RandomAccess.Read(request.Handle, scratch.AsSpan(0, (int)Math.Min(scratch.Length, end - at)), at);
                    if (n == 0) break;
                    at += n;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                status = e is ObjectDisposedException ? DiskStatus.IoError : StatusOf(e);
            }
            request.Handle.DangerousRelease();
            _onSyncCompleted(request.Token, status);
        }
    }

    private readonly record struct ReadRequest(SafeFileHandle Handle, long Position, int Length, long Token);

    private void SyncLoop(BlockingCollection<SyncRequest> lane)
    {
        foreach (var request in lane.GetConsumingEnumerable())
        {
            if (request.Data is { } data)
            {
                request.File!.WriteQueued(data, request.Length, request.Token);
                continue;
            }
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            var status = Flush(request.Handle);
            // A sync covers the writes queued before it: one of them failing fails the sync.
            if (status == DiskStatus.Ok && request.File is { } file) status = file.WriteFailure;
            SyncTimed?.Invoke(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            request.Handle.DangerousRelease();
            try
            {
                _onSyncCompleted(request.Token, status);
            }
            finally
            {
                Interlocked.Decrement(ref _pendingSyncs);
            }
        }
    }

    private static DiskStatus Flush(SafeFileHandle handle)
    {
        try
        {
            RandomAccess.FlushToDisk(handle);
            return DiskStatus.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return StatusOf(e);
        }
    }

    /// <summary>A sync (<see cref="Data"/> null) or, with write-behind, a write of <see cref="Length"/> bytes of
    /// <see cref="Data"/> (an ArrayPool array) at position <see cref="Token"/>.</summary>
    private readonly record struct SyncRequest(SafeFileHandle Handle, long Token, DiskFile? File = null, byte[]? Data = null, int Length = 0);

    private int NextLane() => (int)((uint)Interlocked.Increment(ref _nextLane) % (uint)_lanes.Length);

    private sealed class DiskFile(FileDisk disk, string path, SafeFileHandle handle) : IDiskFile
    {
        private readonly object _writes = new(); // Monitor: waiters for the queued writes
        private int _lane = -1;
        private int _queuedWrites; // write-behind: queued and not yet done; guarded by _writes
        private DiskStatus _writeFailure = DiskStatus.Ok;

        public string Path { get; } = path;

        public SafeFileHandle Handle => handle;

        /// <summary>The first queued write that failed, or Ok.</summary>
        public DiskStatus WriteFailure
        {
            get
            {
                lock (_writes) return _writeFailure;
            }
        }

        public long Length
        {
            get
            {
                WaitForQueuedWrites();
                return RandomAccess.GetLength(handle);
            }
        }

        public DiskStatus Write(long position, ReadOnlySpan<byte> data)
        {
            if (disk._writeBehind)
            {
                lock (_writes)
                {
                    if (_writeFailure != DiskStatus.Ok) return _writeFailure;
                    _queuedWrites++;
                }
                var copy = System.Buffers.ArrayPool<byte>.Shared.Rent(data.Length);
                data.CopyTo(copy);
                if (_lane < 0) _lane = disk.NextLane();
                disk.EnqueueWrite(this, copy, data.Length, position, _lane);
                return DiskStatus.Ok;
            }
            try
            {
                RandomAccess.Write(handle, data, position);
                return DiskStatus.Ok;
            }
            catch (IOException e)
            {
                return StatusOf(e);
            }
        }

        /// <summary>On the file's sync thread: the queued write.</summary>
        public void WriteQueued(byte[] data, int length, long position)
        {
            var status = DiskStatus.Ok;
            try
            {
                RandomAccess.Write(handle, data.AsSpan(0, length), position);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                status = e is ObjectDisposedException ? DiskStatus.IoError : StatusOf(e);
            }
            System.Buffers.ArrayPool<byte>.Shared.Return(data);
            lock (_writes)
            {
                if (status != DiskStatus.Ok && _writeFailure == DiskStatus.Ok) _writeFailure = status;
                if (--_queuedWrites == 0) Monitor.PulseAll(_writes);
            }
        }

        private void WaitForQueuedWrites()
        {
            if (!disk._writeBehind) return;
            lock (_writes)
            {
                while (_queuedWrites > 0) Monitor.Wait(_writes);
            }
        }

        public int Read(long position, Span<byte> destination)
        {
            WaitForQueuedWrites();
            int total = 0;
            while (total < destination.Length)
            {
                int n = RandomAccess.Read(handle, destination[total..], position + total);
                if (n == 0) break;
                total += n;
            }
            return total;
        }

        public void Truncate(long length)
        {
            WaitForQueuedWrites();
            RandomAccess.SetLength(handle, length);
        }

        public void RequestSync(long token)
        {
            if (_lane < 0) _lane = disk.NextLane();
            disk.EnqueueSync(handle, token, _lane, this);
        }

        public void RequestRead(long position, int length, long token)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(position);
            ArgumentOutOfRangeException.ThrowIfNegative(length);
            disk.EnqueueRead(handle, position, length, token);
        }

        public DiskStatus SyncNow()
        {
            WaitForQueuedWrites();
            var status = Flush(handle);
            return status == DiskStatus.Ok ? WriteFailure : status;
        }

        public void Dispose()
        {
            WaitForQueuedWrites();
            handle.Dispose();
        }
    }
}
