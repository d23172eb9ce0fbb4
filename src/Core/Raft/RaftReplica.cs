using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Raft;

/// <summary>
/// One replica of a replicated log: KRaft (KIP-595, with KIP-996's pre-vote and KIP-853's replica keys) as a step
/// function, driven like BrokerNode. Inputs, one at a time: <see cref="OnMessage"/> (a decoded Vote, BeginQuorumEpoch,
/// EndQuorumEpoch or Fetch request or response), <see cref="OnLogSynced"/>, <see cref="OnQuorumStateSynced"/>,
/// <see cref="Poll"/> at <see cref="NextDeadlineMs"/>, and <see cref="Propose"/> from the state machine above. Outputs
/// are data: messages to node ids (<see cref="DrainOutbox"/>), and writes and sync requests on the two disk doors
/// (<see cref="IRaftLog{TRecords}"/>, <see cref="IQuorumStateStore"/>). Time is the driver's monotonic clock in ms;
/// randomness is the seeded <see cref="IRandom"/>. REPLICATION.md describes the protocol and its invariants.
/// </summary>
public sealed class RaftReplica<TRecords> where TRecords : class
{
    private const long Never = long.MaxValue;

    private readonly VoterSet _voters;
    private readonly IRaftLog<TRecords> _log;
    private readonly IQuorumStateStore _store;
    private readonly IRandom _random;
    private readonly RaftConfig _config;
    private readonly RaftPlantedBugs _bugs;
    private readonly IRaftSnapshotHook? _snapshotHook;

    private readonly List<RaftMessage> _outbox = new();
    private readonly List<RaftMessage> _held = new();
    private int _stateWritesInFlight;
    private QuorumStateData _state;
    private long _now;
    private int _nextCorrelation = 1;

    private long _highWatermark;
    private long _electionDeadline = Never;

    // Follower
    private long _lastLeaderContactMs = long.MinValue / 2;
    private long _fetchDeadline = Never;
    private int _fetchCorrelation;
    private long _fetchResendAt = Never;
    private bool _fetchWaitingForSync;
    private int _discoveryTarget = -1;

    // Prospective / Candidate
    private readonly Dictionary<int, int> _voteCorrelation = new();
    private readonly HashSet<int> _granted = new();
    private readonly HashSet<int> _rejected = new();
    private long _voteResendAt = Never;

    // Leader
    private sealed class ReplicaProgress
    {
        public ReplicaKey Key;
        public long SyncedEnd = -1;
        public long LastFetchMs = long.MinValue / 2;
        public FetchRequestMessage? Parked;
        public long ParkedUntil = Never;
        public long HighWatermarkSent = -1;
        public bool BeganEpoch;
    }
    private readonly Dictionary<int, ReplicaProgress> _progress = new();
    private long _epochStartOffset = -1;
    private long _becameLeaderMs;
    private long _beginResendAt = Never;
    private long _parkedDeadline = Never;

    public RaftReplica(int nodeId, VoterSet voters, IRaftLog<TRecords> log, IQuorumStateStore store, IRandom random,
        RaftConfig config, long nowMs, RaftPlantedBugs plantedBugs = RaftPlantedBugs.None, IRaftSnapshotHook? snapshotHook = null)
    {
        _voters = voters;
        _log = log;
        _store = store;
        _random = random;
        _config = config;
        _bugs = plantedBugs;
        _snapshotHook = snapshotHook;
        _now = nowMs;
        // Correlation ids start at a random point so a restarted replica never takes an answer to its previous
        // incarnation's request for one to its own (the simulator found the simulator's own bookkeeping confused by it).
        _nextCorrelation = 1 + (int)random.NextBelow(1 << 30);
        var stored = store.Read();
        if (stored is { } s)
        {
            _state = s;
        }
        else
        {
            // An empty disk: a new replica with a new directory id (KIP-853). It is not the voter whose log was lost.
            Guid dir = random.NextUuid();
            if ((_bugs & RaftPlantedBugs.EmptyDiskVotesAsOldSelf) != 0 && voters.TryGet(nodeId, out var old)) dir = old.DirectoryId;
            _state = new QuorumStateData(0, QuorumStateData.NoId, Guid.Empty, QuorumStateData.NoId, dir);
            WriteState(_state);
        }
        Self = new ReplicaKey(nodeId, _state.DirectoryId);
        IsVoter = voters.IsVoter(Self);
        _highWatermark = Math.Max(0, _log.LogStartOffset);
        if (_state.LeaderId == nodeId)
        {
            // It led this epoch before the restart; it cannot lead it again (its appends may be gone).
            Role = RaftRole.Resigned;
            ResetElectionTimer(_config.ElectionTimeoutMs);
        }
        else if (_state.LeaderId >= 0)
        {
            BecomeFollower(_state.Epoch, _state.LeaderId, persist: false);
        }
        else
        {
            Role = RaftRole.Unattached;
            ResetElectionTimer(_config.ElectionTimeoutMs);
        }
        Check.That(_log.LogEndOffset >= _log.LogStartOffset);
    }

