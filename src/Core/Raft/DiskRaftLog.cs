using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Raft;

/// <summary>One entry of a <see cref="DiskRaftLog"/>: its offset, the epoch of the leader that appended it, and either
/// an opaque payload (the state machine's: a metadata record batch) or a leader-change control entry.</summary>
public sealed record RaftEntry(long Offset, int Epoch, bool Control, byte[] Payload);

/// <summary>A run of consecutive entries: the TRecords of a <see cref="DiskRaftLog"/> (what Propose takes, what a Fetch
/// answer carries). On the wire, and in the file, a run is the concatenation of its entries' frames
/// (<see cref="DiskRaftLog.Encode"/>).</summary>
public sealed class RaftEntries(IReadOnlyList<RaftEntry> entries)
{
    public IReadOnlyList<RaftEntry> Entries { get; } = entries;
}

/// <summary>
/// A small replicated log on <see cref="IDisk"/> for a log whose entries fit in memory (the metadata log, KRaft's
/// <c>__cluster_metadata-0</c>): one file of frames, <c>[int32 body length][uint32 CRC-32C of body]</c> then the body
/// <c>[int64 offset][int32 epoch][int8 kind: 0 data, 1 leader change][payload]</c>. Every entry is also kept in
/// memory (bounded by <see cref="MaxEntries"/> and <see cref="MaxBytes"/>); the epoch cache is derived from them.
/// Recovery keeps the longest valid, contiguous prefix and truncates the rest (a torn tail); a sync requested with
/// <see cref="RequestSync"/> completes through the node's sync tokens (<see cref="TryCompleteSync"/>). The log start is
/// always 0: there are no metadata snapshots on this path yet (REPLICATION.md "What exists now").
/// </summary>
public sealed class DiskRaftLog : IRaftLog<RaftEntries>
{
    public const int MaxEntries = 1_000_000;
    public const long MaxBytes = 256L * 1024 * 1024;
    private const int FrameHeaderBytes = 8;
    private const int BodyHeaderBytes = 8 + 4 + 1;

    private readonly IDiskFile _file;
    private readonly Func<long> _nextToken;
    private readonly List<RaftEntry> _entries = new();
    private readonly List<long> _positions = new(); // file position of each entry's frame
    private readonly List<(int Epoch, long Start)> _epochs = new();
    private long _writePosition;
    private long _syncToken = long.MinValue;
    private long _syncRequestedEnd = -1;
    private long _truncatedSinceRequest = long.MaxValue;

    public DiskRaftLog(IDisk disk, string path, Func<long> nextToken, IBrokerLog log)
    {
        _nextToken = nextToken;
        _file = disk.Open(path, create: true);
        long length = _file.Length;
        Check.That(length <= MaxBytes, "raft log bounded");
        var all = new byte[length];
        Check.That(_file.Read(0, all) == all.Length, "raft log read whole");
        int position = 0;
        while (position < all.Length)
        {
            if (!TryReadFrame(all, position, out var entry, out int frame) || entry!.Offset != _entries.Count
                || (_entries.Count > 0 && entry.Epoch < _entries[^1].Epoch))
            {
                log.Warn("Raft log {Path}: {Bytes} bytes from position {Position} are torn, damaged or out of sequence; truncating",
                    path, all.Length - position, position);
                _file.Truncate(position);
                break;
            }
            AddInMemory(entry, position);
            position += frame;
        }
        _writePosition = position;
        var synced = _file.SyncNow();
        if (synced != DiskStatus.Ok) throw new Broker.StorageException($"syncing {path} at start-up: {synced}", synced);
        SyncedEndOffset = LogEndOffset;
    }

    /// <summary>Told when the high watermark moves (the state machine applies up to it after the step).</summary>
    public Action<long>? HighWatermarkMoved { get; set; }
    public long HighWatermark { get; private set; }

    public long LogStartOffset => 0;
    public OffsetAndEpoch LogStartOffsetAndEpoch => new(0, 0);
    public long LogEndOffset => _entries.Count;
    public long SyncedEndOffset { get; private set; }
    public bool SyncInFlight => _syncRequestedEnd >= 0;
    public OffsetAndEpoch EndOffsetAndEpoch => new(LogEndOffset, _entries.Count > 0 ? _entries[^1].Epoch : 0);

