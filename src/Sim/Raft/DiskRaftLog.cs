using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Sim.Raft;

/// <summary>
/// A replica's log in the Raft simulation as a replicated partition keeps it: the broker's <see cref="UnifiedLog"/> on a
/// <see cref="SimDisk"/>, behind the real adapter <see cref="UnifiedRaftLog"/>. A simulated entry is one record of its
/// own batch (value: the 8-byte proposal; a leader change is the adapter's control batch), so the core's log matching,
/// truncation, far-behind restarts and the commit rule run against real segments, indexes, the leader-epoch cache and
/// its checkpoint. A crash keeps only what the disk made durable (plus, as a disk may, whole or torn sectors of an
/// unsynced tail) and the log is recovered from its segments, as the broker does at start.
/// </summary>
public sealed class DiskRaftLog : ISimRaftLog
{
    private const string Directory = "raft-sim-0";
    private static readonly TopicPartition Partition = new("raft-sim", 0);
    // Small segments: rolls, truncations across segments and multi-segment recovery happen in every seed.
    private static readonly LogConfig Config = LogConfig.Default with { SegmentBytes = 4096 };

    private readonly SimDisk _disk = new();
    private readonly IRandom _crashRandom;
    private readonly RaftLogPlantedBugs _bugs;
    private readonly List<DecodedRecord> _decoded = new();
    private long _nextSyncToken;
    private UnifiedRaftLog _raft;
    private readonly Action? _onTruncation;

    public DiskRaftLog(IRandom crashRandom, RaftLogPlantedBugs plantedBugs, Action? onTruncation = null)
    {
        _onTruncation = onTruncation;
        _crashRandom = crashRandom;
        _bugs = plantedBugs;
        _disk.FaultHook = (op, _) => op == SimDiskOperation.SyncCompletion && FailSync?.Invoke() == true ? DiskStatus.IoError : DiskStatus.Ok;
        _raft = Open();
    }

    private UnifiedRaftLog Open()
    {
        var log = UnifiedLog.Open(_disk, Directory, Partition, Config, () => ++_nextSyncToken, NullBrokerLog.Instance, 0);
        return new UnifiedRaftLog(log, _bugs);
    }

    public UnifiedLog Log => _raft.Log;
    public long MinChangedOffset { get; set; } = long.MaxValue;
    public Func<bool>? FailSync { get; set; }

    public long LogStartOffset => _raft.LogStartOffset;
    public OffsetAndEpoch LogStartOffsetAndEpoch => _raft.LogStartOffsetAndEpoch;
    public long LogEndOffset => _raft.LogEndOffset;
    public long SyncedEndOffset => _raft.SyncedEndOffset;
    public OffsetAndEpoch EndOffsetAndEpoch => _raft.EndOffsetAndEpoch;
    public bool SyncInFlight => _raft.SyncInFlight;
    public OffsetAndEpoch EndOffsetForEpoch(int epoch) => _raft.EndOffsetForEpoch(epoch);

    public long AppendAsLeader(SimBatch records, int epoch)
    {
        Changed(LogEndOffset);
        var list = new SimpleRecord[records.Entries.Length];
        for (int i = 0; i < list.Length; i++)
        {
            var value = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(value, records.Entries[i].Value);
            list[i] = new SimpleRecord(null, value, 0);
        }
        long offset = _raft.AppendAsLeader(new RaftRecords(RecordBatchBuilder.Build(list)), epoch);
        Check.That(offset >= 0 || Log.Failure != ErrorCode.None, "the simulator's proposals are valid records");
        return offset;
    }

    public long AppendLeaderChange(int epoch, int leaderId)
    {
        Changed(LogEndOffset);
        return _raft.AppendLeaderChange(epoch, leaderId);
    }

    public void AppendAsFollower(SimBatch records)
    {
        Changed(LogEndOffset);
        Check.That(records.Payload is RaftRecords, "a follower appends what a disk log read");
        _raft.AppendAsFollower((RaftRecords)records.Payload!);
    }

    public SimBatch? Read(long fromOffset, int maxEntries)
    {
        var records = _raft.Read(fromOffset, maxEntries);
        if (records is null) return null;
        var entries = new List<SimEntry>();
        var span = records.Bytes.Span;
        int position = 0;
        while (position < span.Length && RecordBatchHeader.TryRead(span[position..], out var h))
        {
            var batch = span.Slice(position, (int)h.TotalSize);
            for (long off = Math.Max(h.BaseOffset, fromOffset); off <= h.LastOffset; off++) entries.Add(Decode(batch, h, off));
            position += (int)h.TotalSize;
        }
        return new SimBatch(records.BaseOffset, entries.ToArray()) { Payload = records };
    }

    public SimEntry? EntryAt(long offset)
    {
        if (offset < LogStartOffset || offset >= LogEndOffset) return null;
        var slice = Log.ReadSlice(offset, 1, LogEndOffset, minOneBatch: true);
        if (slice.Records is not { } r || r.Length == 0) return null;
        var bytes = new byte[r.Length];
        r.Source.CopyTo(r.Position, bytes);
        Check.That(RecordBatchHeader.TryRead(bytes, out var h) && h.BaseOffset <= offset && offset <= h.LastOffset);
        return Decode(bytes.AsSpan(0, (int)h.TotalSize), h, offset);
    }

    private SimEntry Decode(ReadOnlySpan<byte> batch, in RecordBatchHeader h, long offset)
    {
        if (h.IsControl)
        {
            int? leader = UnifiedRaftLog.ReadLeaderChange(batch);
            Check.That(leader is not null, "the only control batches here are leader changes");
            return new SimEntry(h.PartitionLeaderEpoch, leader.Value, Control: true);
        }
        _decoded.Clear();
        Check.That(RecordBatchDecoder.Decode(batch, _decoded) == ErrorCode.None, "stored batches decode");
        foreach (var d in _decoded)
            if (d.Offset == offset) return new SimEntry(h.PartitionLeaderEpoch, BinaryPrimitives.ReadInt64BigEndian(d.Value), Control: false);
        Check.Fail($"offset {offset} is not in its batch");
        return default;
    }

    public void TruncateTo(long offset)
    {
        if (offset < LogEndOffset) _onTruncation?.Invoke();
        _raft.TruncateTo(offset);
        Changed(Math.Min(offset, LogEndOffset));
    }

    public void TruncateFullyAndStartAt(long offset, int epoch)
    {
        Changed(LogStartOffset);
        _raft.TruncateFullyAndStartAt(offset, epoch);
    }

    public void RequestSync()
    {
        Check.That(!SyncInFlight);
        _raft.RequestSync();
    }

    public bool CompleteSync()
    {
        bool ok = true;
        foreach (var (token, status) in _disk.CompletePendingSyncs())
        {
            Log.OnSyncCompleted(token, status);
            ok &= status == DiskStatus.Ok;
        }
        return ok && Log.Failure == ErrorCode.None;
    }

    public void OnHighWatermark(long highWatermark) => _raft.OnHighWatermark(highWatermark);

    public void Crash()
    {
        Changed(LogStartOffset);
        _disk.Crash(_crashRandom, partialTails: true, bitFlips: 0);
        _raft = Open();
        Changed(LogStartOffset);
    }

    public void DeleteBelow(long offset)
    {
        if (offset <= LogStartOffset || offset > LogEndOffset || offset > Log.HighWatermark) return;
        Log.DeleteRecordsBefore(offset);
    }

    private void Changed(long offset) => MinChangedOffset = Math.Min(MinChangedOffset, offset);
}