    public ReplicaKey Self { get; }
    public bool IsVoter { get; }
    public RaftRole Role { get; private set; }
    public int Epoch => _state.Epoch;
    public int LeaderId => _state.LeaderId;
    public int VotedId => _state.VotedId;
    public QuorumStateData QuorumState => _state;
    /// <summary>The commit index: everything below it is on a majority of voters' disks.</summary>
    public long HighWatermark => _highWatermark;
    public long EpochStartOffset => _epochStartOffset;
    public bool QuorumStateDurable => _stateWritesInFlight == 0;
    public int OutboxCount => _outbox.Count;

    /// <summary>When the driver must call <see cref="Poll"/> next.</summary>
    public long NextDeadlineMs
    {
        get
        {
            long d = _electionDeadline;
            d = Math.Min(d, _fetchDeadline);
            d = Math.Min(d, _fetchResendAt);
            d = Math.Min(d, _voteResendAt);
            d = Math.Min(d, _beginResendAt);
            d = Math.Min(d, _parkedDeadline);
            if (Role == RaftRole.Leader) d = Math.Min(d, CheckQuorumDeadline());
            return d;
        }
    }

    /// <summary>Moves the messages ready to leave into <paramref name="into"/>.</summary>
    public void DrainOutbox(List<RaftMessage> into)
    {
        into.AddRange(_outbox);
        _outbox.Clear();
    }

    // ---- inputs ------------------------------------------------------------------------------------------------

    public void Poll(long nowMs)
    {
        Advance(nowMs);
        if (_now >= _electionDeadline) OnElectionTimeout();
        if (_now >= _fetchDeadline) OnFetchTimeout();
        if (_now >= _voteResendAt) SendVoteRequests(onlyMissing: true);
        if (_now >= _fetchResendAt) { _fetchCorrelation = 0; _fetchResendAt = Never; MaybeSendFetch(); }
        if (Role == RaftRole.Leader && _now >= _beginResendAt) SendBeginQuorumEpoch();
        if (_now >= _parkedDeadline) AnswerParkedFetches(expiredOnly: true);
        if (Role == RaftRole.Leader && _now >= CheckQuorumDeadline()) Resign();
    }

    /// <summary>The quorum-state write issued earliest is durable; messages held for it may leave.</summary>
    public void OnQuorumStateSynced(long nowMs)
    {
        Advance(nowMs);
        Check.That(_stateWritesInFlight > 0);
        _stateWritesInFlight--;
        if (_stateWritesInFlight == 0)
        {
            _outbox.AddRange(_held);
            _held.Clear();
        }
    }

    /// <summary>The log's sync finished: a follower may now report its end offset; a leader may move the high watermark.</summary>
    public void OnLogSynced(long nowMs)
    {
        Advance(nowMs);
        if (_log.SyncedEndOffset < _log.LogEndOffset && !_log.SyncInFlight) _log.RequestSync();
        if (Role == RaftRole.Leader) MaybeAdvanceHighWatermark();
        else if (Role == RaftRole.Follower && _fetchWaitingForSync) MaybeSendFetch();
    }

    /// <summary>A state machine's proposal: appended as leader in the current epoch. Returns its first offset, or
    /// -1 when this replica is not the leader (the caller answers NOT_LEADER_OR_FOLLOWER).</summary>
    public long Propose(TRecords records, long nowMs)
    {
        Advance(nowMs);
        if (Role != RaftRole.Leader) return -1;
        long offset = _log.AppendAsLeader(records, _state.Epoch);
        if (!_log.SyncInFlight) _log.RequestSync();
        AnswerParkedFetches(expiredOnly: false);
        return offset;
    }

    public void OnMessage(RaftMessage message, long nowMs)
    {
        Advance(nowMs);
        Check.That(message.Destination == Self.Id);
        switch (message)
        {
            case VoteRequestMessage m: HandleVoteRequest(m); break;
            case VoteResponseMessage m: HandleVoteResponse(m); break;
            case BeginQuorumEpochRequestMessage m: HandleBeginQuorumEpoch(m); break;
            case BeginQuorumEpochResponseMessage m: MaybeLearnEpoch(m.LeaderEpoch, m.LeaderId); break;
            case EndQuorumEpochRequestMessage m: HandleEndQuorumEpoch(m); break;
            case EndQuorumEpochResponseMessage m: MaybeLearnEpoch(m.LeaderEpoch, m.LeaderId); break;
            case FetchRequestMessage m: HandleFetchRequest(m); break;
            case FetchResponseMessage<TRecords> m: HandleFetchResponse(m); break;
            default: Check.Fail("unknown raft message " + message.GetType().Name); break;
        }
    }

