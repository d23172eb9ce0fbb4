using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Transactions;

namespace DetKafka.Core.Groups;

// TxnOffsetCommit: offsets written inside a transaction. They are appended to the group's partition of
// __consumer_offsets as the producer's transactional batch, held pending per (partition, producer), and applied
// to the group when the commit marker is durable there, or dropped on the abort marker (Kafka's
// GroupMetadataManager.handleTxnCompletion). Start-up replays the same way: a transactional batch waits for its
// marker in the log; what has no marker yet stays pending. TRANSACTIONS.md.
public sealed partial class GroupCoordinator
{
    /// <summary>Pending transactional offset records per (__consumer_offsets partition, producer id), in log order.</summary>
    private readonly Dictionary<(int Partition, long ProducerId), List<DecodedRecord>> _pendingTxnOffsets = new();

    /// <summary>Whether a group has transactional offsets not yet decided for <paramref name="tp"/> (OffsetFetch
    /// with require_stable answers UNSTABLE_OFFSET_COMMIT then).</summary>
    public bool HasPendingTransactionalOffset(string groupId, TopicPartition tp)
    {
        foreach (var records in _pendingTxnOffsets.Values)
            foreach (var r in records)
            {
                if (r.Key is null) continue;
                var key = GroupRecords.ReadKey(r.Key);
                if (key.IsOffset && key.Group == groupId && key.TopicPartition == tp) return true;
            }
        return false;
    }

