using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Raft;

/// <summary>
/// The broker side of one <see cref="RaftReplica{TRecords}"/>: wire requests in (decoded by the handlers of APIs 52-54
/// and Fetch), <see cref="RaftWire"/> to the core's messages, the core's outbox out. A request the core sends goes
/// through the <see cref="IRaftTransport"/>; its answer comes back as the core's message with the core's correlation
/// id. A request from a peer waits, keyed by (source, id), until the core emits the answer that echoes it; a Fetch
/// the core parks waits longer. Waiting is bounded: a newer Fetch from the same replica supersedes the older (the
/// core keeps one parked fetch per replica), and anything the core never answers (a parked fetch dropped when
/// leadership moved, a message it ignored) is answered with an error at its deadline, so a peer's connection, whose
/// answers go out in request order, never stalls behind it.
/// </summary>
public sealed class RaftEndpoint<TRecords> : IRaftEndpoint where TRecords : class
{
    private const int WaitingMax = 1024;

    private readonly IRaftTransport _transport;
    private readonly Func<TRecords, ReadOnlyMemory<byte>> _toBytes;
    private readonly Func<ReadOnlyMemory<byte>, TRecords> _fromBytes;
    private readonly IRaftDriver<TRecords> _driver;
    private readonly Func<int, Guid> _directoryIdOf;
    private readonly IBrokerLog _log;
    private readonly IClock _clock;
    private readonly string? _clusterId;
    private readonly int _maxFetchBytes;
    private readonly int _answerTimeoutMs;
    private readonly List<RaftMessage> _drained = new();
    private readonly Dictionary<(int Source, int Id), Waiting> _waiting = new();
    private readonly Dictionary<int, int> _fetchWaitingBySource = new();
    private int _nextIncomingId = 1;
    private bool _flushing;
    private long _now;

    private sealed record Waiting(ApiKey Key, long DeadlineMs, Action<RaftMessage?> Answer);

    /// <summary>The metadata log's endpoint: the bare core, its log's and quorum-state store's sync tokens, static
    /// voters' directory ids.</summary>
    public RaftEndpoint(TopicPartition topicPartition, RaftReplica<TRecords> replica, IRaftTransport transport,
        Func<TRecords, ReadOnlyMemory<byte>> toBytes, Func<ReadOnlyMemory<byte>, TRecords> fromBytes,
        Func<long, DiskStatus, bool> logSync, DiskQuorumStateStore store, IBrokerLog log, IClock clock, string? clusterId,
        int maxFetchBytes, int answerTimeoutMs)
        : this(topicPartition, new RaftReplicaDriver<TRecords>(replica, logSync, store), transport, toBytes, fromBytes,
            DiskQuorumStateStore.StaticVoterDirectoryId, log, clock, clusterId, maxFetchBytes, answerTimeoutMs)
    {
    }

    /// <summary>An endpoint over any driver (a data partition's replica). <paramref name="directoryIdOf"/> names a
    /// fetching replica's directory id (Fetch v12 cannot carry it: derived from its node id as its voter key is).</summary>
    public RaftEndpoint(TopicPartition topicPartition, IRaftDriver<TRecords> driver, IRaftTransport transport,
        Func<TRecords, ReadOnlyMemory<byte>> toBytes, Func<ReadOnlyMemory<byte>, TRecords> fromBytes,
        Func<int, Guid> directoryIdOf, IBrokerLog log, IClock clock, string? clusterId, int maxFetchBytes, int answerTimeoutMs)
    {
        TopicPartition = topicPartition;
        _driver = driver;
        _transport = transport;
        _toBytes = toBytes;
        _fromBytes = fromBytes;
        _directoryIdOf = directoryIdOf;
        _log = log;
        _clock = clock;
        _clusterId = clusterId;
        _maxFetchBytes = maxFetchBytes;
        _answerTimeoutMs = answerTimeoutMs;
    }

    public TopicPartition TopicPartition { get; }
    public RaftReplica<TRecords> Replica => _driver.Core;
    public RaftRole Role => Replica.Role;
    public int Epoch => Replica.Epoch;
    public int LeaderId => Replica.Role == RaftRole.Leader ? Replica.Self.Id : Replica.Role == RaftRole.Follower ? Replica.LeaderId : -1;
    public long HighWatermark => Replica.HighWatermark;
    public int WaitingCount => _waiting.Count;

    public long NextDeadlineMs
    {
        get
        {
            long d = _driver.NextDeadlineMs;
            foreach (var w in _waiting.Values) d = Math.Min(d, w.DeadlineMs);
            return d;
        }
    }

    private string Topic => TopicPartition.Topic;
    private int Partition => TopicPartition.Partition;

    // ---- inputs ----------------------------------------------------------------------------------------------------