    /// <summary>What DescribeQuorum answers (only the leader knows the replicas' progress; elsewhere the caller answers
    /// NOT_LEADER_OR_FOLLOWER). Log end offsets are the synced ends the replicas fetched with (-1 unknown); fetch times
    /// are this replica's monotonic clock in ms (-1 unknown): a handler converts them to wall-clock time.</summary>
    public RaftQuorumDescription? Describe()
    {
        if (Role != RaftRole.Leader) return null;
        var voters = new List<RaftReplicaState>();
        var observers = new List<RaftReplicaState>();
        foreach (var v in _voters.Voters)
        {
            if (v.Id == Self.Id) voters.Add(new RaftReplicaState(v, _log.LogEndOffset, _now));
            else if (_progress.TryGetValue(v.Id, out var p) && p.Key == v) voters.Add(new RaftReplicaState(v, p.SyncedEnd, p.SyncedEnd < 0 ? -1 : p.LastFetchMs));
            else voters.Add(new RaftReplicaState(v, -1, -1));
        }
        foreach (var p in _progress.Values)
            if (!_voters.IsVoter(p.Key)) observers.Add(new RaftReplicaState(p.Key, p.SyncedEnd, p.LastFetchMs));
        return new RaftQuorumDescription(Self.Id, _state.Epoch, _highWatermark, voters, observers);
    }

    // ---- elections ---------------------------------------------------------------------------------------------

    private bool PreVoteEnabled => (_bugs & RaftPlantedBugs.NoPreVote) == 0;

    private void OnElectionTimeout()
    {
        _electionDeadline = Never;
        switch (Role)
        {
            case RaftRole.Unattached or RaftRole.Resigned or RaftRole.Prospective:
                if (IsVoter) StartElection();
                else StartDiscovery();
                break;
            case RaftRole.Candidate:
                // A lost or split election: back to a pre-vote (KIP-996), which fails while a leader is alive.
                StartElection();
                break;
        }
    }

    private void OnFetchTimeout()
    {
        _fetchDeadline = Never;
        if (Role != RaftRole.Follower) return;
        if (IsVoter) StartElection();
        else StartDiscovery();
    }

    private void StartElection()
    {
        if (!PreVoteEnabled) { BecomeCandidate(); return; }
        Role = RaftRole.Prospective;
        ClearFollowerTimers();
        _granted.Clear();
        _rejected.Clear();
        _granted.Add(Self.Id);
        ResetElectionTimer(_config.ElectionTimeoutMs);
        if (_granted.Count >= _voters.Majority) { BecomeCandidate(); return; }
        SendVoteRequests(onlyMissing: false);
    }

    private void BecomeCandidate()
    {
        Role = RaftRole.Candidate;
        ClearFollowerTimers();
        SetState(_state with { Epoch = _state.Epoch + 1, VotedId = Self.Id, VotedDirectoryId = Self.DirectoryId, LeaderId = QuorumStateData.NoId });
        _granted.Clear();
        _rejected.Clear();
        _granted.Add(Self.Id);
        ResetElectionTimer(_config.ElectionTimeoutMs);
        if (_granted.Count >= _voters.Majority) { BecomeLeader(); return; }
        SendVoteRequests(onlyMissing: false);
    }

    private void SendVoteRequests(bool onlyMissing)
    {
        _voteResendAt = Never;
        if (Role is not (RaftRole.Prospective or RaftRole.Candidate)) return;
        bool preVote = Role == RaftRole.Prospective;
        var end = _log.EndOffsetAndEpoch;
        foreach (var voter in _voters.Voters)
        {
            if (voter.Id == Self.Id || _granted.Contains(voter.Id) || (onlyMissing && _rejected.Contains(voter.Id))) continue;
            int correlation = _nextCorrelation++;
            _voteCorrelation[voter.Id] = correlation;
            Send(new VoteRequestMessage(preVote ? _state.Epoch + 1 : _state.Epoch, Self, voter.DirectoryId, end.Epoch, end.Offset, preVote)
            { Destination = voter.Id, CorrelationId = correlation });
        }
        _voteResendAt = _now + _config.RequestTimeoutMs;
    }

