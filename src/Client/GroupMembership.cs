using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Client;

/// <summary>Settings of a group member (Kafka's consumer configs of the same names).</summary>
public sealed record GroupOptions
{
    public required string GroupId { get; init; }
    public string? GroupInstanceId { get; init; }
    public int SessionTimeoutMs { get; init; } = 10_000;
    public int RebalanceTimeoutMs { get; init; } = 10_000;
    public int HeartbeatIntervalMs { get; init; } = 1_000;
    public int RetryBackoffMs { get; init; } = 100;
}

/// <summary>
/// The classic group protocol from the member's side, eager rebalancing with the range assignor over one topic
/// (what Kafka's ConsumerCoordinator does): find the coordinator, join (rejoining with the id MEMBER_ID_REQUIRED
/// hands out), the leader assigns, sync, heartbeat; REBALANCE_IN_PROGRESS revokes everything and rejoins;
/// UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION / FENCED_INSTANCE_ID start over. On an assignment it fetches the
/// committed offsets and hands the partitions to the <see cref="Consumer"/>. <see cref="Commit"/> commits
/// under the current generation. The simulator's group workload drives it.
/// </summary>
public sealed class GroupMembership : IClientComponent
{
    private enum Phase { FindCoordinator, Join, Sync, FetchOffsets, Stable, Closed }

    private readonly KafkaClient _client;
    private readonly Consumer _consumer;
    private readonly string _topic;
    private Phase _phase = Phase.FindCoordinator;
    private int _coordinator = -1;
    private bool _inFlight;
    private long _nextActionMs;
    private long _nextHeartbeatMs;
    private byte[] _assignmentBytes = [];
    private int _commitsInFlight;
    private long _pausedUntilMs = long.MinValue;

    public GroupMembership(KafkaClient client, Consumer consumer, string topic, GroupOptions options)
    {
        _client = client;
        _consumer = consumer;
        _topic = topic;
        Options = options;
        client.Register(this);
    }

    public GroupOptions Options { get; }
    public string MemberId { get; private set; } = "";
    public int Generation { get; private set; } = -1;
    public bool IsStable => _phase == Phase.Stable;
    public IReadOnlyList<TopicPartition> Assignment { get; private set; } = [];

    /// <summary>Partitions handed to the consumer for a generation (after their committed offsets were fetched).</summary>
    public Action<int, string, IReadOnlyList<TopicPartition>, IReadOnlyDictionary<TopicPartition, long>>? Assigned { get; set; }

    /// <summary>The assignment is taken away (a rebalance started or membership was lost).</summary>
    public Action<IReadOnlyList<TopicPartition>>? Revoked { get; set; }

    public Action<string>? Note { get; set; }

    public long NextDeadlineMs => _inFlight || _phase == Phase.Closed || (_phase == Phase.Join && _commitsInFlight > 0) ? long.MaxValue
        : Math.Max(_pausedUntilMs, _phase == Phase.Stable ? _nextHeartbeatMs : _nextActionMs);

    /// <summary>The process stalls (a long GC, SIGSTOP): no heartbeat, join or sync is sent until then; the
    /// session may expire meanwhile. Requests already sent still complete.</summary>
    public void PauseUntil(long monotonicMs) => _pausedUntilMs = monotonicMs;

    public bool IsPaused => _client.Clock.MonotonicMs < _pausedUntilMs;

    public void Poll(long nowMs)
    {
        if (_inFlight || _phase == Phase.Closed || nowMs < _pausedUntilMs) return;
        switch (_phase)
        {
            case Phase.FindCoordinator:
                if (nowMs >= _nextActionMs) FindCoordinator();
                break;
            case Phase.Join:
                // Like Kafka's onJoinPrepare: commits under the old generation finish before the member rejoins.
                if (nowMs >= _nextActionMs && _commitsInFlight == 0) Join();
                break;
            case Phase.Stable:
                if (nowMs >= _nextHeartbeatMs) Heartbeat();
                break;
        }
    }

    private bool ReadyCoordinator()
    {
        if (_coordinator < 0 || _client.Metadata.AddressOf(_coordinator) is null)
        {
            Restart("no coordinator");
            return false;
        }
        return _client.Ready(_coordinator);
    }

    private void Backoff(Phase phase)
    {
        _phase = phase;
        _nextActionMs = _client.Clock.MonotonicMs + Options.RetryBackoffMs;
    }