    public void TxnCommit(RequestContext request, TxnOffsetCommitRequest commit)
    {
        var reply = new PendingReply(request);
        var response = new TxnOffsetCommitResponse();
        var parts = new List<TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition>();
        var entries = new List<(TopicPartition Tp, OffsetAndMetadata Offset)>();
        foreach (var t in commit.Topics)
        {
            var topic = new TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic { Name = t.Name };
            response.Topics.Add(topic);
            foreach (var p in t.Partitions)
            {
                var answer = new TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex };
                topic.Partitions.Add(answer);
                parts.Add(answer);
                answer.ErrorCode = CommitEntryError(t.Name, p.PartitionIndex, p.CommittedMetadata);
                if (answer.ErrorCode == ErrorCode.None) entries.Add((new TopicPartition(t.Name, p.PartitionIndex), new OffsetAndMetadata(p.CommittedOffset, p.CommittedLeaderEpoch, p.CommittedMetadata, WallNow)));
            }
        }
        var error = CheckCoordinator(commit.GroupId);
        int partition = PartitionFor(commit.GroupId);
        if (error == ErrorCode.None)
        {
            // The offsets' partition must be in the producer's ongoing transaction (AddOffsetsToTxn), at its epoch:
            // otherwise no marker would ever decide them.
            error = _broker.Transactions.VerifyTransactionalProduce(commit.ProducerId, commit.ProducerEpoch,
                new TopicPartition(GroupRecords.OffsetsTopic, partition));
            if (error == ErrorCode.InvalidProducerEpoch) error = request.Version >= 3 ? ErrorCode.ProducerFenced : ErrorCode.InvalidProducerEpoch;
        }
        Group? group = null;
        if (error == ErrorCode.None)
        {
            group = _groups.GetValueOrDefault(commit.GroupId);
            if (group is null)
            {
                if (commit.GenerationId >= 0) error = ErrorCode.IllegalGeneration;
                else if (_groups.Count >= GroupsMax) error = ErrorCode.CoordinatorNotAvailable;
                else group = GetOrCreate(commit.GroupId);
            }
            else if (group.State == GroupState.Dead) error = ErrorCode.CoordinatorNotAvailable;
            else if (commit.GenerationId >= 0 || !string.IsNullOrEmpty(commit.MemberId))
            {
                // KIP-447 (v3): a member of a newer generation fences a zombie's transactional commit.
                if (commit.GroupInstanceId is not null && group.StaticMembers.TryGetValue(commit.GroupInstanceId, out var current) && current != commit.MemberId)
                    error = ErrorCode.FencedInstanceId;
                else if (group.Find(commit.MemberId) is null) error = ErrorCode.UnknownMemberId;
                else if (commit.GenerationId != group.GenerationId) error = ErrorCode.IllegalGeneration;
            }
        }
        if (error != ErrorCode.None || entries.Count == 0)
        {
            foreach (var p in parts) if (p.ErrorCode == ErrorCode.None) p.ErrorCode = error;
            reply.Respond(response);
            return;
        }
        var records = new List<(byte[], byte[]?)>(entries.Count);
        foreach (var (tp, offset) in entries) records.Add((GroupRecords.OffsetKey(group!.Id, tp.Topic, tp.Partition), GroupRecords.OffsetValue(offset)));
        long pid = commit.ProducerId;
        Write(group!, records, writeError =>
        {
            var mapped = CommitError(writeError);
            if (mapped == ErrorCode.None)
            {
                var pending = PendingFor(partition, pid);
                foreach (var (k, v) in records) pending.Add(new DecodedRecord(-1, WallNow, k, v, []));
            }
            foreach (var p in parts) if (p.ErrorCode == ErrorCode.None) p.ErrorCode = mapped;
            reply.Respond(response);
        }, pid, commit.ProducerEpoch);
    }

    private List<DecodedRecord> PendingFor(int partition, long producerId)
    {
        if (!_pendingTxnOffsets.TryGetValue((partition, producerId), out var list))
            _pendingTxnOffsets.Add((partition, producerId), list = new List<DecodedRecord>());
        return list;
    }

    /// <summary>A marker for <paramref name="producerId"/> is durable in partition <paramref name="partition"/>
    /// of __consumer_offsets: its pending offsets become the groups' committed offsets (commit) or vanish (abort).</summary>
    internal void OnTransactionMarker(int partition, long producerId, bool commit)
    {
        if (!_pendingTxnOffsets.Remove((partition, producerId), out var records)) return;
        if (!commit && (_broker.Transactions.Faults & TransactionFaults.ApplyPendingOffsetsOnAbort) == 0) return;
        foreach (var r in records) ApplyOffsetRecord(r);
    }

    private void ApplyOffsetRecord(DecodedRecord r)
    {
        if (r.Key is null || r.Value is null) return;
        try
        {
            var key = GroupRecords.ReadKey(r.Key);
            if (!key.IsOffset) return;
            GetOrCreate(key.Group).Offsets[key.TopicPartition] = GroupRecords.ReadOffsetValue(r.Value);
        }
        catch (ProtocolException e)
        {
            _broker.Log.Warn("Skipped an unreadable transactional offset record: {Reason}", e.Message);
        }
    }

    /// <summary>
    /// Replays the whole batches of <paramref name="records"/> (one read of partition <paramref name="partition"/>)
    /// from <paramref name="from"/>: plain records through <paramref name="replay"/>, transactional ones held until
    /// their marker (a commit replays them at the marker's place, an abort drops them). Returns the offset after
    /// the last batch read, or -1 when nothing could be read.
    /// </summary>
    private long LoadBatches(int partition, ReadOnlySpan<byte> records, long from, List<DecodedRecord> decoded, Action<DecodedRecord> replay, ref long count)
    {
        long next = -1;
        int position = 0;
        while (position < records.Length)
        {
            if (!RecordBatchHeader.TryRead(records[position..], out var header) || header.TotalSize > records.Length - position) break;
            var batch = records.Slice(position, (int)header.TotalSize);
            decoded.Clear();
            if (RecordBatchDecoder.Decode(batch, decoded) != ErrorCode.None) break;
            if (header.IsControl)
            {
                if (header.LastOffset >= from && header.ProducerId >= 0 && ControlRecord.TryReadMarker(batch, out bool commit, out _)
                    && _pendingTxnOffsets.Remove((partition, header.ProducerId), out var held) && commit)
                    foreach (var r in held) replay(r);
            }
            else
            {
                foreach (var r in decoded)
                {
                    if (r.Offset < from) continue;
                    if (header.IsTransactional && header.ProducerId >= 0) PendingFor(partition, header.ProducerId).Add(r);
                    else replay(r);
                    count++;
                }
            }
            next = header.LastOffset + 1;
            position += (int)header.TotalSize;
        }
        return next;
    }
}