    private void HandleVoteRequest(VoteRequestMessage m)
    {
        var decisionView = View();
        var decision = RaftRules.DecideVote(decisionView, m, _voters, PreVoteEnabled);
        bool moveEpoch = !m.PreVote && m.ReplicaEpoch > _state.Epoch && decision is not (VoteDecision.Sticky
            or VoteDecision.NotAVoter or VoteDecision.WrongVoterKey or VoteDecision.CandidateNotAVoter);
        if (moveEpoch) BecomeUnattached(m.ReplicaEpoch);
        bool granted = decision == VoteDecision.Granted;
        if (granted && !m.PreVote)
        {
            // Granting is only possible with no leader in this epoch: Unattached, or Prospective (which gives up its
            // own pre-vote for the candidate it voted for).
            Check.That(_state.Epoch == m.ReplicaEpoch && Role is RaftRole.Unattached or RaftRole.Prospective);
            Role = RaftRole.Unattached;
            _voteResendAt = Never;
            if ((_bugs & RaftPlantedBugs.VoteNotPersisted) != 0) _state = _state with { VotedId = m.Candidate.Id, VotedDirectoryId = m.Candidate.DirectoryId };
            else SetState(_state with { VotedId = m.Candidate.Id, VotedDirectoryId = m.Candidate.DirectoryId });
            ResetElectionTimer(_config.ElectionTimeoutMs);
        }
        var error = decision switch
        {
            VoteDecision.WrongVoterKey or VoteDecision.NotAVoter or VoteDecision.CandidateNotAVoter => ErrorCode.InvalidVoterKey,
            VoteDecision.StaleEpoch => ErrorCode.FencedLeaderEpoch,
            _ => ErrorCode.None,
        };
        // The leader id only when it is alive as far as we know, so a Prospective that hears it goes back to
        // following it (KIP-996) and nobody is sent back to a dead leader.
        int liveLeader = Role == RaftRole.Leader || Role == RaftRole.Follower && _now - _lastLeaderContactMs < _config.FetchTimeoutMs
            ? _state.LeaderId : QuorumStateData.NoId;
        Send(new VoteResponseMessage(error, liveLeader, _state.Epoch, granted) { Destination = m.Source, CorrelationId = m.CorrelationId });
    }

    private VoterView View() => new(_state.Epoch, Role, Self, IsVoter, _state.VotedId, _state.VotedDirectoryId, _state.LeaderId,
        _now - _lastLeaderContactMs < _config.FetchTimeoutMs, _log.EndOffsetAndEpoch);

    private void HandleVoteResponse(VoteResponseMessage m)
    {
        if (!_voteCorrelation.TryGetValue(m.Source, out int c) || c != m.CorrelationId) return;
        _voteCorrelation.Remove(m.Source);
        if (MaybeLearnEpoch(m.LeaderEpoch, m.LeaderId)) return;
        if (Role is not (RaftRole.Prospective or RaftRole.Candidate)) return;
        if (Role == RaftRole.Prospective && !m.VoteGranted && m.LeaderEpoch == _state.Epoch && m.LeaderId >= 0 && m.LeaderId != Self.Id)
        {
            BecomeFollower(_state.Epoch, m.LeaderId, persist: true); // the leader is alive after all: follow it again
            return;
        }
        if (!m.VoteGranted) { _rejected.Add(m.Source); return; }
        // A candidate's real vote is for its epoch; a pre-vote's answer carries the voter's (older or equal) epoch.
        if (Role == RaftRole.Candidate && m.LeaderEpoch != _state.Epoch) return;
        _granted.Add(m.Source);
        if (_granted.Count < _voters.Majority) return;
        if (Role == RaftRole.Prospective) BecomeCandidate();
        else BecomeLeader();
    }

    private void BecomeLeader()
    {
        Check.That(Role == RaftRole.Candidate && _state.VotedId == Self.Id);
        Role = RaftRole.Leader;
        SetState(_state with { LeaderId = Self.Id });
        _electionDeadline = Never;
        _voteResendAt = Never;
        ClearFollowerTimers();
        _becameLeaderMs = _now;
        _progress.Clear();
        foreach (var v in _voters.Voters)
            if (v.Id != Self.Id) _progress[v.Id] = new ReplicaProgress { Key = v, LastFetchMs = _now };
        // An entry of its own epoch: the leader commits nothing of older epochs until this one commits (Raft 5.4.2).
        _epochStartOffset = _log.AppendLeaderChange(_state.Epoch, Self.Id);
        if (!_log.SyncInFlight) _log.RequestSync();
        SendBeginQuorumEpoch();
    }

