using DetKafka.Core.Abstractions;

namespace DetKafka.Core.Storage;

/// <summary>Creating a new log (STORAGE.md, "Creating a log").</summary>
public sealed partial class UnifiedLog
{
    /// <summary>
    /// A log whose directory does not exist yet: creates the directory (durable at once, the host syncs the root)
    /// and its first segment's three empty files through <see cref="IDisk.CreateDeferred"/>, whose entries become
    /// durable together with the one directory sync at the end of <see cref="Recover"/>, before the log is served.
    /// That is 2 fsyncs per new partition where a durable create per file and a sync of the empty segment made 8
    /// (PERFORMANCE.md, "Creating thousands of partitions"). A crash in between leaves the directory with some or
    /// none of the files, which recovery treats as any log: orphan indexes go, a missing segment starts empty at
    /// the checkpoint (none) or 0; and a directory lost whole is created again from the metadata at start-up.
    /// Returns whether it created the log.
    /// </summary>
    private bool CreateIfMissing()
    {
        if (_disk.DirectoryExists(Directory)) return false;
        _disk.CreateDirectory(Directory);
        string stem = PathOf(LogSegment.FileStem(0));
        _disk.CreateDeferred(stem + LogSegment.LogSuffix).Dispose();
        _disk.CreateDeferred(stem + LogSegment.IndexSuffix).Dispose();
        _disk.CreateDeferred(stem + LogSegment.TimeIndexSuffix).Dispose();
        return true;
    }
}
