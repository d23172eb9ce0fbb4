namespace DetKafka.Core.Abstractions;

/// <summary>
/// Core's door to storage: a directory tree of files addressed by relative paths with '/' separators.
/// Writes land in a volatile cache (the OS page cache, or the simulator's) and survive a crash only once a
/// sync covering them has completed. Reads see the cache. The simulator implements crashes (losing unsynced
/// writes, tearing the pending one at sector granularity), bit flips, misdirected writes, slow syncs and
/// ENOSPC behind this interface.
/// </summary>
public interface IDisk
{
    bool FileExists(string path);
    bool DirectoryExists(string path);
    void CreateDirectory(string path);

    /// <summary>Names (not paths) of the entries of a directory, sorted ordinally so iteration is deterministic.</summary>
    IReadOnlyList<string> List(string directory);

    /// <summary>Open a file, creating it empty when <paramref name="create"/> and it does not exist.</summary>
    IDiskFile Open(string path, bool create);

    /// <summary>Creates a new empty file whose directory entry is durable only once its directory is synced
    /// (<see cref="SyncDirectory"/>), like a rename: until then a crash may lose the file. For creating several
    /// files of one directory with one directory fsync instead of one per file (a new partition's log: STORAGE.md,
    /// "Creating a log"). The default is <see cref="Open"/>, whose new entries are durable at once.</summary>
    IDiskFile CreateDeferred(string path) => Open(path, create: true);

    /// <summary>Removes the directory entry. Like a rename it survives a crash only once the parent directory is
    /// synced (<see cref="SyncDirectory"/>); before that a crash may bring the file back whole.</summary>
    void DeleteFile(string path);

    /// <summary>Delete a directory and everything below it, durably (the host syncs the parent inside the call:
    /// topic deletion is rare and must not come back).</summary>
    void DeleteDirectory(string path);

    /// <summary>Atomic rename, replacing the target. Durable only once the directory is synced
    /// (<see cref="SyncDirectory"/>); until then a crash leaves the old names.</summary>
    void Rename(string from, string to);

    /// <summary>fsync of a directory: makes every delete and rename done in it so far durable. Creating a file
    /// or a directory is durable at once (the host syncs the parent inside those calls).</summary>
    DiskStatus SyncDirectory(string path);
}

public enum DiskStatus { Ok, NoSpace, IoError }

/// <summary>An open file. Not thread-safe: Core is single-threaded.</summary>
public interface IDiskFile : IDisposable
{
    string Path { get; }
    long Length { get; }

    /// <summary>Write into the volatile cache at a position (appends in practice). Not durable until a sync.</summary>
    DiskStatus Write(long position, ReadOnlySpan<byte> data);

    /// <summary>Read up to <c>destination.Length</c> bytes; returns how many were read (fewer at end of file).</summary>
    int Read(long position, Span<byte> destination);

    void Truncate(long length);

    /// <summary>Start a sync of everything written so far. Completion arrives later as the input
    /// <c>BrokerNode.OnSyncCompleted(token, status)</c>; writes issued after this call are not covered.</summary>
    void RequestSync(long token);

    /// <summary>Read <c>[position, position + length)</c> into the cache off the caller's thread (a read ahead whose
    /// bytes the caller does not take: the next <see cref="Read"/> of that range finds them cached). Completion
    /// arrives as the input <c>BrokerNode.OnSyncCompleted(token, status)</c>, the one input for every disk request
    /// (Core tells reads from syncs by the token's range). Core asks this only for ranges its own model calls cold
    /// (STORAGE.md, "Cold reads"), so a read of old data does not stall the driver thread.</summary>
    void RequestRead(long position, int length, long token);

    /// <summary>Sync now, blocking the caller. Only for rare metadata writes (topic creation), never the hot path.</summary>
    DiskStatus SyncNow();
}