    private void SendBeginQuorumEpoch()
    {
        _beginResendAt = Never;
        if (Role != RaftRole.Leader) return;
        foreach (var p in _progress.Values)
        {
            if (p.BeganEpoch || !_voters.IsVoter(p.Key)) continue;
            Send(new BeginQuorumEpochRequestMessage(Self.Id, _state.Epoch, p.Key.DirectoryId)
            { Destination = p.Key.Id, CorrelationId = _nextCorrelation++ });
            _beginResendAt = _now + _config.RequestTimeoutMs;
        }
    }

    private long CheckQuorumDeadline()
    {
        // Kafka's check-quorum timer: 1.5 x fetch timeout without fetches from a majority and the leader resigns.
        if (_voters.Majority <= 1) return Never;
        long window = _config.FetchTimeoutMs * 3L / 2;
        Span<long> last = stackalloc long[VoterSet.MaxVoters];
        int n = 0;
        foreach (var v in _voters.Voters)
        {
            if (v.Id == Self.Id) continue;
            last[n++] = _progress.TryGetValue(v.Id, out var p) && p.Key == v ? p.LastFetchMs : long.MinValue / 2;
        }
        var heard = last[..n];
        heard.Sort();
        // The (majority - 1)-th most recent follower fetch (the leader counts itself).
        long kth = heard[n - (_voters.Majority - 1)];
        return Math.Max(kth, _becameLeaderMs) + window;
    }

    private void Resign()
    {
        Check.That(Role == RaftRole.Leader);
        Role = RaftRole.Resigned;
        _beginResendAt = Never;
        AnswerParkedFetches(expiredOnly: false);
        var candidates = _progress.Values.Where(p => _voters.IsVoter(p.Key)).OrderByDescending(p => p.SyncedEnd).ThenBy(p => p.Key.Id)
            .Select(p => p.Key).ToList();
        foreach (var p in candidates)
            Send(new EndQuorumEpochRequestMessage(Self.Id, _state.Epoch, candidates) { Destination = p.Id, CorrelationId = _nextCorrelation++ });
        ResetElectionTimer(_config.ElectionTimeoutMs);
    }

    private void HandleBeginQuorumEpoch(BeginQuorumEpochRequestMessage m)
    {
        var error = ErrorCode.None;
        if (m.LeaderEpoch < _state.Epoch) error = ErrorCode.FencedLeaderEpoch;
        else
        {
            if (m.VoterDirectoryId != Guid.Empty && m.VoterDirectoryId != Self.DirectoryId) error = ErrorCode.InvalidVoterKey;
            if (m.LeaderEpoch > _state.Epoch || Role != RaftRole.Follower || _state.LeaderId != m.LeaderId)
            {
                // Two leaders in one epoch would break Raft; the sim's one-leader-per-epoch check names it first.
                if (m.LeaderEpoch == _state.Epoch && _state.LeaderId >= 0 && _state.LeaderId != m.LeaderId)
                    error = ErrorCode.InconsistentVoterSet;
                else BecomeFollower(m.LeaderEpoch, m.LeaderId, persist: true, heardFromLeader: m.Source == m.LeaderId);
            }
        }
        Send(new BeginQuorumEpochResponseMessage(error, _state.LeaderId, _state.Epoch) { Destination = m.Source, CorrelationId = m.CorrelationId });
    }

    private void HandleEndQuorumEpoch(EndQuorumEpochRequestMessage m)
    {
        if (m.LeaderEpoch > _state.Epoch) BecomeUnattached(m.LeaderEpoch);
        else if (m.LeaderEpoch == _state.Epoch && Role == RaftRole.Follower && _state.LeaderId == m.LeaderId)
        {
            // The leader resigned: stop being sticky and start the election soon, the most caught up first.
            _lastLeaderContactMs = long.MinValue / 2;
            int position = 0;
            for (int i = 0; i < m.PreferredCandidates.Count; i++) if (m.PreferredCandidates[i] == Self) position = i;
            _fetchDeadline = _now + position * (_config.RequestTimeoutMs / 2) + (long)_random.NextBelow(50);
        }
        Send(new EndQuorumEpochResponseMessage(ErrorCode.None, _state.LeaderId, _state.Epoch) { Destination = m.Source, CorrelationId = m.CorrelationId });
    }

    /// <summary>A response or request showed a higher epoch: move to it (following its leader if known). True if moved.</summary>
    private bool MaybeLearnEpoch(int epoch, int leaderId)
    {
        if (epoch <= _state.Epoch) return false;
        if (leaderId >= 0 && leaderId != Self.Id) BecomeFollower(epoch, leaderId, persist: true);
        else BecomeUnattached(epoch);
        return true;
    }

