using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Raft;

/// <summary>
/// The core's messages to and from Kafka's wire classes (generated from Specs/52-55 and 01-Fetch), for one topic
/// partition (the metadata log is Kafka's <c>__cluster_metadata-0</c>; a data partition is its own). The source and
/// destination node ids and the correlation id travel in the connection and the request header, not in the body,
/// so the From methods take them. What the wire cannot carry at a version is said where it matters:
/// <list type="bullet">
/// <item>Vote and BeginQuorumEpoch v0 have no directory ids (read back as <see cref="Guid.Empty"/>, which the core
/// treats as "any"); Vote before v2 has no PreVote.</item>
/// <item>Fetch v12 (the newest the Fetch spec declares) has no ReplicaDirectoryId (Fetch v17, tag 0 of the
/// partition): the fetcher's directory id is passed beside the request until the Fetch spec grows to v17.</item>
/// </list>
/// </summary>
public static class RaftWire
{
    public const string MetadataTopic = "__cluster_metadata";

    public static VoteRequest ToWire(VoteRequestMessage m, string topic, int partition, string? clusterId) => new()
    {
        ClusterId = clusterId,
        VoterId = m.Destination,
        Topics = [new VoteRequest.VoteTopic { TopicName = topic, Partitions = [new VoteRequest.VotePartition
        {
            PartitionIndex = partition, ReplicaEpoch = m.ReplicaEpoch, ReplicaId = m.Candidate.Id,
            ReplicaDirectoryId = m.Candidate.DirectoryId, VoterDirectoryId = m.VoterDirectoryId,
            LastOffsetEpoch = m.LastOffsetEpoch, LastOffset = m.LastOffset, PreVote = m.PreVote,
        }] }],
    };

