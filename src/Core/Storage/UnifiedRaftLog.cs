using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>
/// A run of whole Kafka record batches, as a partition's Raft log hands them around (the <c>TRecords</c> of
/// <see cref="RaftReplica{TRecords}"/> for data partitions): exactly the bytes of a Fetch response's <c>Records</c>,
/// with their offsets and leader epochs in the batch headers. An entry of the Raft log is one offset (one record).
/// </summary>
public sealed class RaftRecords(ReadOnlyMemory<byte> bytes)
{
    public ReadOnlyMemory<byte> Bytes { get; } = bytes;

    /// <summary>The wire form (Fetch's <c>Records</c>): the bytes as they are.</summary>
    public static ReadOnlyMemory<byte>? ToBytes(RaftRecords? records) => records?.Bytes;

    /// <summary>From a Fetch response's <c>Records</c>: null or empty is no records.</summary>
    public static RaftRecords? FromBytes(ReadOnlyMemory<byte>? bytes) => bytes is { Length: > 0 } b ? new RaftRecords(b) : null;

    /// <summary>The base offset of the first batch, or -1 when there is no whole batch header.</summary>
    public long BaseOffset => RecordBatchHeader.TryRead(Bytes.Span, out var h) ? h.BaseOffset : -1;

    public override string ToString() => $"RaftRecords({Bytes.Length} bytes from {BaseOffset})";
}

/// <summary>Test-only switches that break the adapter on purpose (the Raft simulation over real storage must catch
/// each one; never set outside tests).</summary>
[Flags]
public enum RaftLogPlantedBugs
{
    None = 0,
    /// <summary>The synced end offset is the log end: a follower reports (and a leader counts) unsynced data.</summary>
    SyncedEndIsLogEnd = 1,
    /// <summary>A truncation leaves the leader-epoch cache as it was: the log claims epochs it no longer holds.</summary>
    TruncateKeepsEpochCache = 2,
}

/// <summary>The follower-side operations as the owner of the log performs them (a replicated <c>Partition</c>: its role
/// checks, its high watermark); without an owner the adapter works on the log directly (the Raft simulation).</summary>
public interface IRaftLogOwner
{
    AppendResult AppendAsFollower(ReadOnlyMemory<byte> records, long nowMs);
    ErrorCode TruncateTo(long offset);
    ErrorCode TruncateFullyAndStartAt(long offset, long nowMs);
    /// <summary>The Raft commit index moved to <paramref name="highWatermark"/>.</summary>
    void OnHighWatermark(long highWatermark);
}

/// <summary>
/// A partition's <see cref="UnifiedLog"/> as the Raft core's <see cref="IRaftLog{TRecords}"/> (REPLICATION.md, "How a
/// UnifiedLog adapter implements IRaftLog"). Offsets are the log's; an entry is a record; the epochs come from the
/// log's leader-epoch cache. The leader's appends go through the log's produce path with the batches'
/// <c>PartitionLeaderEpoch</c> set to the Raft epoch; a new leader's first entry is a control batch of Kafka's
/// LeaderChangeMessage type (2), which consumers, the cleaner and the transaction code skip as they do markers;
/// a follower's appends and truncations are the log's follower operations (truncations are durable when they return).
/// The synced end is the log's flushed offset, and a sync is the log's group-commit sync, whose completion the driver
/// routes to <see cref="UnifiedLog.OnSyncCompleted"/> and then to <see cref="RaftReplica{TRecords}.OnLogSynced"/>.
/// The log's high watermark follows the Raft commit index (<see cref="OnHighWatermark"/>).
/// </summary>
public sealed class UnifiedRaftLog : IRaftLog<RaftRecords>
{
    /// <summary>Kafka's ControlRecordType.LEADER_CHANGE.</summary>
    public const short LeaderChangeType = 2;
    /// <summary>Upper bound on the bytes one Read returns (a fetch answer), except that one batch is always whole.</summary>
    public const int DefaultMaxReadBytes = 1 << 20;

    private readonly UnifiedLog _log;
    private readonly RaftLogPlantedBugs _bugs;
    // The epoch of the entry just below the log start when the epoch cache cannot say (a log restarted empty at a
    // leader's log start): what the Raft core passed to TruncateFullyAndStartAt. -1 unknown. Not persisted: after a
    // restart an empty log reports -1, which costs a far-behind follower one more out-of-range answer, never safety.
    private int _startEpoch = -1;

