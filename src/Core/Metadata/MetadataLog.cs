using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Metadata;

/// <summary>What the metadata log tells its owner: a batch became durable ("committed"; with a Raft quorum,
/// "committed by the quorum"), or every batch not yet committed was abandoned (a failed sync: they may or may not
/// survive a crash, and nobody was told they succeeded).</summary>
public interface IMetadataCommitListener
{
    void OnCommitted(long lastOffset, IReadOnlyList<MetadataRecord> records);
    void OnAbandoned();
}

/// <summary>
/// The node's metadata as an append-only log of record batches (<see cref="MetadataCodec"/>), plus a snapshot that
/// bounds replay. The shape is the one a Raft-replicated metadata log has: <see cref="Append"/> proposes a batch and
/// returns its offsets at once; the batch is committed later, when the sync that covers it completes (the same
/// <see cref="IDiskFile.RequestSync"/> -> <c>BrokerNode.OnSyncCompleted</c> path as partition appends), and the
/// listener then applies it; <see cref="WhenResolved"/> is how a request waits for "its" offset. Replacing "the
/// local sync completed" by "the quorum acknowledged" changes only where <see cref="CommittedOffset"/> advances.
/// <para>Files, in the data directory: <c>__detkafka_metadata.log</c> (frames, appended) and
/// <c>__detkafka_metadata.checkpoint</c> (magic <c>DKMS</c> then one frame holding the whole image, its base offset
/// being the last log offset it includes; replaced atomically: <c>.tmp</c>, sync, rename, directory sync). Once a
/// snapshot is durable the log is truncated to empty; frames at or below the snapshot's offset that a crash brings
/// back are skipped at replay.</para>
/// <para>Sync tokens are negative (<see cref="IsMetadataToken"/>); partition logs use positive ones.</para>
/// </summary>
public sealed class MetadataLog
{
    public const string LogFileName = "__detkafka_metadata.log";
    public const string SnapshotFileName = "__detkafka_metadata.checkpoint";
    private static readonly byte[] SnapshotMagic = "DKMS"u8.ToArray();

    /// <summary>Proposals not yet durable, at most (a full backlog refuses more with a storage error).</summary>
    public const int PendingBatchesMax = 4096;

    /// <summary>Snapshot once this many batches or bytes were appended since the last one, so replay stays bounded.</summary>
    public int SnapshotEveryBatches { get; set; } = 1000;
    public long SnapshotEveryBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Largest log file recovery reads whole (snapshots keep it far below).</summary>
    private const long LogBytesMax = 512L * 1024 * 1024;

    private readonly IDisk _disk;
    private readonly string _directory;
    private readonly IBrokerLog _log;
    private readonly IMetadataCommitListener _listener;
    private readonly KafkaWriter _writer = new(4096);
    private readonly List<PendingBatch> _pending = new();
    private readonly Dictionary<long, (long EndOffset, long EndBytes)> _syncs = new();
    private readonly List<(long Offset, Action<long> Then)> _waiters = new();
    private IDiskFile? _file;
    private long _writePosition;
    private long _committedBytes;
    private long _nextToken = -1;
    private int _batchesSinceSnapshot;
    private long _snapshotOffset = -1;

    private sealed record PendingBatch(long BaseOffset, long LastOffset, long EndBytes, IReadOnlyList<MetadataRecord> Records);

    public MetadataLog(IDisk disk, string dataDirectory, IBrokerLog log, IMetadataCommitListener listener)
    {
        _disk = disk;
        _directory = dataDirectory;
        _log = log;
        _listener = listener;
    }

    public static bool IsMetadataToken(long token) => token < 0;

    /// <summary>Offset of the last committed record, -1 when none.</summary>
    public long CommittedOffset { get; private set; } = -1;

    /// <summary>Offset the next appended record gets.</summary>
    public long NextOffset { get; private set; }

    public int PendingBatches => _pending.Count;

    /// <summary>Syncs requested and not yet completed.</summary>
    public int SyncsInFlight => _syncs.Count;

    /// <summary>Offset the current snapshot includes up to, -1 when there is none.</summary>
    public long SnapshotOffset => _snapshotOffset;

    private string PathOf(string name) => _directory.Length == 0 ? name : _directory + "/" + name;

    // ---- recovery --------------------------------------------------------------------------------------------------