    public RaftEntry? EntryAt(long offset) => offset >= 0 && offset < _entries.Count ? _entries[(int)offset] : null;

    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        for (int i = _epochs.Count - 1; i >= 0; i--)
        {
            if (_epochs[i].Epoch > epoch) continue;
            long end = i == _epochs.Count - 1 ? LogEndOffset : _epochs[i + 1].Start;
            return new OffsetAndEpoch(end, _epochs[i].Epoch);
        }
        // Epoch 0 is the empty log's (the log start's) epoch, as in the simulator's log.
        if (epoch >= 0) return new OffsetAndEpoch(_epochs.Count > 0 ? _epochs[0].Start : LogEndOffset, 0);
        return new OffsetAndEpoch(-1, -1);
    }

    public long AppendAsLeader(RaftEntries records, int epoch)
    {
        long first = LogEndOffset;
        foreach (var e in records.Entries) Append(new RaftEntry(LogEndOffset, epoch, e.Control, e.Payload));
        return first;
    }

    public long AppendLeaderChange(int epoch, int leaderId)
    {
        long offset = LogEndOffset;
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, leaderId);
        Append(new RaftEntry(offset, epoch, true, payload));
        return offset;
    }

    public void AppendAsFollower(RaftEntries records)
    {
        foreach (var e in records.Entries)
        {
            Check.That(e.Offset == LogEndOffset, "a follower appends at its log end");
            Append(e);
        }
    }

    private void Append(RaftEntry e)
    {
        Check.That(_entries.Count < MaxEntries && _writePosition + FrameBytes(e) <= MaxBytes, "raft log bounded");
        Check.That(_entries.Count == 0 || e.Epoch >= _entries[^1].Epoch, "epochs never decrease along the log");
        var frame = new byte[FrameBytes(e)];
        WriteFrame(frame, e);
        var status = _file.Write(_writePosition, frame);
        // A failed write is a disk fault: the entry is not in the log (a leader's proposal is then lost, never
        // acknowledged; a follower fetches it again).
        if (status != DiskStatus.Ok) throw new Broker.StorageException($"raft log write failed: {status}", status);
        AddInMemory(e, _writePosition);
        _writePosition += frame.Length;
    }

    private void AddInMemory(RaftEntry e, long position)
    {
        if (_epochs.Count == 0 || _epochs[^1].Epoch != e.Epoch) _epochs.Add((e.Epoch, e.Offset));
        _entries.Add(e);
        _positions.Add(position);
    }

    public RaftEntries? Read(long fromOffset, int maxEntries)
    {
        Check.That(fromOffset >= 0 && fromOffset <= LogEndOffset);
        int n = (int)Math.Min(maxEntries, LogEndOffset - fromOffset);
        if (n <= 0) return null;
        return new RaftEntries(_entries.GetRange((int)fromOffset, n));
    }

    public void TruncateTo(long offset)
    {
        Check.That(offset >= 0 && offset <= LogEndOffset);
        if (offset == LogEndOffset) return;
        int keep = (int)offset;
        _writePosition = _positions[keep];
        _file.Truncate(_writePosition);
        _entries.RemoveRange(keep, _entries.Count - keep);
        _positions.RemoveRange(keep, _positions.Count - keep);
        while (_epochs.Count > 0 && _epochs[^1].Start >= offset) _epochs.RemoveAt(_epochs.Count - 1);
        SyncedEndOffset = Math.Min(SyncedEndOffset, offset);
        _truncatedSinceRequest = Math.Min(_truncatedSinceRequest, offset);
    }

    public void TruncateFullyAndStartAt(long offset, int epoch)
    {
        // Only a metadata follower below the leader's log start gets here, and this log's start is always 0.
        Check.Fail("the disk raft log has no snapshots: its log start never moves");
    }

    public void RequestSync()
    {
        Check.That(!SyncInFlight);
        _syncRequestedEnd = LogEndOffset;
        _truncatedSinceRequest = long.MaxValue;
        _syncToken = _nextToken();
        _file.RequestSync(_syncToken);
    }

    /// <summary>A sync completion: false when the token is not this log's. A failed sync makes nothing more durable
    /// (the core asks again).</summary>
    public bool TryCompleteSync(long token, DiskStatus status)
    {
        if (!SyncInFlight || token != _syncToken) return false;
        // Entries rewritten after a truncation below the requested end may not be covered by this sync.
        long covered = Math.Min(_syncRequestedEnd, _truncatedSinceRequest);
        _syncRequestedEnd = -1;
        if (status == DiskStatus.Ok) SyncedEndOffset = Math.Max(SyncedEndOffset, Math.Min(covered, LogEndOffset));
        return true;
    }

    public void OnHighWatermark(long highWatermark)
    {
        HighWatermark = highWatermark;
        HighWatermarkMoved?.Invoke(highWatermark);
    }

    public void Dispose() => _file.Dispose();

    // ---- frames ---------------------------------------------------------------------------------------------------

    private static int FrameBytes(RaftEntry e) => FrameHeaderBytes + BodyHeaderBytes + e.Payload.Length;

    /// <summary>Writes one entry's frame into exactly <see cref="FrameBytes"/> bytes.</summary>
    private static void WriteFrame(Span<byte> frame, RaftEntry e)
    {
        Check.That(frame.Length == FrameBytes(e), "a frame is written into its own bytes");
        var body = frame[FrameHeaderBytes..];
        BinaryPrimitives.WriteInt64BigEndian(body, e.Offset);
        BinaryPrimitives.WriteInt32BigEndian(body[8..], e.Epoch);
        body[12] = e.Control ? (byte)1 : (byte)0;
        e.Payload.CopyTo(body[BodyHeaderBytes..]);
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame[4..], Crc32C.Compute(body));
    }

    private static bool TryReadFrame(ReadOnlySpan<byte> bytes, int position, out RaftEntry? entry, out int frameBytes)
    {
        entry = null;
        frameBytes = 0;
        if (bytes.Length - position < FrameHeaderBytes) return false;
        int length = BinaryPrimitives.ReadInt32BigEndian(bytes[position..]);
        if (length < BodyHeaderBytes || length > bytes.Length - position - FrameHeaderBytes) return false;
        var body = bytes.Slice(position + FrameHeaderBytes, length);
        if (Crc32C.Compute(body) != BinaryPrimitives.ReadUInt32BigEndian(bytes[(position + 4)..])) return false;
        byte kind = body[12];
        if (kind > 1) return false;
        long offset = BinaryPrimitives.ReadInt64BigEndian(body);
        int epoch = BinaryPrimitives.ReadInt32BigEndian(body[8..]);
        if (offset < 0 || epoch < 0) return false;
        entry = new RaftEntry(offset, epoch, kind == 1, body[BodyHeaderBytes..].ToArray());
        frameBytes = FrameHeaderBytes + length;
        return true;
    }

    /// <summary>A run of entries as bytes (a Fetch answer's Records): their frames, concatenated.</summary>
    public static ReadOnlyMemory<byte> Encode(RaftEntries run)
    {
        int total = 0;
        foreach (var e in run.Entries) total += FrameBytes(e);
        var bytes = new byte[total];
        int at = 0;
        foreach (var e in run.Entries)
        {
            WriteFrame(bytes.AsSpan(at, FrameBytes(e)), e);
            at += FrameBytes(e);
        }
        return bytes;
    }

    /// <summary>Bytes from a peer back to a run: every frame whole, CRC-checked and consecutive, else a
    /// <see cref="Protocol.ProtocolException"/> (bad input from a peer closes nothing here: the answer is dropped).</summary>
    public static RaftEntries Decode(ReadOnlyMemory<byte> bytes)
    {
        var entries = new List<RaftEntry>();
        var span = bytes.Span;
        int position = 0;
        while (position < span.Length)
        {
            if (!TryReadFrame(span, position, out var e, out int frame) || (entries.Count > 0 && e!.Offset != entries[^1].Offset + 1))
                throw new Protocol.ProtocolException("a raft fetch answer holds a damaged or non-consecutive entry");
            entries.Add(e!);
            position += frame;
            if (entries.Count > MaxEntries) throw new Protocol.ProtocolException("too many raft entries");
        }
        return new RaftEntries(entries);
    }
}