    public UnifiedRaftLog(UnifiedLog log, RaftLogPlantedBugs plantedBugs = RaftLogPlantedBugs.None)
    {
        _log = log;
        _bugs = plantedBugs;
        // The high watermark is the Raft commit index, set through OnHighWatermark only.
        log.HighWatermarkFromPartition = true;
    }

    public UnifiedLog Log => _log;

    /// <summary>The driver's wall clock in ms (batch timestamps, segment rolls); set before each step.</summary>
    public long NowMs { get; set; }

    /// <summary>Set by the owner around a coordinator's write (a transactional offset commit, a marker): the log's
    /// <c>fromCoordinator</c> rules apply to the next <see cref="AppendAsLeader"/>.</summary>
    public bool FromCoordinator { get; set; }

    public int MaxReadBytes { get; set; } = DefaultMaxReadBytes;

    /// <summary>The voter ids written into the leader-change message (LeaderChangeMessage.Voters).</summary>
    public IReadOnlyList<int> Voters { get; set; } = [];

    /// <summary>The last leader append's result: the caller of <see cref="RaftReplica{TRecords}.Propose"/> reads its
    /// error (validation, idempotence, storage) and offsets here.</summary>
    public AppendResult LastAppend { get; private set; }

    /// <summary>Who performs follower appends, truncations and high-watermark moves; null: the log itself.</summary>
    public IRaftLogOwner? Owner { get; set; }

    public long LogStartOffset => _log.LogStartOffset;
    public long LogEndOffset => _log.LogEndOffset;

    public long SyncedEndOffset => (_bugs & RaftLogPlantedBugs.SyncedEndIsLogEnd) != 0 ? _log.LogEndOffset : _log.FlushedOffset;

    public bool SyncInFlight => _log.SyncInFlight;

    /// <summary>The epoch of the entry below the log start: the cache's first epoch when it covers the log start
    /// (Kafka's truncateFromStart moves the covering entry there; by log matching, a follower whose last entry has that
    /// epoch at log start - 1 agrees with this log there), else what a full truncation was told, else -1.</summary>
    public OffsetAndEpoch LogStartOffsetAndEpoch
    {
        get
        {
            long start = _log.LogStartOffset;
            if (start == 0) return new OffsetAndEpoch(0, 0);
            var entries = _log.LeaderEpochCache.Entries;
            if (entries.Count > 0 && entries[0].StartOffset == start) return new OffsetAndEpoch(start, entries[0].Epoch);
            return new OffsetAndEpoch(start, _startEpoch);
        }
    }

    public OffsetAndEpoch EndOffsetAndEpoch
    {
        get
        {
            var latest = _log.LeaderEpochCache.Latest;
            return new OffsetAndEpoch(_log.LogEndOffset, latest?.Epoch ?? (_log.LogStartOffset == 0 ? 0 : _startEpoch));
        }
    }