    /// <summary>
    /// Start-up: reads the snapshot (whole or refuse to start: it was synced before it was renamed into place) and the
    /// log after it, truncating the log at the first frame that is torn, damaged or out of sequence. Returns the
    /// batches to apply in order (the snapshot's first). Everything returned is committed: the log is synced once
    /// here, so what a process crash left in the page cache is durable before anyone is told about it.
    /// </summary>
    public List<IReadOnlyList<MetadataRecord>> Recover()
    {
        var batches = new List<IReadOnlyList<MetadataRecord>>();
        string snapshotPath = PathOf(SnapshotFileName);
        string tmp = snapshotPath + ".tmp";
        if (_disk.FileExists(tmp)) _disk.DeleteFile(tmp); // a snapshot that was never renamed into place
        if (_disk.FileExists(snapshotPath))
        {
            byte[] bytes = ReadAll(snapshotPath, LogBytesMax);
            if (bytes.Length < SnapshotMagic.Length || !bytes.AsSpan(0, 4).SequenceEqual(SnapshotMagic)
                || MetadataCodec.TryReadBatch(bytes[4..], 0, out long offset, out var records, out int frame) != MetadataCodec.FrameStatus.Ok
                || frame != bytes.Length - 4)
                throw new InvariantViolationException($"{snapshotPath} is damaged: refusing to start on corrupt metadata");
            _snapshotOffset = offset;
            batches.Add(records);
        }
        CommittedOffset = _snapshotOffset;
        NextOffset = _snapshotOffset + 1;

        string logPath = PathOf(LogFileName);
        _file = _disk.Open(logPath, create: true);
        long length = _file.Length;
        Check.That(length <= LogBytesMax, "metadata log bounded");
        var all = new byte[length];
        Check.That(_file.Read(0, all) == all.Length, "metadata log read whole");
        int position = 0;
        while (true)
        {
            var status = MetadataCodec.TryReadBatch(all, position, out long baseOffset, out var records, out int frame);
            if (status == MetadataCodec.FrameStatus.End) break;
            long lastOffset = baseOffset + records.Count - 1;
            if (status == MetadataCodec.FrameStatus.Ok && records.Count > 0 && lastOffset <= _snapshotOffset)
            {
                position += frame; // compacted into the snapshot; a crash undid the truncation that followed it
                continue;
            }
            if (status != MetadataCodec.FrameStatus.Ok || records.Count == 0 || baseOffset != NextOffset)
            {
                _log.Warn("Metadata log {Path}: {Bytes} bytes from position {Position} are torn, damaged or out of sequence; truncating",
                    logPath, length - position, position);
                _file.Truncate(position);
                break;
            }
            batches.Add(records);
            NextOffset = lastOffset + 1;
            CommittedOffset = lastOffset;
            _batchesSinceSnapshot++;
            position += frame;
        }
        _writePosition = _committedBytes = position;
        var synced = _file.SyncNow();
        if (synced != DiskStatus.Ok) throw new StorageException($"syncing {logPath} at start-up: {synced}", synced);
        return batches;
    }

    /// <summary>Whether recovery found any metadata (a snapshot or a record).</summary>
    public bool HasContent => CommittedOffset >= 0;

    // ---- proposals --------------------------------------------------------------------------------------------------

    /// <summary>
    /// Proposes a batch: writes it after the last one and requests a sync. Returns Ok and the batch's last offset, or a
    /// failure status (nothing was appended). The batch is committed when <see cref="IMetadataCommitListener.OnCommitted"/>
    /// sees it. <paramref name="requestSync"/> false leaves the sync to a <see cref="CommitNow"/> the caller makes
    /// next (the synchronous path, which must not leave a second sync of the same bytes in flight).
    /// </summary>
    public DiskStatus Append(IReadOnlyList<MetadataRecord> records, out long lastOffset, bool requestSync = true)
    {
        Check.That(_file is not null, "the metadata log is recovered before anything is appended");
        Check.That(records.Count > 0, "a proposal has records");
        lastOffset = -1;
        if (_pending.Count >= PendingBatchesMax) return DiskStatus.IoError;
        _writer.Reset();
        MetadataCodec.WriteBatch(_writer, NextOffset, records);
        var status = _file!.Write(_writePosition, _writer.WrittenSpan);
        if (status != DiskStatus.Ok)
        {
            if (_file.Length > _writePosition) _file.Truncate(_writePosition);
            return status;
        }
        _writePosition += _writer.Position;
        lastOffset = NextOffset + records.Count - 1;
        _pending.Add(new PendingBatch(NextOffset, lastOffset, _writePosition, records));
        NextOffset = lastOffset + 1;
        if (!requestSync) return DiskStatus.Ok;
        long token = _nextToken--;
        _syncs.Add(token, (lastOffset, _writePosition));
        _file.RequestSync(token);
        return DiskStatus.Ok;
    }

    /// <summary>
    /// Calls <paramref name="then"/> with the committed offset once the batch holding <paramref name="offset"/> is
    /// committed or abandoned (at once when it already is). The offset was committed iff it is at most the argument.
    /// </summary>
    public void WhenResolved(long offset, Action<long> then)
    {
        if (offset <= CommittedOffset || !_pending.Exists(b => b.LastOffset >= offset))
        {
            then(CommittedOffset);
            return;
        }
        _waiters.Add((offset, then));
    }

    /// <summary>Makes every appended batch durable now, blocking (start-up, shutdown, and the few callers that must
    /// answer synchronously). Ok when everything appended is committed.</summary>
    public DiskStatus CommitNow()
    {
        if (_pending.Count == 0) return DiskStatus.Ok;
        var status = _file!.SyncNow();
        if (status == DiskStatus.Ok) Commit(_pending[^1].LastOffset, _writePosition);
        else Abandon(status);
        return status;
    }