    private void BecomeUnattached(int epoch)
    {
        Check.That(epoch > _state.Epoch);
        LeaveLeadership();
        Role = RaftRole.Unattached;
        ClearFollowerTimers();
        _voteResendAt = Never;
        SetState(_state with { Epoch = epoch, VotedId = QuorumStateData.NoId, VotedDirectoryId = Guid.Empty, LeaderId = QuorumStateData.NoId });
        ResetElectionTimer(_config.ElectionTimeoutMs);
    }

    private void BecomeFollower(int epoch, int leaderId, bool persist, bool heardFromLeader = false)
    {
        Check.That(epoch >= _state.Epoch && leaderId != Self.Id);
        bool sameLeader = epoch == _state.Epoch && leaderId == _state.LeaderId && Role == RaftRole.Follower;
        LeaveLeadership();
        Role = RaftRole.Follower;
        _electionDeadline = Never;
        _voteResendAt = Never;
        if (persist)
        {
            var next = epoch > _state.Epoch
                ? _state with { Epoch = epoch, VotedId = QuorumStateData.NoId, VotedDirectoryId = Guid.Empty, LeaderId = leaderId }
                : _state with { LeaderId = leaderId };
            if (next != _state) SetState(next);
        }
        // Stickiness counts only what came from the leader itself, never a rumour of it (a vote response, a
        // restart): otherwise voters that all follow a dead leader would refuse each other's pre-votes forever.
        if (heardFromLeader) _lastLeaderContactMs = _now;
        else if (!sameLeader) _lastLeaderContactMs = long.MinValue / 2;
        _fetchDeadline = _now + _config.FetchTimeoutMs;
        _fetchCorrelation = 0;
        _fetchResendAt = Never;
        _fetchWaitingForSync = false;
        MaybeSendFetch();
    }

    private void LeaveLeadership()
    {
        if (Role is RaftRole.Leader or RaftRole.Resigned)
        {
            AnswerParkedFetches(expiredOnly: false);
            _progress.Clear();
            _beginResendAt = Never;
            _parkedDeadline = Never;
            _epochStartOffset = -1;
        }
    }

    private void StartDiscovery()
    {
        // An observer (or a replica restarted with an empty disk) asks a voter who leads; the answer's leader id
        // makes it a follower (Kafka's observers do this through their bootstrap servers).
        Role = RaftRole.Unattached;
        var voter = _voters.Voters[(int)_random.NextBelow((ulong)_voters.Count)];
        if (voter.Id != Self.Id)
        {
            _discoveryTarget = voter.Id;
            var end = _log.EndOffsetAndEpoch;
            _fetchCorrelation = _nextCorrelation++;
            Send(new FetchRequestMessage(Self, _state.Epoch, end.Offset, end.Epoch, 0) { Destination = voter.Id, CorrelationId = _fetchCorrelation });
        }
        ResetElectionTimer(_config.RequestTimeoutMs);
    }

    // ---- replication -------------------------------------------------------------------------------------------

    private void MaybeSendFetch()
    {
        if (Role != RaftRole.Follower || _fetchCorrelation != 0) return;
        bool reportUnsynced = (_bugs & RaftPlantedBugs.CommitUnsyncedOffsets) != 0;
        if (!reportUnsynced && _log.SyncedEndOffset < _log.LogEndOffset)
        {
            // The fetch offset tells the leader "on disk": wait for the sync first.
            _fetchWaitingForSync = true;
            if (!_log.SyncInFlight) _log.RequestSync();
            return;
        }
        _fetchWaitingForSync = false;
        var end = _log.EndOffsetAndEpoch;
        _fetchCorrelation = _nextCorrelation++;
        Send(new FetchRequestMessage(Self, _state.Epoch, end.Offset, end.Epoch, _config.FetchMaxWaitMs)
        { Destination = _state.LeaderId, CorrelationId = _fetchCorrelation });
        _fetchResendAt = _now + _config.FetchMaxWaitMs + _config.RequestTimeoutMs;
    }