    /// <summary>The largest epoch &lt;= <paramref name="epoch"/> this log holds and where it ends (the next epoch's
    /// start, or the log end for the latest); (-1, -1) when the log has no epoch that old. Unlike Kafka's
    /// <c>endOffsetFor</c> (which answers an epoch below the first one with the first start offset, for clients), the
    /// Raft core must hear "unknown" there, so a follower's fetch from a removed epoch diverges at the log start.</summary>
    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        var entries = _log.LeaderEpochCache.Entries;
        for (int i = entries.Count - 1; i >= 0; i--)
        {
            if (entries[i].Epoch > epoch) continue;
            long end = i == entries.Count - 1 ? _log.LogEndOffset : entries[i + 1].StartOffset;
            return new OffsetAndEpoch(end, entries[i].Epoch);
        }
        if (_startEpoch >= 0 && _startEpoch <= epoch)
            return new OffsetAndEpoch(entries.Count > 0 ? entries[0].StartOffset : _log.LogEndOffset, _startEpoch);
        return new OffsetAndEpoch(-1, -1);
    }

    /// <summary>The produce path (validation, offsets, idempotence, transactions) with the batches stamped with
    /// <paramref name="epoch"/>. Returns the first offset, or -1 when the log refused (see <see cref="LastAppend"/>).</summary>
    public long AppendAsLeader(RaftRecords records, int epoch)
    {
        Check.That(epoch >= _log.LatestEpoch, "a leader appends in an epoch at least the log's latest");
        LastAppend = _log.Append(records.Bytes, NowMs, epoch, FromCoordinator);
        return LastAppend.Error == ErrorCode.None ? LastAppend.BaseOffset : -1;
    }

    /// <summary>Test-only planted bug (the simulator's cluster check replicas-agree-below-high-watermark must catch it): a
    /// follower flips a byte of the last record value of the first uncompressed data batch it appends and re-seals the
    /// batch's CRC, as a buffer-reuse bug would. Per thread, set for one simulated run.</summary>
    [ThreadStatic] public static bool CorruptFollowerAppendsForTests;

    private static ReadOnlyMemory<byte> CorruptOneValue(ReadOnlyMemory<byte> records)
    {
        var copy = records.ToArray();
        if (copy.Length < 61 || !RecordBatchHeader.TryRead(copy, out var h) || h.IsControl || (h.Attributes & 0x7) != 0) return records;
        int end = (int)Math.Min(h.TotalSize, copy.Length);
        // The last record's value ends one byte before the record's headers count (0: the workload sends no headers).
        if (end < 63 || copy[end - 1] != 0) return records;
        copy[end - 2] ^= 0x01;
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(17), Crc32C.Compute(copy.AsSpan(21, end - 21)));
        return copy;
    }

    /// <summary>A write the disk refused without taking the log offline (ENOSPC, a failed roll) leaves the Raft core
    /// believing in an entry the log does not hold: stop the process instead, as the metadata quorum's log does
    /// (DiskRaftLog.Append) and as Kafka does on a log directory failure. Found by the simulator's cluster swarm
    /// (disk-full on a follower or a new leader).</summary>
    private void ThrowOnRefusedWrite(string what)
    {
        if (LastAppend.Error == ErrorCode.KafkaStorageError && _log.Failure == ErrorCode.None)
            throw new Broker.StorageException($"{what} to {_log.TopicPartition} failed: {LastAppend.ErrorMessage}", DiskStatus.NoSpace);
    }

    /// <summary>A control batch (producer id -1, not transactional) holding one LeaderChangeMessage record at the log
    /// end in <paramref name="epoch"/>, written like a follower's batch (its offset and epoch are already in it).</summary>
    public long AppendLeaderChange(int epoch, int leaderId)
    {
        long offset = _log.LogEndOffset;
        var batch = BuildLeaderChangeBatch(offset, epoch, leaderId, Voters, NowMs);
        LastAppend = _log.AppendAsFollower(batch, NowMs);
        ThrowOnRefusedWrite("a leader-change batch");
        // Only the disk can refuse a batch built here; the log is then offline and the owner stops the replica.
        Check.That(LastAppend.Error == ErrorCode.None || _log.Failure != ErrorCode.None, "a leader-change batch is always valid");
        return offset;
    }

    /// <summary>Kafka's control batch for a new leader: key (version 0, type 2), value LeaderChangeMessage v0 (flexible:
    /// Version int16, LeaderId int32, compact Voters and GrantingVoters arrays of VoterId int32, tagged fields).</summary>
    public static byte[] BuildLeaderChangeBatch(long baseOffset, int epoch, int leaderId, IReadOnlyList<int> voters, long timestamp)
    {
        Check.That(voters.Count <= VoterSet.MaxVoters);
        var key = new byte[4];
        BinaryPrimitives.WriteInt16BigEndian(key, 0);
        BinaryPrimitives.WriteInt16BigEndian(key.AsSpan(2), LeaderChangeType);
        using var value = new KafkaWriter(64);
        value.WriteInt16(0);
        value.WriteInt32(leaderId);
        for (int list = 0; list < 2; list++)
        {
            // Voters, then GrantingVoters (the voters too: the core does not report who granted).
            value.WriteUnsignedVarInt((uint)voters.Count + 1);
            foreach (int v in voters)
            {
                value.WriteInt32(v);
                value.WriteUnsignedVarInt(0);
            }
        }
        value.WriteUnsignedVarInt(0);
        return RecordBatchBuilder.Build([new SimpleRecord(key, value.WrittenSpan.ToArray(), timestamp)], baseOffset: baseOffset,
            isControl: true, partitionLeaderEpoch: epoch);
    }

    /// <summary>The leader id of a leader-change control batch, or null when the batch is not one.</summary>
    public static int? ReadLeaderChange(ReadOnlySpan<byte> batch)
    {
        if (!RecordBatchHeader.TryRead(batch, out var h) || !h.IsControl) return null;
        var decoded = new List<DecodedRecord>(1);
        if (RecordBatchDecoder.Decode(batch[..(int)Math.Min(h.TotalSize, batch.Length)], decoded) != ErrorCode.None || decoded.Count != 1) return null;
        var r = decoded[0];
        if (r.Key is not { Length: >= 4 } k || BinaryPrimitives.ReadInt16BigEndian(k.AsSpan(2)) != LeaderChangeType) return null;
        if (r.Value is not { Length: >= 6 } v) return null;
        return BinaryPrimitives.ReadInt32BigEndian(v.AsSpan(2));
    }

    /// <summary>The leader's batches stored as they are. A far-behind follower restarted empty at a log start that
    /// falls inside one of the leader's batches (DeleteRecords cuts anywhere) gets that whole batch: it restarts
    /// its empty log at the batch's base offset (Kafka's follower does the same on UnexpectedAppendOffsetException).</summary>
    public void AppendAsFollower(RaftRecords records)
    {
        long first = records.BaseOffset;
        if (first >= 0 && first < _log.LogEndOffset && _log.LogStartOffset == _log.LogEndOffset)
            TruncateFully(first);
        var bytes = CorruptFollowerAppendsForTests ? CorruptOneValue(records.Bytes) : records.Bytes;
        LastAppend = Owner is { } owner ? owner.AppendAsFollower(bytes, NowMs) : _log.AppendAsFollower(bytes, NowMs);
        ThrowOnRefusedWrite("a follower append");
        // The owner validated the fetched batches before the core saw them; only the disk can refuse them now.
        Check.That(LastAppend.Error == ErrorCode.None || _log.Failure != ErrorCode.None,
            "a follower append of validated batches fails only with the disk");
    }

    /// <summary>Whole batches from <paramref name="fromOffset"/> to the log end (replicas read past the high
    /// watermark), at most <see cref="MaxReadBytes"/> and <paramref name="maxEntries"/> records except that the first
    /// batch is always whole; null when there are none.</summary>
    public RaftRecords? Read(long fromOffset, int maxEntries)
    {
        Check.That(fromOffset >= _log.LogStartOffset && fromOffset <= _log.LogEndOffset);
        var slice = _log.ReadSlice(fromOffset, MaxReadBytes, _log.LogEndOffset, minOneBatch: true);
        if (slice.Records is not { } r || r.Length == 0) return null;
        var bytes = new byte[r.Length];
        r.Source.CopyTo(r.Position, bytes);
        int position = 0;
        long entries = 0;
        while (position < bytes.Length && RecordBatchHeader.TryRead(bytes.AsSpan(position), out var h))
        {
            long n = h.LastOffset - Math.Max(h.BaseOffset, fromOffset) + 1;
            if (position > 0 && entries + n > maxEntries) break;
            entries += n;
            position += (int)h.TotalSize;
        }
        Check.That(position > 0 && position <= bytes.Length, "a read returns whole batches");
        return new RaftRecords(bytes.AsMemory(0, position));
    }

    public void TruncateTo(long offset)
    {
        var kept = (_bugs & RaftLogPlantedBugs.TruncateKeepsEpochCache) != 0 ? _log.LeaderEpochCache.Entries.ToList() : null;
        if (Owner is { } owner) owner.TruncateTo(offset);
        else _log.TruncateTo(offset);
        if (kept is not null) _log.LeaderEpochCache.Reset(kept);
    }

    public void TruncateFullyAndStartAt(long offset, int epoch)
    {
        TruncateFully(offset);
        _startEpoch = epoch;
    }

    private void TruncateFully(long offset)
    {
        if (Owner is { } owner) owner.TruncateFullyAndStartAt(offset, NowMs);
        else _log.TruncateFullyAndStartAt(offset, NowMs);
    }

    /// <summary>The log's group-commit sync, started now whatever a relaxed flush policy says: Raft counts only
    /// synced offsets, so a replicated log is strict.</summary>
    public void RequestSync() => _log.StartSyncForReplication(NowMs);

    public void OnHighWatermark(long highWatermark)
    {
        if (Owner is { } owner) owner.OnHighWatermark(highWatermark);
        else _log.AdvanceHighWatermark(Math.Min(highWatermark, _log.LogEndOffset));
    }
}