    public void Poll(long nowMs)
    {
        Advance(nowMs);
        _driver.Poll(nowMs);
        ExpireWaiting();
        Flush();
    }

    /// <summary>An input to the driver that is not a message (a produce at a partition's leader, a log sync the log
    /// manager took first), then what it emitted leaves.</summary>
    public T Drive<T>(long nowMs, Func<long, T> input)
    {
        Advance(nowMs);
        var result = input(_now);
        Flush();
        return result;
    }

    /// <summary>A state machine's proposal (the metadata controller's records): the first offset, or -1 when not leader.</summary>
    public long Propose(TRecords records, long nowMs)
    {
        Advance(nowMs);
        long offset = Replica.Propose(records, nowMs);
        Flush();
        return offset;
    }

    public void OnVote(VoteRequest request, Action<VoteResponse> respond, long nowMs)
    {
        Advance(nowMs);
        var m = RaftWire.FromWire(request, -1, Replica.Self.Id, 0);
        Incoming(m with { Source = m.Candidate.Id }, ApiKey.Vote, answer => respond(answer is VoteResponseMessage r
            ? RaftWire.ToWire(r, Topic, Partition)
            : RaftWire.ToWire(new VoteResponseMessage(ErrorCode.RequestTimedOut, LeaderId, Epoch, false), Topic, Partition)));
    }

    public void OnBeginQuorumEpoch(BeginQuorumEpochRequest request, Action<BeginQuorumEpochResponse> respond, long nowMs)
    {
        Advance(nowMs);
        var m = RaftWire.FromWire(request, -1, Replica.Self.Id, 0);
        Incoming(m with { Source = m.LeaderId }, ApiKey.BeginQuorumEpoch, answer => respond(answer is BeginQuorumEpochResponseMessage r
            ? RaftWire.ToWire(r, Topic, Partition)
            : RaftWire.ToWire(new BeginQuorumEpochResponseMessage(ErrorCode.RequestTimedOut, LeaderId, Epoch), Topic, Partition)));
    }

    public void OnEndQuorumEpoch(EndQuorumEpochRequest request, Action<EndQuorumEpochResponse> respond, long nowMs)
    {
        Advance(nowMs);
        var m = RaftWire.FromWire(request, -1, Replica.Self.Id, 0);
        Incoming(m with { Source = m.LeaderId }, ApiKey.EndQuorumEpoch, answer => respond(answer is EndQuorumEpochResponseMessage r
            ? RaftWire.ToWire(r, Topic, Partition)
            : RaftWire.ToWire(new EndQuorumEpochResponseMessage(ErrorCode.RequestTimedOut, LeaderId, Epoch), Topic, Partition)));
    }

    public void OnFetch(FetchRequest request, Action<FetchResponse> respond, long nowMs)
    {
        Advance(nowMs);
        // Fetch v12 cannot carry the fetcher's directory id (RaftWire): static voters' ids are derived from node ids.
        var m = RaftWire.FromWire(request, _directoryIdOf(request.ReplicaId), Replica.Self.Id, 0);
        if (_fetchWaitingBySource.Remove(m.Source, out int older) && _waiting.Remove((m.Source, older), out var superseded))
            superseded.Answer(null); // the fetcher has moved on; the core keeps only the newer one parked
        int id = Incoming(m, ApiKey.Fetch, answer => respond(answer is FetchResponseMessage<TRecords> r
            ? RaftWire.ToWire(r, Topic, Partition, _toBytes)
            : RaftWire.ToWire(new FetchResponseMessage<TRecords>(ErrorCode.NotLeaderOrFollower, LeaderId, Epoch, Replica.HighWatermark,
                0, null, null, null), Topic, Partition, _toBytes)), extraWaitMs: Math.Max(0, request.MaxWaitMs));
        if (_waiting.ContainsKey((m.Source, id))) _fetchWaitingBySource[m.Source] = id;
    }

    public DescribeQuorumResponse.DescribeQuorumPartitionResponse Describe(Func<long, long> wallClockMs)
    {
        if (Replica.Describe() is not { } d)
            return new DescribeQuorumResponse.DescribeQuorumPartitionResponse
            {
                PartitionIndex = Partition, ErrorCode = ErrorCode.NotLeaderOrFollower, LeaderId = LeaderId, LeaderEpoch = Epoch, HighWatermark = HighWatermark,
            };
        return RaftWire.ToWire(d, Topic, Partition, wallClockMs).Topics[0].Partitions[0];
    }

    public bool OnSyncCompleted(long token, DiskStatus status, long nowMs)
    {
        Advance(nowMs);
        if (!_driver.OnSyncCompleted(token, status, _now)) return false;
        Flush();
        return true;
    }

    // ---- plumbing --------------------------------------------------------------------------------------------------

    private void Advance(long nowMs) => _now = Math.Max(_now, nowMs);