    /// <summary>A sync completion; false when the token is not one of this log's in-flight syncs (a stale one from
    /// before an abandon: ignored).</summary>
    public bool OnSyncCompleted(long token, DiskStatus status)
    {
        if (!_syncs.Remove(token, out var covered)) return false;
        if (status == DiskStatus.Ok) Commit(covered.EndOffset, covered.EndBytes);
        else Abandon(status);
        return true;
    }

    private void Commit(long upToOffset, long upToBytes)
    {
        if (upToOffset <= CommittedOffset) return;
        CommittedOffset = upToOffset;
        _committedBytes = Math.Max(_committedBytes, upToBytes);
        int done = 0;
        while (done < _pending.Count && _pending[done].LastOffset <= upToOffset)
        {
            var batch = _pending[done++];
            _batchesSinceSnapshot++;
            _listener.OnCommitted(batch.LastOffset, batch.Records);
        }
        _pending.RemoveRange(0, done);
        RunWaiters();
    }

    private void Abandon(DiskStatus status)
    {
        _log.Error("Metadata log sync failed ({Status}): {Count} proposed changes are abandoned", status, _pending.Count);
        _pending.Clear();
        _syncs.Clear(); // in-flight completions for truncated bytes must not commit the offsets reused next
        if (_file!.Length > _committedBytes) _file.Truncate(_committedBytes);
        _writePosition = _committedBytes;
        NextOffset = CommittedOffset + 1;
        _listener.OnAbandoned();
        RunWaiters();
    }

    private void RunWaiters()
    {
        if (_waiters.Count == 0) return;
        var ready = new List<Action<long>>();
        _waiters.RemoveAll(w =>
        {
            bool resolved = w.Offset <= CommittedOffset || !_pending.Exists(b => b.LastOffset >= w.Offset);
            if (resolved) ready.Add(w.Then);
            return resolved;
        });
        foreach (var then in ready) then(CommittedOffset);
    }

    // ---- snapshots --------------------------------------------------------------------------------------------------

    /// <summary>Whether a snapshot is due: enough was appended since the last one and nothing is in flight.</summary>
    public bool SnapshotDue => _pending.Count == 0 && _syncs.Count == 0 && CommittedOffset > _snapshotOffset
        && (_batchesSinceSnapshot >= SnapshotEveryBatches || _committedBytes >= SnapshotEveryBytes);

    /// <summary>
    /// Writes <paramref name="image"/> (the published image, which is everything committed) as the snapshot at
    /// <see cref="CommittedOffset"/>, then empties the log. Blocking; bounded by the snapshot interval. A failure
    /// leaves the old snapshot and the log as they were (replay is just longer).
    /// </summary>
    public DiskStatus WriteSnapshot(IReadOnlyList<MetadataRecord> image)
    {
        Check.That(_pending.Count == 0 && _syncs.Count == 0, "a snapshot covers only committed records");
        string path = PathOf(SnapshotFileName);
        string tmp = path + ".tmp";
        if (_disk.FileExists(tmp)) _disk.DeleteFile(tmp);
        using var w = new KafkaWriter(4096 + image.Count * 48);
        w.WriteRaw(SnapshotMagic);
        MetadataCodec.WriteBatch(w, CommittedOffset, image);
        DiskStatus status;
        using (var f = _disk.Open(tmp, create: true))
        {
            status = f.Write(0, w.WrittenSpan);
            if (status == DiskStatus.Ok) status = f.SyncNow();
        }
        if (status != DiskStatus.Ok)
        {
            _log.Warn("Could not write the metadata snapshot ({Status}); the log keeps growing until the next try", status);
            if (_disk.FileExists(tmp)) _disk.DeleteFile(tmp);
            _batchesSinceSnapshot = 0;
            return status;
        }
        _disk.Rename(tmp, path);
        status = _disk.SyncDirectory(_directory);
        if (status != DiskStatus.Ok)
        {
            // The rename may or may not survive a crash: either way replay is right (old snapshot + log, or new one).
            _log.Warn("Could not sync the directory after the metadata snapshot ({Status})", status);
            return status;
        }
        _snapshotOffset = CommittedOffset;
        _batchesSinceSnapshot = 0;
        // Everything in the log is now in the snapshot. The truncation need not be durable: frames it brings back
        // after a crash are at or below the snapshot's offset and skipped.
        _file!.Truncate(0);
        _writePosition = _committedBytes = 0;
        return DiskStatus.Ok;
    }

    public void Dispose() => _file?.Dispose();

    private byte[] ReadAll(string path, long max)
    {
        using var f = _disk.Open(path, create: false);
        Check.That(f.Length <= max, "metadata file bounded");
        var bytes = new byte[f.Length];
        Check.That(f.Read(0, bytes) == bytes.Length, "metadata file read whole");
        return bytes;
    }
}