    private void HandleFetchRequest(FetchRequestMessage m)
    {
        if (m.CurrentLeaderEpoch > _state.Epoch)
        {
            // The fetcher knows a newer epoch than we do (we restarted with an empty disk, or missed it): learn it.
            BecomeUnattached(m.CurrentLeaderEpoch);
            RespondFetch(m, ErrorCode.UnknownLeaderEpoch);
            return;
        }
        if (Role != RaftRole.Leader)
        {
            RespondFetch(m, m.CurrentLeaderEpoch < _state.Epoch ? ErrorCode.FencedLeaderEpoch : ErrorCode.NotLeaderOrFollower);
            return;
        }
        if (m.CurrentLeaderEpoch < _state.Epoch) { RespondFetch(m, ErrorCode.FencedLeaderEpoch); return; }
        var verdict = RaftRules.ValidateFetch(m.FetchOffset, m.LastFetchedEpoch, _log.LogStartOffsetAndEpoch, _log.LogEndOffset,
            _log.EndOffsetForEpoch(m.LastFetchedEpoch));
        if (verdict.Kind == FetchValidation.Outcome.OutOfRange) { RespondOutOfRange(m); return; }
        if (verdict.Kind == FetchValidation.Outcome.Diverging)
        {
            Send(new FetchResponseMessage<TRecords>(ErrorCode.None, Self.Id, _state.Epoch, _highWatermark, _log.LogStartOffset, verdict.DivergingEpoch, null, null)
            { Destination = m.Source, CorrelationId = m.CorrelationId });
            return;
        }
        Check.That(m.FetchOffset <= _log.LogEndOffset);
        if (!_progress.TryGetValue(m.Replica.Id, out var p) || p.Key != m.Replica)
        {
            // An observer, or a new incarnation of a voter id (another directory id): it fetches, it never counts.
            if (p is null || !_voters.IsVoter(p.Key))
            {
                if (_progress.Count >= VoterSet.MaxVoters * 4) { RespondFetch(m, ErrorCode.NotLeaderOrFollower); return; }
                p = new ReplicaProgress { Key = m.Replica };
                _progress[m.Replica.Id] = p;
            }
        }
        if (p.Key == m.Replica)
        {
            p.BeganEpoch = true;
            p.LastFetchMs = _now;
            p.SyncedEnd = m.FetchOffset;
            MaybeAdvanceHighWatermark();
        }
        if (m.FetchOffset < _log.LogEndOffset || m.MaxWaitMs <= 0 || _highWatermark > m.FetchOffset && (p.Key != m.Replica || p.HighWatermarkSent < _highWatermark))
        {
            AnswerFetch(m, p.Key == m.Replica ? p : null);
            return;
        }
        if (p.Key == m.Replica)
        {
            p.Parked = m;
            p.ParkedUntil = _now + m.MaxWaitMs;
            _parkedDeadline = Math.Min(_parkedDeadline, p.ParkedUntil);
        }
        else AnswerFetch(m, null);
    }

    private void AnswerFetch(FetchRequestMessage m, ReplicaProgress? p)
    {
        var records = m.FetchOffset < _log.LogEndOffset ? _log.Read(m.FetchOffset, _config.MaxFetchEntries) : null;
        if (p is not null) p.HighWatermarkSent = _highWatermark;
        Send(new FetchResponseMessage<TRecords>(ErrorCode.None, Self.Id, _state.Epoch, _highWatermark, _log.LogStartOffset, null, null, records)
        { Destination = m.Source, CorrelationId = m.CorrelationId });
    }

    private void RespondOutOfRange(FetchRequestMessage m)
    {
        var start = _log.LogStartOffsetAndEpoch;
        if (_config.DataLog)
            Send(new FetchResponseMessage<TRecords>(ErrorCode.OffsetOutOfRange, Self.Id, _state.Epoch, _highWatermark, _log.LogStartOffset, null, null, null)
            { Destination = m.Source, CorrelationId = m.CorrelationId });
        else
            Send(new FetchResponseMessage<TRecords>(ErrorCode.None, Self.Id, _state.Epoch, _highWatermark, _log.LogStartOffset, null, start, null)
            { Destination = m.Source, CorrelationId = m.CorrelationId });
    }

    private void RespondFetch(FetchRequestMessage m, ErrorCode error)
        => Send(new FetchResponseMessage<TRecords>(error, _state.LeaderId, _state.Epoch, -1, -1, null, null, null)
        { Destination = m.Source, CorrelationId = m.CorrelationId });

    private void AnswerParkedFetches(bool expiredOnly)
    {
        _parkedDeadline = Never;
        foreach (var p in _progress.Values)
        {
            if (p.Parked is null) continue;
            if (!expiredOnly || _now >= p.ParkedUntil || _log.LogEndOffset > p.Parked.FetchOffset || p.HighWatermarkSent < _highWatermark)
            {
                var m = p.Parked;
                p.Parked = null;
                p.ParkedUntil = Never;
                if (Role == RaftRole.Leader) AnswerFetch(m, p);
                else RespondFetch(m, ErrorCode.NotLeaderOrFollower);
            }
            else _parkedDeadline = Math.Min(_parkedDeadline, p.ParkedUntil);
        }
    }