    public static VoteRequestMessage FromWire(VoteRequest r, int source, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        return new VoteRequestMessage(p.ReplicaEpoch, new ReplicaKey(p.ReplicaId, p.ReplicaDirectoryId), p.VoterDirectoryId,
            p.LastOffsetEpoch, p.LastOffset, p.PreVote) { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    public static VoteResponse ToWire(VoteResponseMessage m, string topic, int partition) => new()
    {
        Topics = [new VoteResponse.VoteTopicResponse { TopicName = topic, Partitions = [new VoteResponse.VotePartitionResponse
        {
            PartitionIndex = partition, ErrorCode = m.Error, LeaderId = m.LeaderId, LeaderEpoch = m.LeaderEpoch, VoteGranted = m.VoteGranted,
        }] }],
    };

    public static VoteResponseMessage FromWire(VoteResponse r, int source, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        var error = r.ErrorCode != ErrorCode.None ? r.ErrorCode : p.ErrorCode;
        return new VoteResponseMessage(error, p.LeaderId, p.LeaderEpoch, p.VoteGranted) { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    public static BeginQuorumEpochRequest ToWire(BeginQuorumEpochRequestMessage m, string topic, int partition, string? clusterId) => new()
    {
        ClusterId = clusterId,
        VoterId = m.Destination,
        Topics = [new BeginQuorumEpochRequest.BeginQuorumEpochTopic { TopicName = topic, Partitions = [new BeginQuorumEpochRequest.BeginQuorumEpochPartition
        {
            PartitionIndex = partition, VoterDirectoryId = m.VoterDirectoryId, LeaderId = m.LeaderId, LeaderEpoch = m.LeaderEpoch,
        }] }],
    };

    public static BeginQuorumEpochRequestMessage FromWire(BeginQuorumEpochRequest r, int source, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        return new BeginQuorumEpochRequestMessage(p.LeaderId, p.LeaderEpoch, p.VoterDirectoryId) { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    public static BeginQuorumEpochResponse ToWire(BeginQuorumEpochResponseMessage m, string topic, int partition) => new()
    {
        Topics = [new BeginQuorumEpochResponse.BeginQuorumEpochTopicResponse { TopicName = topic, Partitions = [new BeginQuorumEpochResponse.BeginQuorumEpochPartitionResponse
        {
            PartitionIndex = partition, ErrorCode = m.Error, LeaderId = m.LeaderId, LeaderEpoch = m.LeaderEpoch,
        }] }],
    };

    public static BeginQuorumEpochResponseMessage FromWire(BeginQuorumEpochResponse r, int source, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        return new BeginQuorumEpochResponseMessage(r.ErrorCode != ErrorCode.None ? r.ErrorCode : p.ErrorCode, p.LeaderId, p.LeaderEpoch)
        { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    public static EndQuorumEpochRequest ToWire(EndQuorumEpochRequestMessage m, string topic, int partition, string? clusterId) => new()
    {
        ClusterId = clusterId,
        Topics = [new EndQuorumEpochRequest.EndQuorumEpochTopic { TopicName = topic, Partitions = [new EndQuorumEpochRequest.EndQuorumEpochPartition
        {
            PartitionIndex = partition, LeaderId = m.LeaderId, LeaderEpoch = m.LeaderEpoch,
            PreferredSuccessors = m.PreferredCandidates.Select(c => c.Id).ToList(),
            PreferredCandidates = m.PreferredCandidates.Select(c => new EndQuorumEpochRequest.ReplicaInfo { CandidateId = c.Id, CandidateDirectoryId = c.DirectoryId }).ToList(),
        }] }],
    };

    public static EndQuorumEpochRequestMessage FromWire(EndQuorumEpochRequest r, int source, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        // v0 names successors by id only; v1 by replica key.
        var candidates = p.PreferredCandidates.Count > 0
            ? p.PreferredCandidates.Select(c => new ReplicaKey(c.CandidateId, c.CandidateDirectoryId)).ToList()
            : p.PreferredSuccessors.Select(id => new ReplicaKey(id, Guid.Empty)).ToList();
        return new EndQuorumEpochRequestMessage(p.LeaderId, p.LeaderEpoch, candidates) { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    public static EndQuorumEpochResponse ToWire(EndQuorumEpochResponseMessage m, string topic, int partition) => new()
    {
        Topics = [new EndQuorumEpochResponse.EndQuorumEpochTopicResponse { TopicName = topic, Partitions = [new EndQuorumEpochResponse.EndQuorumEpochPartitionResponse
        {
            PartitionIndex = partition, ErrorCode = m.Error, LeaderId = m.LeaderId, LeaderEpoch = m.LeaderEpoch,
        }] }],
    };

    public static EndQuorumEpochResponseMessage FromWire(EndQuorumEpochResponse r, int source, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        return new EndQuorumEpochResponseMessage(r.ErrorCode != ErrorCode.None ? r.ErrorCode : p.ErrorCode, p.LeaderId, p.LeaderEpoch)
        { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    /// <summary>A follower's fetch: Fetch with ReplicaId, CurrentLeaderEpoch, FetchOffset and LastFetchedEpoch (v12+).</summary>
    public static FetchRequest ToWire(FetchRequestMessage m, string topic, int partition, string? clusterId, int maxBytes) => new()
    {
        ClusterId = clusterId,
        ReplicaId = m.Replica.Id,
        MaxWaitMs = m.MaxWaitMs,
        MinBytes = 1,
        MaxBytes = maxBytes,
        Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition
        {
            Partition = partition, CurrentLeaderEpoch = m.CurrentLeaderEpoch, FetchOffset = m.FetchOffset,
            LastFetchedEpoch = m.LastFetchedEpoch, PartitionMaxBytes = maxBytes,
        }] }],
    };

    public static FetchRequestMessage FromWire(FetchRequest r, Guid replicaDirectoryId, int destination, int correlationId)
    {
        var p = Single(r.Topics, t => t.Partitions);
        return new FetchRequestMessage(new ReplicaKey(r.ReplicaId, replicaDirectoryId), p.CurrentLeaderEpoch, p.FetchOffset, p.LastFetchedEpoch, r.MaxWaitMs)
        { Source = r.ReplicaId, Destination = destination, CorrelationId = correlationId };
    }

    /// <summary>The leader's answer: records as the log's bytes, or a diverging epoch, or (metadata log) a snapshot id.</summary>
    public static FetchResponse ToWire<TRecords>(FetchResponseMessage<TRecords> m, string topic, int partition, Func<TRecords, ReadOnlyMemory<byte>> bytes)
        where TRecords : class
    {
        var p = new FetchResponse.PartitionData
        {
            PartitionIndex = partition, ErrorCode = m.Error, HighWatermark = m.HighWatermark, LogStartOffset = m.LogStartOffset,
            CurrentLeader = new FetchResponse.LeaderIdAndEpoch { LeaderId = m.LeaderId, LeaderEpoch = m.LeaderEpoch },
            // The cast matters: a bare null would convert through byte[] to an EMPTY ReadOnlyMemory, not to no records.
            Records = m.Records is null ? (ReadOnlyMemory<byte>?)null : bytes(m.Records),
        };
        if (m.DivergingEpoch is { } d) p.DivergingEpoch = new FetchResponse.EpochEndOffset { Epoch = d.Epoch, EndOffset = d.Offset };
        if (m.SnapshotId is { } s) p.SnapshotId = new FetchResponse.SnapshotIdData { Epoch = s.Epoch, EndOffset = s.Offset };
        return new FetchResponse { Responses = [new FetchResponse.FetchableTopicResponse { Topic = topic, Partitions = [p] }] };
    }

    public static FetchResponseMessage<TRecords> FromWire<TRecords>(FetchResponse r, int source, int destination, int correlationId,
        Func<ReadOnlyMemory<byte>, TRecords> records) where TRecords : class
    {
        var p = Single(r.Responses, t => t.Partitions);
        OffsetAndEpoch? diverging = p.DivergingEpoch.Epoch >= 0 || p.DivergingEpoch.EndOffset >= 0
            ? new OffsetAndEpoch(p.DivergingEpoch.EndOffset, p.DivergingEpoch.Epoch) : null;
        OffsetAndEpoch? snapshot = p.SnapshotId.Epoch >= 0 || p.SnapshotId.EndOffset >= 0
            ? new OffsetAndEpoch(p.SnapshotId.EndOffset, p.SnapshotId.Epoch) : null;
        var error = r.ErrorCode != ErrorCode.None ? r.ErrorCode : p.ErrorCode;
        return new FetchResponseMessage<TRecords>(error, p.CurrentLeader.LeaderId, p.CurrentLeader.LeaderEpoch, p.HighWatermark,
            p.LogStartOffset, diverging, snapshot, p.Records is { } b ? records(b) : null)
        { Source = source, Destination = destination, CorrelationId = correlationId };
    }

    /// <summary>DescribeQuorum's answer from the leader's description; <paramref name="wallClockMs"/> turns the leader's
    /// monotonic fetch times into the wall-clock timestamps the API reports.</summary>
    public static DescribeQuorumResponse ToWire(RaftQuorumDescription d, string topic, int partition, Func<long, long> wallClockMs)
    {
        DescribeQuorumResponse.ReplicaState State(RaftReplicaState r) => new()
        {
            ReplicaId = r.Key.Id, ReplicaDirectoryId = r.Key.DirectoryId, LogEndOffset = r.LogEndOffset,
            LastFetchTimestamp = r.LastFetchMs < 0 ? -1 : wallClockMs(r.LastFetchMs), LastCaughtUpTimestamp = -1,
        };
        return new DescribeQuorumResponse
        {
            Topics = [new DescribeQuorumResponse.DescribeQuorumTopicResponse { TopicName = topic, Partitions = [new DescribeQuorumResponse.DescribeQuorumPartitionResponse
            {
                PartitionIndex = partition, LeaderId = d.LeaderId, LeaderEpoch = d.LeaderEpoch, HighWatermark = d.HighWatermark,
                CurrentVoters = d.Voters.Select(State).ToList(), Observers = d.Observers.Select(State).ToList(),
            }] }],
        };
    }

    /// <summary>Exactly one partition in exactly one topic: the core serves one log per message; anything else is bad input.</summary>
    private static TPartition Single<TTopic, TPartition>(List<TTopic> topics, Func<TTopic, List<TPartition>> partitions)
    {
        if (topics.Count != 1 || partitions(topics[0]).Count != 1)
            throw new ProtocolException($"a raft message must name one topic partition, got {topics.Count} topics");
        return partitions(topics[0])[0];
    }
}