    private int Incoming(RaftMessage message, ApiKey key, Action<RaftMessage?> answer, int extraWaitMs = 0)
    {
        if (_waiting.Count >= WaitingMax)
        {
            _log.Warn("Raft {TopicPartition}: {Count} requests waiting; refusing one from node {Source}", TopicPartition, _waiting.Count, message.Source);
            answer(null);
            return 0;
        }
        int id = _nextIncomingId++;
        if (_nextIncomingId == int.MaxValue) _nextIncomingId = 1;
        _waiting[(message.Source, id)] = new Waiting(key, _now + extraWaitMs + _answerTimeoutMs, answer);
        _driver.OnMessage(message with { Destination = Replica.Self.Id, CorrelationId = id }, _now);
        Flush();
        return id;
    }

    private void ExpireWaiting()
    {
        List<(int, int)>? expired = null;
        foreach (var (key, w) in _waiting)
            if (w.DeadlineMs <= _now) (expired ??= new()).Add(key);
        if (expired is null) return;
        expired.Sort();
        foreach (var key in expired)
        {
            _waiting.Remove(key, out var w);
            if (w!.Key == ApiKey.Fetch && _fetchWaitingBySource.TryGetValue(key.Item1, out int f) && f == key.Item2) _fetchWaitingBySource.Remove(key.Item1);
            w.Answer(null);
        }
    }

    /// <summary>Sends what the core emitted: requests to peers, answers to the requests waiting for them. Not
    /// re-entrant: an answer that arrives synchronously feeds the core, and the loop picks up what that emits.</summary>
    private void Flush()
    {
        if (_flushing) return;
        _flushing = true;
        try
        {
            for (int round = 0; ; round++)
            {
                Check.That(round < 10_000, "a raft flush ends");
                _drained.Clear();
                _driver.DrainOutbox(_drained);
                if (_drained.Count == 0) return;
                var batch = _drained.ToArray();
                foreach (var m in batch) Emit(m);
            }
        }
        finally { _flushing = false; }
    }

    private void Emit(RaftMessage m)
    {
        _log.Debug("raft out {TopicPartition} {Message}", TopicPartition, m);
        switch (m)
        {
            case VoteRequestMessage r:
                Send(r, ApiKey.Vote, RaftWire.ToWire(r, Topic, Partition, _clusterId),
                    b => RaftWire.FromWire((VoteResponse)b, r.Destination, r.Source, r.CorrelationId));
                break;
            case BeginQuorumEpochRequestMessage r:
                Send(r, ApiKey.BeginQuorumEpoch, RaftWire.ToWire(r, Topic, Partition, _clusterId),
                    b => RaftWire.FromWire((BeginQuorumEpochResponse)b, r.Destination, r.Source, r.CorrelationId));
                break;
            case EndQuorumEpochRequestMessage r:
                Send(r, ApiKey.EndQuorumEpoch, RaftWire.ToWire(r, Topic, Partition, _clusterId),
                    b => RaftWire.FromWire((EndQuorumEpochResponse)b, r.Destination, r.Source, r.CorrelationId));
                break;
            case FetchRequestMessage r:
                Send(r, ApiKey.Fetch, RaftWire.ToWire(r, Topic, Partition, _clusterId, _maxFetchBytes),
                    b => RaftWire.FromWire((FetchResponse)b, r.Destination, r.Source, r.CorrelationId, _fromBytes));
                break;
            default:
                // An answer: to the waiting request it echoes (gone when it expired or was superseded: dropped).
                if (_waiting.Remove((m.Destination, m.CorrelationId), out var w))
                {
                    if (w.Key == ApiKey.Fetch && _fetchWaitingBySource.TryGetValue(m.Destination, out int f) && f == m.CorrelationId)
                        _fetchWaitingBySource.Remove(m.Destination);
                    w.Answer(m);
                }
                break;
        }
    }

    private void Send(RaftMessage request, ApiKey key, IKafkaMessage body, Func<IKafkaMessage, RaftMessage> decode)
    {
        // Not connected yet: dropped, and the core sends again after its request timeout.
        bool sent = _transport.TrySend(request.Destination, key, body, answer =>
        {
            if (answer is null) return; // lost: the core's timers resend
            RaftMessage decoded;
            try
            {
                decoded = decode(answer);
            }
            catch (ProtocolException e)
            {
                _log.Warn("Raft {TopicPartition}: a bad {ApiKey} answer from node {Node} is ignored: {Reason}", TopicPartition, key, request.Destination, e.Message);
                return;
            }
            Advance(_clock.MonotonicMs);
            _log.Debug("raft in {TopicPartition} {Message}", TopicPartition, decoded);
            _driver.OnMessage(decoded, _now);
            Flush();
        });
    }
}