    private void MaybeAdvanceHighWatermark()
    {
        if (Role != RaftRole.Leader) return;
        Span<long> ends = stackalloc long[_voters.Count];
        int i = 0;
        foreach (var v in _voters.Voters)
        {
            if (v.Id == Self.Id) ends[i++] = _log.SyncedEndOffset;
            else ends[i++] = _progress.TryGetValue(v.Id, out var p) && p.Key == v ? p.SyncedEnd : -1;
        }
        long hw = RaftRules.HighWatermark(ends, _voters.Majority, _epochStartOffset, _highWatermark);
        if (hw == _highWatermark) return;
        Check.That(hw > _highWatermark && hw <= _log.LogEndOffset);
        _highWatermark = hw;
        _log.OnHighWatermark(hw);
        AnswerParkedFetches(expiredOnly: false);
    }

    private void HandleFetchResponse(FetchResponseMessage<TRecords> m)
    {
        if (m.CorrelationId != _fetchCorrelation || _fetchCorrelation == 0) return;
        _fetchCorrelation = 0;
        _fetchResendAt = Never;
        if (MaybeLearnEpoch(m.LeaderEpoch, m.LeaderId)) return;
        if (Role == RaftRole.Unattached && !IsVoter && m.LeaderEpoch == _state.Epoch && m.LeaderId >= 0 && m.LeaderId != Self.Id)
        {
            BecomeFollower(_state.Epoch, m.LeaderId, persist: true, heardFromLeader: m.Source == m.LeaderId); // discovery answered
            return;
        }
        if (Role != RaftRole.Follower || m.Source != _state.LeaderId || m.LeaderEpoch != _state.Epoch) return;
        if (m.Error == ErrorCode.OffsetOutOfRange)
        {
            // Far behind a data log's start: its prefix was deleted by retention; start over there.
            _log.TruncateFullyAndStartAt(m.LogStartOffset, -1);
            Contact();
            MaybeSendFetch();
            return;
        }
        if (m.Error != ErrorCode.None) return; // the fetch timeout decides
        Contact();
        if (m.SnapshotId is { } snapshot)
        {
            _log.TruncateFullyAndStartAt(snapshot.Offset, snapshot.Epoch);
            _snapshotHook?.LoadSnapshot(snapshot);
            MaybeSendFetch();
            return;
        }
        if (m.DivergingEpoch is { } d)
        {
            // Nothing here says our log matches the leader's yet: truncate, fetch again, and only a valid answer
            // may move our high watermark (the simulator found one that did, seed 1415: committed-entry-changed).
            long to = RaftRules.TruncationOffset(d, _log.EndOffsetForEpoch(d.Epoch), _log.LogStartOffset);
            Check.That(to >= _highWatermark || _highWatermark > _log.LogEndOffset);
            if (to < _log.LogEndOffset) _log.TruncateTo(to);
            MaybeSendFetch();
            return;
        }
        if (m.Records is { } records)
        {
            long before = _log.LogEndOffset;
            _log.AppendAsFollower(records);
            Check.That(_log.LogEndOffset > before);
        }
        long hw = Math.Min(m.HighWatermark, _log.LogEndOffset);
        if (hw > _highWatermark)
        {
            _highWatermark = hw;
            _log.OnHighWatermark(hw);
        }
        MaybeSendFetch();
    }

    private void Contact()
    {
        _lastLeaderContactMs = _now;
        _fetchDeadline = _now + _config.FetchTimeoutMs;
    }

    // ---- plumbing ----------------------------------------------------------------------------------------------

    private void ClearFollowerTimers()
    {
        _fetchDeadline = Never;
        _fetchResendAt = Never;
        _fetchCorrelation = 0;
        _fetchWaitingForSync = false;
    }

    private void ResetElectionTimer(int baseMs) => _electionDeadline = _now + baseMs + (long)_random.NextBelow((ulong)Math.Max(1, baseMs));

    private void SetState(QuorumStateData next)
    {
        Check.That(next.Epoch >= _state.Epoch && next.DirectoryId == _state.DirectoryId);
        _state = next;
        WriteState(next);
    }

    private void WriteState(QuorumStateData state)
    {
        _store.Write(state);
        _stateWritesInFlight++;
    }

    private void Send(RaftMessage message)
    {
        var m = message with { Source = Self.Id };
        Check.That(m.Destination != Self.Id);
        bool hold = _stateWritesInFlight > 0 && (_bugs & RaftPlantedBugs.VoteNotPersisted) == 0;
        (hold ? _held : _outbox).Add(m);
        Check.That(_outbox.Count + _held.Count <= _config.MaxOutbox);
    }

    private void Advance(long nowMs)
    {
        Check.That(nowMs >= _now);
        _now = nowMs;
    }
}