    private void Restart(string why, bool resetMember = false)
    {
        RevokeAll();
        if (resetMember)
        {
            MemberId = "";
            Generation = -1;
        }
        Note?.Invoke("group restart: " + why);
        Backoff(Phase.FindCoordinator);
    }

    private void RevokeAll()
    {
        if (Assignment.Count == 0) return;
        var revoked = Assignment;
        Assignment = [];
        _consumer.Assign([]);
        Revoked?.Invoke(revoked);
    }

    private void FindCoordinator()
    {
        int node = _client.Metadata.LeaderFor(new TopicPartition(_topic, 0));
        if (node < 0)
        {
            _client.RequestMetadataUpdate();
            Backoff(Phase.FindCoordinator);
            return;
        }
        if (!_client.Ready(node))
        {
            Backoff(Phase.FindCoordinator);
            return;
        }
        _inFlight = true;
        short? v = _client.VersionFor(node, ApiKey.FindCoordinator);
        var request = v >= 4
            ? new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = [Options.GroupId] }
            : new FindCoordinatorRequest { Key = Options.GroupId };
        _client.Send(node, ApiKey.FindCoordinator, request, r =>
        {
            _inFlight = false;
            if (_phase == Phase.Closed) return;
            if (r.Body is not FindCoordinatorResponse f)
            {
                Backoff(Phase.FindCoordinator);
                return;
            }
            var (error, id) = r.Version >= 4 && f.Coordinators.Count == 1
                ? (f.Coordinators[0].ErrorCode, f.Coordinators[0].NodeId) : (f.ErrorCode, f.NodeId);
            if (error != ErrorCode.None)
            {
                Backoff(Phase.FindCoordinator);
                return;
            }
            _coordinator = id;
            _phase = Phase.Join;
            _nextActionMs = _client.Clock.MonotonicMs;
        });
    }

    private static byte[] Subscription(string topic)
    {
        using var w = new KafkaWriter(64);
        w.WriteInt16(0);
        w.WriteArrayLength(1, false);
        w.WriteString(topic, false);
        w.WriteInt32(-1); // user data: null
        return w.ToArray();
    }

    private static byte[] AssignmentBytes(string topic, IReadOnlyList<int> partitions)
    {
        using var w = new KafkaWriter(64);
        w.WriteInt16(0);
        w.WriteArrayLength(1, false);
        w.WriteString(topic, false);
        w.WriteArrayLength(partitions.Count, false);
        foreach (int p in partitions) w.WriteInt32(p);
        w.WriteInt32(-1);
        return w.ToArray();
    }

    private static List<int> ParseAssignment(byte[] bytes, string topic)
    {
        var result = new List<int>();
        if (bytes.Length == 0) return result;
        var r = new KafkaReader(bytes);
        r.ReadInt16();
        int topics = r.ReadArrayCount(false);
        for (int i = 0; i < topics; i++)
        {
            string name = r.ReadString(false);
            int n = r.ReadArrayCount(false);
            for (int j = 0; j < n; j++)
            {
                int p = r.ReadInt32();
                if (name == topic) result.Add(p);
            }
        }
        return result;
    }

    private void Join()
    {
        if (!ReadyCoordinator())
        {
            if (_phase == Phase.Join) Backoff(Phase.Join);
            return;
        }
        RevokeAll(); // eager protocol: give everything up before joining
        _inFlight = true;
        var request = new JoinGroupRequest
        {
            GroupId = Options.GroupId,
            SessionTimeoutMs = Options.SessionTimeoutMs,
            RebalanceTimeoutMs = Options.RebalanceTimeoutMs,
            MemberId = MemberId,
            GroupInstanceId = Options.GroupInstanceId,
            ProtocolType = "consumer",
            Protocols = [new() { Name = "range", Metadata = Subscription(_topic) }],
        };
        _client.Send(_coordinator, ApiKey.JoinGroup, request, r =>
        {
            _inFlight = false;
            if (_phase == Phase.Closed) return;
            if (r.Body is not JoinGroupResponse j)
            {
                Restart("join " + r.Status);
                return;
            }
            switch (j.ErrorCode)
            {
                case ErrorCode.None:
                    MemberId = j.MemberId;
                    Generation = j.GenerationId;
                    Sync(j);
                    return;
                case ErrorCode.MemberIdRequired:
                    MemberId = j.MemberId;
                    _phase = Phase.Join;
                    _nextActionMs = _client.Clock.MonotonicMs;
                    return;
                case ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.FencedInstanceId:
                    Restart("join " + j.ErrorCode, resetMember: true);
                    return;
                case ErrorCode.NotCoordinator or ErrorCode.CoordinatorNotAvailable or ErrorCode.CoordinatorLoadInProgress:
                    Restart("join " + j.ErrorCode);
                    return;
                default:
                    Backoff(Phase.Join);
                    return;
            }
        });
    }

    /// <summary>The range assignor: partitions in order, members by id, each a contiguous range.</summary>
    private static List<(string Member, byte[] Assignment)> RangeAssign(string topic, int partitions, IEnumerable<string> members)
    {
        var ids = members.OrderBy(m => m, StringComparer.Ordinal).ToList();
        var result = new List<(string, byte[])>();
        int per = partitions / ids.Count, extra = partitions % ids.Count, next = 0;
        for (int i = 0; i < ids.Count; i++)
        {
            int n = per + (i < extra ? 1 : 0);
            result.Add((ids[i], AssignmentBytes(topic, Enumerable.Range(next, n).ToList())));
            next += n;
        }
        return result;
    }

    private void Sync(JoinGroupResponse joined)
    {
        _phase = Phase.Sync;
        var request = new SyncGroupRequest
        {
            GroupId = Options.GroupId,
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            GroupInstanceId = Options.GroupInstanceId,
            ProtocolType = "consumer",
            ProtocolName = joined.ProtocolName,
        };
        if (joined.Leader == joined.MemberId)
        {
            int partitions = _client.Metadata.PartitionCount(_topic);
            foreach (var (member, bytes) in RangeAssign(_topic, Math.Max(0, partitions), joined.Members.Select(m => m.MemberId)))
                request.Assignments.Add(new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = member, Assignment = bytes });
        }
        if (!_client.Ready(_coordinator))
        {
            Restart("coordinator not ready for sync");
            return;
        }
        _inFlight = true;
        int generation = joined.GenerationId;
        _client.Send(_coordinator, ApiKey.SyncGroup, request, r =>
        {
            _inFlight = false;
            if (_phase == Phase.Closed) return;
            if (r.Body is not SyncGroupResponse s)
            {
                Restart("sync " + r.Status);
                return;
            }
            if (s.ErrorCode is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.FencedInstanceId)
            {
                Restart("sync " + s.ErrorCode, resetMember: true);
                return;
            }
            if (s.ErrorCode != ErrorCode.None)
            {
                Backoff(Phase.Join);
                return;
            }
            _assignmentBytes = s.Assignment.ToArray();
            FetchOffsets(generation);
        });
    }

    private void FetchOffsets(int generation)
    {
        _phase = Phase.FetchOffsets;
        var partitions = ParseAssignment(_assignmentBytes, _topic);
        if (!_client.Ready(_coordinator))
        {
            Restart("coordinator not ready for offset fetch");
            return;
        }
        _inFlight = true;
        var request = new OffsetFetchRequest
        {
            GroupId = Options.GroupId,
            Topics = [new() { Name = _topic, PartitionIndexes = partitions }],
            Groups = [new() { GroupId = Options.GroupId, Topics = [new() { Name = _topic, PartitionIndexes = partitions }] }],
        };
        _client.Send(_coordinator, ApiKey.OffsetFetch, request, r =>
        {
            _inFlight = false;
            if (_phase == Phase.Closed) return;
            if (r.Body is not OffsetFetchResponse f || generation != Generation)
            {
                Restart("offset fetch " + r.Status);
                return;
            }
            var starts = new SortedDictionary<TopicPartition, long>(TopicPartitionComparer.Instance);
            var error = r.Version >= 8 ? (f.Groups.Count == 1 ? f.Groups[0].ErrorCode : ErrorCode.UnknownServerError) : f.ErrorCode;
            if (r.Version >= 8)
            {
                foreach (var t in f.Groups.SelectMany(g => g.Topics))
                    foreach (var p in t.Partitions)
                    {
                        if (p.ErrorCode != ErrorCode.None) error = p.ErrorCode;
                        if (p.CommittedOffset >= 0) starts[new TopicPartition(t.Name, p.PartitionIndex)] = p.CommittedOffset;
                    }
            }
            else
            {
                foreach (var t in f.Topics)
                    foreach (var p in t.Partitions)
                    {
                        if (p.ErrorCode != ErrorCode.None) error = p.ErrorCode;
                        if (p.CommittedOffset >= 0) starts[new TopicPartition(t.Name, p.PartitionIndex)] = p.CommittedOffset;
                    }
            }
            if (error != ErrorCode.None)
            {
                Restart("offset fetch " + error);
                return;
            }
            var assigned = partitions.Select(p => new TopicPartition(_topic, p)).ToList();
            Assignment = assigned;
            _consumer.Assign(assigned, starts);
            _phase = Phase.Stable;
            _nextHeartbeatMs = _client.Clock.MonotonicMs + Options.HeartbeatIntervalMs;
            Assigned?.Invoke(Generation, MemberId, assigned, starts);
        });
    }

    private void Heartbeat()
    {
        if (!ReadyCoordinator())
        {
            _nextHeartbeatMs = _client.Clock.MonotonicMs + Options.RetryBackoffMs;
            return;
        }
        _inFlight = true;
        int generation = Generation;
        _client.Send(_coordinator, ApiKey.Heartbeat, new HeartbeatRequest
        {
            GroupId = Options.GroupId,
            GenerationId = Generation,
            MemberId = MemberId,
            GroupInstanceId = Options.GroupInstanceId,
        }, r =>
        {
            _inFlight = false;
            if (_phase != Phase.Stable || generation != Generation) return;
            var error = r.Body is HeartbeatResponse h ? h.ErrorCode : ErrorCode.NetworkException;
            switch (error)
            {
                case ErrorCode.None:
                    _nextHeartbeatMs = _client.Clock.MonotonicMs + Options.HeartbeatIntervalMs;
                    return;
                case ErrorCode.RebalanceInProgress:
                    RevokeAll();
                    _phase = Phase.Join;
                    _nextActionMs = _client.Clock.MonotonicMs;
                    return;
                case ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.FencedInstanceId:
                    Restart("heartbeat " + error, resetMember: true);
                    return;
                case ErrorCode.NetworkException:
                    _nextHeartbeatMs = _client.Clock.MonotonicMs + Options.RetryBackoffMs;
                    return;
                default:
                    Restart("heartbeat " + error);
                    return;
            }
        });
    }

    /// <summary>Commits offsets under the current generation; the callback gets the first error (None when every
    /// partition was committed). False when no commit can be sent now (not stable, coordinator not ready).</summary>
    public bool Commit(IReadOnlyDictionary<TopicPartition, long> offsets, Action<ErrorCode> done)
    {
        if (_phase != Phase.Stable || _coordinator < 0 || !_client.Ready(_coordinator)) return false;
        var request = new OffsetCommitRequest
        {
            GroupId = Options.GroupId,
            GenerationId = Generation,
            MemberId = MemberId,
            GroupInstanceId = Options.GroupInstanceId,
        };
        foreach (var g in offsets.GroupBy(kv => kv.Key.Topic))
            request.Topics.Add(new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = g.Key,
                Partitions = g.Select(kv => new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = kv.Key.Partition, CommittedOffset = kv.Value }).ToList(),
            });
        _commitsInFlight++;
        _client.Send(_coordinator, ApiKey.OffsetCommit, request, r =>
        {
            _commitsInFlight--;
            if (_phase == Phase.Join && _commitsInFlight == 0) _nextActionMs = Math.Min(_nextActionMs, _client.Clock.MonotonicMs);
            if (r.Body is not OffsetCommitResponse c)
            {
                done(ErrorCode.NetworkException);
                return;
            }
            var error = c.Topics.SelectMany(t => t.Partitions).Select(p => p.ErrorCode).FirstOrDefault(e => e != ErrorCode.None);
            if (error is ErrorCode.RebalanceInProgress or ErrorCode.IllegalGeneration or ErrorCode.UnknownMemberId && _phase == Phase.Stable)
            {
                if (error == ErrorCode.RebalanceInProgress)
                {
                    RevokeAll();
                    _phase = Phase.Join;
                    _nextActionMs = _client.Clock.MonotonicMs;
                }
                else Restart("commit " + error, resetMember: true);
            }
            done(error);
        });
        return true;
    }

    /// <summary>Leaves the group (best effort) and stops.</summary>
    public void Close()
    {
        if (_phase == Phase.Closed) return;
        if (MemberId.Length > 0 && _coordinator >= 0 && _client.Ready(_coordinator))
            _client.Send(_coordinator, ApiKey.LeaveGroup, new LeaveGroupRequest
            {
                GroupId = Options.GroupId,
                MemberId = MemberId,
                Members = [new() { MemberId = MemberId, GroupInstanceId = Options.GroupInstanceId }],
            }, _ => { });
        RevokeAll();
        _phase = Phase.Closed;
    }
}
