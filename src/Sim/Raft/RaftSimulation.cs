using DetKafka.Core.Abstractions;
using DetKafka.Core.Raft;
using DetKafka.Core.Util;

namespace DetKafka.Sim.Raft;

/// <summary>
/// A deterministic simulation of one replicated log on 3 or 5 <see cref="RaftReplica{TRecords}"/>s (REPLICATION.md,
/// "The Raft simulation"): a seeded message network (loss, delay, reordering, duplicates, partitions both ways and
/// one way, flapping links), nodes that pause, crash (losing unsynced writes), restart with an empty disk, see their
/// syncs fail, and whose clocks drift and jump. Clients propose entries to whoever leads and record which were
/// acknowledged (committed). Every check runs after every event; the first violation ends the seed. Then the faults
/// heal and a liveness phase requires a leader, fresh proposals committed and every replica caught up, in bounded
/// virtual time. A seed is a pure function of (seed, options): the same trace hash in any process.
/// </summary>
public sealed class RaftSimulation
{
    private const long Never = long.MaxValue;

    private sealed class Node
    {
        public int Id;
        public ISimRaftLog Log = null!;
        public MemoryQuorumStore Store = new();
        public RaftReplica<SimBatch>? Replica;
        public int Incarnation;
        public bool Paused;
        public readonly List<Action> Backlog = new();
        public double Rate = 1.0;
        public double OffsetUs;
        public long PollToken;
        public bool LogSyncScheduled;
        public long DiskTailUs;
        public int ActedEpoch;          // the highest epoch this disk's replica sent a message in
        public Guid ActedDirectory;
        public long CheckedUpTo;        // offsets below this were hashed against the committed map
        public long LastHighWatermark;
        public int LastEpoch;
        public double FsyncErrorProbability;
        public bool CrashAfterVote;      // armed by the crash fault: crash right after the next granted vote leaves
        public bool Down => Replica is null;
    }

    private sealed class Proposal
    {
        public long Value;
        public int Node;
        public int Incarnation;
        public int Epoch;
        public long Offset;
        public bool Liveness;
    }

    private sealed record LinkFault(int From, int To, bool Cut, double Loss);

    private readonly ulong _seed;
    private readonly RaftSimOptions _o;
    private readonly RaftSimResult _result;
    private readonly SeededRandom _net, _nemesis, _clients, _ties, _disk;
    private readonly Node[] _nodes;
    private readonly VoterSet _voters;
    private readonly PriorityQueue<Action, (long, ulong)> _queue = new();
    private readonly Action<string>? _trace;
    private readonly List<LinkFault> _linkFaults = new();
    private readonly int[,] _cut;
    private readonly double[,] _loss;
    private long _nowUs;
    private long _event;
    private ulong _hash = 14695981039346656037UL;
    private readonly List<RaftMessage> _drain = new();

    private readonly Dictionary<int, int> _leaderOfEpoch = new();
    private readonly Dictionary<long, ulong> _committed = new();
    private long _maxCommitted;
    private int _maxLedEpoch;
    private readonly Dictionary<(int Voter, int Candidate, int Correlation), (bool PreVote, ReplicaKey Candidate)> _voteRequests = new();
    private readonly List<Proposal> _pending = new();
    private readonly Dictionary<long, long> _acked = new(); // value -> offset
    private long _nextValue = 1;
    private readonly HashSet<Guid> _lostVoterDirectories = new();
    private bool _healed;
    private long _healedAtUs;
    private int _livenessAcked;
    private bool _done;
    private double _duplicate, _delayTail;

    public RaftSimulation(ulong seed, RaftSimOptions options, Action<string>? trace = null)
    {
        _seed = seed;
        _o = options;
        _trace = trace;
        _result = new RaftSimResult { Seed = seed, Options = options };
        _snapshots = new SnapshotCounter(_result);
        _net = new SeededRandom(Sub(1));
        _nemesis = new SeededRandom(Sub(2));
        _clients = new SeededRandom(Sub(3));
        _ties = new SeededRandom(Sub(4));
        _disk = new SeededRandom(Sub(5));
        var setup = new SeededRandom(Sub(6));
        Check.That(options.Nodes is >= 1 and <= 7);
        _nodes = new Node[options.Nodes + 1];
        _cut = new int[options.Nodes + 1, options.Nodes + 1];
        _loss = new double[options.Nodes + 1, options.Nodes + 1];
        var keys = new List<ReplicaKey>();
        for (int i = 1; i <= options.Nodes; i++)
        {
            var n = new Node { Id = i };
            n.Log = NewLog(n);
            var dir = setup.NextUuid();
            n.Store.Format(dir); // kafka-storage format: each voter's directory id is known before the first start
            keys.Add(new ReplicaKey(i, dir));
            if (Has(RaftFault.ClockDrift)) n.Rate = 0.95 + setup.NextDouble() * 0.1;
            n.OffsetUs = setup.NextBelow(10_000_000);
            _nodes[i] = n;
        }
        _voters = new VoterSet(keys);
        _duplicate = Has(RaftFault.Duplicate) ? 0.01 + setup.NextDouble() * 0.09 : 0;
        _delayTail = Has(RaftFault.Delay) ? 0.01 + setup.NextDouble() * 0.1 : 0;
    }

    private sealed class SnapshotCounter(RaftSimResult result) : IRaftSnapshotHook
    {
        // The simulated state machine is the log itself: loading the snapshot is starting the log there, which the
        // core did; count it so the tests can see the path is taken.
        public void LoadSnapshot(OffsetAndEpoch snapshotId) => result.SnapshotsLoaded++;
    }

    private readonly SnapshotCounter _snapshots;

    /// <summary>Sees every message a replica sends (tests: what the core sends must survive the wire codecs).</summary>
    public Action<RaftMessage>? OnSend { get; set; }

    /// <summary>The replica's log: in memory, or the broker's UnifiedLog on a simulated disk (RaftSimOptions.Storage).</summary>
    private ISimRaftLog NewLog(Node n)
    {
        if (_o.Storage == RaftSimStorage.Memory) return new MemoryRaftLog();
        _result.DiskLogs++;
        return new DiskRaftLog(new SeededRandom(Sub(300 + (ulong)(n.Id * 1000 + _result.DiskLogs))), _o.LogPlantedBugs, () => _result.Truncations++);
    }

    private ulong Sub(ulong stream) => DetKafka.Sim.SimulationOptions.SubSeed(_seed, 7000 + stream);
    private bool Has(RaftFault f) => (_o.Faults & f) != 0;

    public static RaftSimResult Run(ulong seed, RaftSimOptions? options = null, Action<string>? trace = null)
        => new RaftSimulation(seed, options ?? RaftSimOptions.Draw(seed), trace).Run();

    public RaftSimResult Run()
    {
        for (int i = 1; i <= _o.Nodes; i++)
        {
            int id = i;
            At((long)_ties.NextBelow(20_000), () => Start(_nodes[id]));
        }
        At(1000 + (long)_clients.NextBelow(50_000), ClientTick);
        foreach (var f in Enum.GetValues<RaftFault>())
        {
            if (f is RaftFault.None or RaftFault.All or RaftFault.Duplicate or RaftFault.Delay or RaftFault.ClockDrift || !Has(f)) continue;
            var fault = f;
            ScheduleNemesis(fault, 100_000);
        }
        At(_o.SafetyPhaseMs * 1000, Heal);
        try
        {
            while (!_done && _queue.TryDequeue(out var action, out var key))
            {
                _nowUs = key.Item1;
                _event++;
                if (_event > _o.MaxEvents) { Violate("event-bound", $"more than {_o.MaxEvents} events"); break; }
                action();
                if (_result.Violation is null) CheckInvariants();
                if (_result.Violation is not null) break;
                if (_healed && !_done) CheckLiveness();
            }
            if (_result.Violation is null && !_done) Violate("liveness", "the event queue ran dry");
        }
        catch (InvariantViolationException e)
        {
            Violate("core-assertion", e.Message);
        }
        _result.Events = _event;
        _result.VirtualMs = _nowUs / 1000;
        _result.TraceHash = _hash;
        _result.MaxEpoch = _nodes.Skip(1).Max(n => n.LastEpoch);
        _result.Committed = _maxCommitted;
        _result.Acknowledged = _acked.Count;
        return _result;
    }

    // ---- events and time ---------------------------------------------------------------------------------------

    private void At(long timeUs, Action action) => _queue.Enqueue(action, (Math.Max(timeUs, _nowUs), _ties.NextUInt64()));

    private long LocalMs(Node n) => (long)((_nowUs * n.Rate + n.OffsetUs) / 1000.0);

    private long GlobalUsAt(Node n, long localMs)
    {
        double us = (localMs * 1000.0 - n.OffsetUs) / n.Rate;
        long g = (long)Math.Ceiling(us);
        while (LocalMs(n, g) < localMs) g++;
        return Math.Max(g, _nowUs);
    }

    private static long LocalMs(Node n, long globalUs) => (long)((globalUs * n.Rate + n.OffsetUs) / 1000.0);

    private void Trace(string kind, int actor, long a = 0, long b = 0, string? text = null)
    {
        foreach (ulong w in new[] { (ulong)_event, (ulong)_nowUs, (ulong)actor, (ulong)a, (ulong)b, (ulong)kind.Length, (ulong)kind[0], (ulong)kind[^1] })
        {
            _hash ^= w;
            _hash *= 1099511628211UL;
        }
        _trace?.Invoke($"{{\"event\":{_event},\"time_us\":{_nowUs},\"actor\":\"n{actor}\",\"kind\":\"{kind}\",\"a\":{a},\"b\":{b}{(text is null ? "" : $",\"details\":\"{text}\"")}}}");
    }

    // ---- nodes -------------------------------------------------------------------------------------------------

    private void Start(Node n)
    {
        if (!n.Down) return;
        var random = new SeededRandom(Sub(100 + (ulong)(n.Id * 1000 + n.Incarnation)));
        n.Replica = new RaftReplica<SimBatch>(n.Id, _voters, n.Log, n.Store, random, _o.Config, LocalMs(n), _o.PlantedBugs, _snapshots);
        n.CheckedUpTo = n.Log.LogStartOffset;
        n.LastHighWatermark = n.Replica.HighWatermark;
        if (_o.DurableStateChecks && n.Replica.Self.DirectoryId == n.ActedDirectory && n.Replica.Epoch < n.ActedEpoch)
            Violate("epoch-monotonic", $"n{n.Id} restarted at epoch {n.Replica.Epoch} after acting in epoch {n.ActedEpoch}");
        if (n.Replica.Self.DirectoryId != n.ActedDirectory) { n.ActedDirectory = n.Replica.Self.DirectoryId; n.ActedEpoch = 0; }
        n.LastEpoch = n.Replica.Epoch; // an epoch bump that never became durable was never acted on: it may be lost
        Trace("start", n.Id, n.Incarnation, n.Replica.Epoch);
        AfterStep(n);
    }

    private void Crash(Node n, bool wipe, long restartAfterUs)
    {
        if (n.Down) return;
        _result.Crashes++;
        n.Replica = null;
        n.Incarnation++;
        n.Paused = false;
        n.Backlog.Clear();
        n.LogSyncScheduled = false;
        n.DiskTailUs = 0;
        if (wipe)
        {
            _result.EmptyDisks++;
            n.Log = NewLog(n);
            n.Store = new MemoryQuorumStore();
        }
        else
        {
            n.Log.Crash();
            n.Store.Crash();
        }
        n.Log.FailSync = null;
        n.FsyncErrorProbability = 0;
        n.CrashAfterVote = false;
        Drop(n);
        Trace(wipe ? "wipe" : "crash", n.Id, n.Incarnation);
        int inc = n.Incarnation;
        if (restartAfterUs >= 0) At(_nowUs + restartAfterUs, () => { if (n.Incarnation == inc) Start(n); });
    }

    private void Drop(Node n)
    {
        _pending.RemoveAll(p => p.Node == n.Id && p.Liveness == false);
        foreach (var p in _pending) if (p.Node == n.Id) p.Node = -1;
    }

    /// <summary>Runs an input on a node now, or after its pause.</summary>
    private void Step(Node n, Action<RaftReplica<SimBatch>> input)
    {
        if (n.Down) return;
        if (n.Paused)
        {
            int inc = n.Incarnation;
            n.Backlog.Add(() => { if (n.Incarnation == inc && n.Replica is not null) { input(n.Replica); AfterStep(n); } });
            Check.That(n.Backlog.Count < 100_000);
            return;
        }
        input(n.Replica!);
        AfterStep(n);
    }

    private void AfterStep(Node n)
    {
        var r = n.Replica;
        if (r is null) return;
        _drain.Clear();
        r.DrainOutbox(_drain);
        foreach (var m in _drain) Send(n, m);
        int inc = n.Incarnation;
        while (n.Store.SyncsToSchedule > 0)
        {
            n.Store.SyncsToSchedule--;
            n.DiskTailUs = Math.Max(n.DiskTailUs, _nowUs) + 100 + (long)_disk.NextBelow(1500);
            At(n.DiskTailUs, () =>
            {
                if (n.Incarnation != inc) return;
                n.Store.CompleteSync();
                Trace("state-synced", n.Id, n.Store.Durable!.Value.Epoch);
                Step(n, rep => rep.OnQuorumStateSynced(LocalMs(n)));
            });
        }
        if (n.Log.SyncInFlight && !n.LogSyncScheduled)
        {
            n.LogSyncScheduled = true;
            n.DiskTailUs = Math.Max(n.DiskTailUs, _nowUs) + 100 + (long)_disk.NextBelow(2000);
            At(n.DiskTailUs, () =>
            {
                if (n.Incarnation != inc) return;
                n.LogSyncScheduled = false;
                bool ok = n.Log.CompleteSync();
                Trace("log-synced", n.Id, n.Log.SyncedEndOffset, ok ? 1 : 0);
                if (!ok)
                {
                    // EIO: the replica cannot trust its unsynced writes; the process stops (as Kafka takes the log
                    // directory offline) and restarts from what the disk kept.
                    Crash(n, wipe: false, restartAfterUs: 50_000 + (long)_nemesis.NextBelow(500_000));
                    return;
                }
                Step(n, rep => rep.OnLogSynced(LocalMs(n)));
            });
        }
        long deadline = r.NextDeadlineMs;
        long token = ++n.PollToken;
        if (deadline != Never)
            At(GlobalUsAt(n, deadline), () => { if (n.PollToken == token && n.Incarnation == inc) Step(n, rep => rep.Poll(LocalMs(n))); });
    }

    // ---- network -----------------------------------------------------------------------------------------------

    private void Send(Node from, RaftMessage m)
    {
        _result.MessagesSent++;
        OnSend?.Invoke(m);
        CheckDurableBeforeSend(from, m);
        int to = m.Destination;
        Trace("send", from.Id, to, m.Epoch, _trace is null ? null : Describe(m));
        if (from.CrashAfterVote && m is VoteResponseMessage { VoteGranted: true })
        {
            from.CrashAfterVote = false;
            int inc = from.Incarnation;
            At(_nowUs, () => { if (from.Incarnation == inc) Crash(from, wipe: false, restartAfterUs: Between(1_000, 50_000)); });
        }
        if (to < 1 || to > _o.Nodes) return;
        int copies = _duplicate > 0 && _net.NextBool(_duplicate) ? 2 : 1;
        for (int c = 0; c < copies; c++)
        {
            if (_cut[from.Id, to] > 0 || (_loss[from.Id, to] > 0 && _net.NextBool(_loss[from.Id, to])))
            {
                _result.MessagesDropped++;
                continue;
            }
            long delay = 200 + (long)_net.NextBelow(1300);
            if (_delayTail > 0 && _net.NextBool(_delayTail)) delay += (long)_net.NextBelow(200_000);
            var target = _nodes[to];
            At(_nowUs + delay, () =>
            {
                if (m is VoteRequestMessage v) _voteRequests[(to, m.Source, m.CorrelationId)] = (v.PreVote, v.Candidate);
                Trace("deliver", to, from.Id, m.Epoch);
                Step(target, rep => rep.OnMessage(m, LocalMs(target)));
            });
        }
    }

    private static string Describe(RaftMessage m) => m switch
    {
        VoteRequestMessage v => $"{(v.PreVote ? "PreVote" : "Vote")} epoch {v.ReplicaEpoch} last {v.LastOffset}@{v.LastOffsetEpoch}",
        VoteResponseMessage v => $"VoteResponse {(v.VoteGranted ? "granted" : "refused")} epoch {v.LeaderEpoch} leader {v.LeaderId} {v.Error}",
        BeginQuorumEpochRequestMessage b => $"BeginQuorumEpoch {b.LeaderEpoch}",
        EndQuorumEpochRequestMessage e => $"EndQuorumEpoch {e.LeaderEpoch}",
        FetchRequestMessage f => $"Fetch offset {f.FetchOffset} last epoch {f.LastFetchedEpoch} epoch {f.CurrentLeaderEpoch}",
        FetchResponseMessage<SimBatch> f => $"FetchResponse {f.Error} hw {f.HighWatermark} {(f.DivergingEpoch is { } d ? $"diverging {d.Offset}@{d.Epoch}" : f.Records is { } r ? $"{r.Entries.Length} entries from {r.BaseOffset}" : "empty")}",
        _ => m.GetType().Name,
    };

    // ---- checks ------------------------------------------------------------------------------------------------

    private void Violate(string name, string message)
    {
        if (_result.Violation is not null) return;
        _result.Violation = name;
        _result.Message = $"event {_event} at {_nowUs / 1000.0:F3} ms: {message}";
        Trace("violation", 0, 0, 0, name);
    }

    /// <summary>quorum-state-durable: nothing leaves a node in an epoch its durable quorum state has not reached,
    /// and a granted vote is durable before it is sent.</summary>
    private void CheckDurableBeforeSend(Node n, RaftMessage m)
    {
        var durable = n.Store.Durable;
        if (!_o.DurableStateChecks) return;
        int acted = m is VoteRequestMessage { PreVote: true } ? m.Epoch - 1 : m.Epoch;
        if (durable is null || durable.Value.Epoch < acted)
        {
            Violate("quorum-state-durable", $"n{n.Id} sent {m.GetType().Name} in epoch {acted} with durable epoch {durable?.Epoch}");
            return;
        }
        if (m is VoteResponseMessage { VoteGranted: true } g && _voteRequests.Remove((n.Id, m.Destination, m.CorrelationId), out var req) && !req.PreVote)
        {
            if (durable.Value.Epoch < g.LeaderEpoch || durable.Value.Epoch == g.LeaderEpoch && durable.Value.VotedId != req.Candidate.Id)
                Violate("quorum-state-durable", $"n{n.Id} granted its epoch {g.LeaderEpoch} vote to n{req.Candidate.Id} before it was durable");
        }
        if (acted > n.ActedEpoch) n.ActedEpoch = acted;
    }

    private void CheckInvariants()
    {
        int maxEpoch = 0;
        for (int i = 1; i <= _o.Nodes; i++)
        {
            var n = _nodes[i];
            var r = n.Replica;
            if (r is null) continue;
            // one-leader-per-epoch
            if (r.Role == RaftRole.Leader)
            {
                if (_leaderOfEpoch.TryGetValue(r.Epoch, out int other))
                {
                    if (other != n.Id) { Violate("one-leader-per-epoch", $"n{n.Id} and n{other} both led epoch {r.Epoch}"); return; }
                }
                else
                {
                    _leaderOfEpoch[r.Epoch] = n.Id;
                    _result.Elections++;
                    _maxLedEpoch = Math.Max(_maxLedEpoch, r.Epoch);
                    Trace("leader", n.Id, r.Epoch);
                }
            }
            // epoch-monotonic (within an incarnation; across restarts it is checked at the start)
            if (r.Epoch < n.LastEpoch && r.Self.DirectoryId == n.ActedDirectory)
            { Violate("epoch-monotonic", $"n{n.Id} went from epoch {n.LastEpoch} to {r.Epoch}"); return; }
            n.LastEpoch = Math.Max(n.LastEpoch, r.Epoch);
            maxEpoch = Math.Max(maxEpoch, r.Epoch);
            // commit-monotonic
            long hw = r.HighWatermark;
            if (hw < n.LastHighWatermark) { Violate("commit-monotonic", $"n{n.Id} high watermark went back from {n.LastHighWatermark} to {hw}"); return; }
            n.LastHighWatermark = hw;
            if (hw > n.Log.LogEndOffset && n.Log.LogEndOffset >= n.CheckedUpTo && hw > n.Log.LogStartOffset)
            { Violate("committed-entry-changed", $"n{n.Id} high watermark {hw} is past its log end {n.Log.LogEndOffset}"); return; }
            // committed-entry-changed: every entry below a replica's commit index has one hash, forever, on every node
            long from = Math.Max(n.Log.LogStartOffset, Math.Min(n.CheckedUpTo, n.Log.MinChangedOffset));
            long upTo = Math.Min(hw, n.Log.LogEndOffset);
            for (long off = from; off < upTo; off++)
            {
                ulong h = n.Log.EntryAt(off)!.Value.Hash;
                if (_committed.TryGetValue(off, out ulong known))
                {
                    if (known != h) { Violate("committed-entry-changed", $"n{n.Id} offset {off}: entry differs from the committed one"); return; }
                }
                else _committed[off] = h;
            }
            if (n.Log.MinChangedOffset < n.CheckedUpTo && n.Log.MinChangedOffset < hw && n.Log.LogEndOffset < n.CheckedUpTo && n.Log.LogStartOffset <= n.Log.MinChangedOffset)
            { Violate("committed-entry-changed", $"n{n.Id} truncated its log to {n.Log.LogEndOffset}, below its commit index {hw}"); return; }
            n.CheckedUpTo = Math.Max(upTo, n.Log.LogStartOffset);
            n.Log.MinChangedOffset = long.MaxValue;
            if (hw > _maxCommitted) _maxCommitted = hw;
        }
        if (maxEpoch > _maxLedEpoch + _o.EpochInflationBound)
            Violate("epoch-inflation", $"an epoch reached {maxEpoch} while the highest epoch that had a leader is {_maxLedEpoch}");
        ResolveProposals();
    }

    private void ResolveProposals()
    {
        for (int i = _pending.Count - 1; i >= 0; i--)
        {
            var p = _pending[i];
            if (p.Node < 0) { Repropose(i); continue; }
            var n = _nodes[p.Node];
            var r = n.Replica;
            if (r is null || n.Incarnation != p.Incarnation || r.Epoch != p.Epoch || r.Role != RaftRole.Leader) { Repropose(i); continue; }
            if (r.HighWatermark > p.Offset)
            {
                _acked[p.Value] = p.Offset;
                if (p.Liveness) _livenessAcked++;
                Trace("acked", p.Node, p.Value, p.Offset);
                _pending.RemoveAt(i);
            }
        }
    }

    /// <summary>A proposal whose leader lost its epoch or crashed: its outcome is unknown (it may still commit through
    /// the next leader, or be truncated). Safety-phase ones are forgotten; liveness ones are proposed again.</summary>
    private void Repropose(int index)
    {
        var p = _pending[index];
        _pending.RemoveAt(index);
        if (p.Liveness) ProposeOne(liveness: true);
    }

    private bool ProposeOne(bool liveness)
    {
        var leaders = _nodes.Skip(1).Where(n => n.Replica is { Role: RaftRole.Leader } && !n.Paused).ToList();
        if (leaders.Count == 0)
        {
            if (liveness) At(_nowUs + 50_000, () => ProposeOne(true));
            return false;
        }
        var n = leaders[(int)_clients.NextBelow((ulong)leaders.Count)];
        long value = _nextValue++;
        long offset = n.Replica!.Propose(new SimBatch(-1, [new SimEntry(0, value, false)]), LocalMs(n));
        Check.That(offset >= 0);
        _pending.Add(new Proposal { Value = value, Node = n.Id, Incarnation = n.Incarnation, Epoch = n.Replica.Epoch, Offset = offset, Liveness = liveness });
        Trace("propose", n.Id, value, offset);
        AfterStep(n);
        return true;
    }

    private void ClientTick()
    {
        if (_healed) return;
        ProposeOne(liveness: false);
        At(_nowUs + 1000 + (long)_clients.NextBelow((ulong)_o.ProposalIntervalMs * 2000), ClientTick);
    }

    // ---- nemesis -----------------------------------------------------------------------------------------------

    private void ScheduleNemesis(RaftFault fault, long minDelayUs)
    {
        double meanUs = 1_000_000 / _o.FaultRatePerSecond;
        long delay = minDelayUs + (long)(_nemesis.NextDouble() * 2 * meanUs);
        At(_nowUs + delay, () =>
        {
            if (_healed) return;
            Inject(fault);
            ScheduleNemesis(fault, 0);
        });
    }

    private Node RandomNode() => _nodes[1 + (int)_nemesis.NextBelow((ulong)_o.Nodes)];
    private long Between(long loUs, long hiUs) => loUs + (long)_nemesis.NextBelow((ulong)(hiUs - loUs));

    private void Inject(RaftFault fault)
    {
        switch (fault)
        {
            case RaftFault.Drop:
            {
                double p = 0.05 + _nemesis.NextDouble() * 0.45;
                bool all = _nemesis.NextBool(0.3);
                var a = RandomNode();
                var faults = new List<LinkFault>();
                for (int i = 1; i <= _o.Nodes; i++)
                for (int j = 1; j <= _o.Nodes; j++)
                    if (i != j && (all || i == a.Id || j == a.Id)) faults.Add(new LinkFault(i, j, false, p));
                Episode(fault, faults, Between(200_000, 3_000_000), a.Id);
                break;
            }
            case RaftFault.Partition or RaftFault.Asymmetric:
            {
                var side = new bool[_o.Nodes + 1];
                int count = 0;
                for (int i = 1; i <= _o.Nodes; i++) if (side[i] = _nemesis.NextBool(0.5)) count++;
                if (count == 0 || count == _o.Nodes) side[RandomNode().Id] = count == 0;
                var faults = new List<LinkFault>();
                for (int i = 1; i <= _o.Nodes; i++)
                for (int j = 1; j <= _o.Nodes; j++)
                    if (side[i] && !side[j] || fault == RaftFault.Partition && !side[i] && side[j]) faults.Add(new LinkFault(i, j, true, 0));
                Episode(fault, faults, Between(200_000, 5_000_000), 0);
                break;
            }
            case RaftFault.Isolate:
            {
                var a = RandomNode();
                bool inbound = _nemesis.NextBool(0.5), outbound = !inbound || _nemesis.NextBool(0.5);
                var faults = new List<LinkFault>();
                for (int j = 1; j <= _o.Nodes; j++)
                {
                    if (j == a.Id) continue;
                    if (outbound) faults.Add(new LinkFault(a.Id, j, true, 0));
                    if (inbound) faults.Add(new LinkFault(j, a.Id, true, 0));
                }
                Episode(fault, faults, Between(2_000_000, 8_000_000), a.Id);
                break;
            }
            case RaftFault.Flapping:
            {
                var a = RandomNode();
                var b = RandomNode();
                if (a == b) break;
                long end = _nowUs + Between(1_000_000, 6_000_000);
                Flap(a.Id, b.Id, end, _nemesis.NextBool(0.5));
                break;
            }
            case RaftFault.Pause:
            {
                var n = RandomNode();
                if (n.Down || n.Paused) break;
                n.Paused = true;
                int inc = n.Incarnation;
                Trace("pause", n.Id);
                At(_nowUs + Between(50_000, 4_000_000), () => Resume(n, inc));
                break;
            }
            case RaftFault.ClockJump:
            {
                var n = RandomNode();
                long jump = Between(100_000, 3_000_000);
                n.OffsetUs += jump;
                Trace("clock-jump", n.Id, jump);
                if (!n.Down) AfterStep(n); // its deadlines moved closer
                break;
            }
            case RaftFault.Crash:
            {
                var n = RandomNode();
                // Half the crashes are aimed: at the moment a node has just granted a vote (the window in which an
                // unsynced vote would be forgotten), with a quick restart so it can vote again in the same epoch.
                if (_nemesis.NextBool(0.5)) { n.CrashAfterVote = true; break; }
                Crash(n, wipe: false, restartAfterUs: Between(10_000, 3_000_000));
                break;
            }
            case RaftFault.EmptyDisk:
            {
                var n = RandomNode();
                if (n.Down) break;
                // A lost disk is a lost voter: never lose more than a minority of the voters' disks in one seed, or
                // no leader can ever be elected again (reconfiguration, KIP-853's AddRaftVoter, is later work).
                bool isVoter = _voters.IsVoter(n.Replica!.Self);
                if (isVoter && _lostVoterDirectories.Count + 1 > (_o.Nodes - 1) / 2) break;
                if (isVoter) _lostVoterDirectories.Add(n.Replica.Self.DirectoryId);
                Crash(n, wipe: true, restartAfterUs: Between(50_000, 2_000_000));
                break;
            }
            case RaftFault.FsyncError:
            {
                var n = RandomNode();
                if (n.Down) break;
                double p = 0.05 + _nemesis.NextDouble() * 0.5;
                int inc = n.Incarnation;
                n.Log.FailSync = () => _disk.NextBool(p);
                Trace("fsync-error", n.Id, (long)(p * 100));
                At(_nowUs + Between(300_000, 3_000_000), () => { if (n.Incarnation == inc) n.Log.FailSync = null; });
                break;
            }
            case RaftFault.Retention:
            {
                var n = RandomNode();
                if (n.Down || n.Replica!.HighWatermark <= n.Log.LogStartOffset) break;
                long to = n.Log.LogStartOffset + (long)_nemesis.NextBelow((ulong)(n.Replica.HighWatermark - n.Log.LogStartOffset)) + 1;
                n.Log.DeleteBelow(to);
                Trace("retention", n.Id, to);
                break;
            }
        }
    }

    private void Resume(Node n, int inc)
    {
        if (n.Incarnation != inc || !n.Paused) return;
        n.Paused = false;
        Trace("resume", n.Id, n.Backlog.Count);
        var backlog = n.Backlog.ToList();
        n.Backlog.Clear();
        foreach (var a in backlog) a();
        if (!n.Down) Step(n, rep => rep.Poll(LocalMs(n)));
    }

    private void Flap(int a, int b, long endUs, bool bothWays)
    {
        if (_healed || _nowUs >= endUs) return;
        var faults = new List<LinkFault> { new(a, b, true, 0) };
        if (bothWays) faults.Add(new LinkFault(b, a, true, 0));
        long down = Between(20_000, 300_000), up = Between(20_000, 300_000);
        Episode(RaftFault.Flapping, faults, down, a);
        At(_nowUs + down + up, () => Flap(a, b, endUs, bothWays));
    }

    private void Episode(RaftFault fault, List<LinkFault> faults, long durationUs, int actor)
    {
        _linkFaults.AddRange(faults);
        RecomputeLinks();
        Trace(RaftSimOptions.Kebab(fault.ToString()), actor, faults.Count, durationUs);
        At(_nowUs + durationUs, () =>
        {
            foreach (var f in faults) _linkFaults.Remove(f);
            RecomputeLinks();
        });
    }

    private void RecomputeLinks()
    {
        Array.Clear(_cut);
        Array.Clear(_loss);
        foreach (var f in _linkFaults)
        {
            if (f.Cut) _cut[f.From, f.To]++;
            else _loss[f.From, f.To] = Math.Max(_loss[f.From, f.To], f.Loss);
        }
    }

    // ---- heal and liveness ---------------------------------------------------------------------------------------

    private void Heal()
    {
        _healed = true;
        _healedAtUs = _nowUs;
        _linkFaults.Clear();
        RecomputeLinks();
        _duplicate = 0;
        _delayTail = 0;
        Trace("heal", 0);
        for (int i = 1; i <= _o.Nodes; i++)
        {
            var n = _nodes[i];
            n.Log.FailSync = null;
            if (n.Paused) Resume(n, n.Incarnation);
            if (n.Down) Start(n);
        }
        for (int k = 0; k < _o.LivenessProposals; k++) ProposeOne(liveness: true);
    }

    private void CheckLiveness()
    {
        if (_nowUs - _healedAtUs > _o.LivenessBoundMs * 1000)
        {
            var leader = _nodes.Skip(1).FirstOrDefault(n => n.Replica?.Role == RaftRole.Leader);
            Violate("liveness", $"{_o.LivenessBoundMs} ms after the heal: leader {(leader is null ? "none" : "n" + leader.Id)}, " +
                $"{_livenessAcked}/{_o.LivenessProposals} fresh proposals committed, commit indexes " +
                string.Join(" ", _nodes.Skip(1).Select(n => $"n{n.Id}:{n.Replica?.HighWatermark}/{n.Log.LogEndOffset}@{n.Replica?.Epoch}{n.Replica?.Role}")));
            return;
        }
        if (_livenessAcked < _o.LivenessProposals) return;
        var lead = _nodes.Skip(1).Where(n => n.Replica?.Role == RaftRole.Leader).OrderByDescending(n => n.Replica!.Epoch).FirstOrDefault();
        if (lead is null) return;
        long hw = lead.Replica!.HighWatermark;
        if (hw != lead.Log.LogEndOffset) return;
        foreach (var n in _nodes.Skip(1))
            if (n.Replica is null || n.Replica.HighWatermark != hw || n.Log.LogEndOffset != hw) return;
        EndChecks(lead);
        _done = true;
    }

    /// <summary>At the end: replicas identical up to the commit index, every acknowledged proposal where it was acknowledged.</summary>
    private void EndChecks(Node lead)
    {
        long hw = lead.Replica!.HighWatermark;
        foreach (var n in _nodes.Skip(1))
        {
            long from = Math.Max(n.Log.LogStartOffset, lead.Log.LogStartOffset);
            for (long off = from; off < hw; off++)
                if (n.Log.EntryAt(off) != lead.Log.EntryAt(off)) { Violate("replicas-identical", $"n{n.Id} and leader n{lead.Id} differ at offset {off}"); return; }
        }
        foreach (var (value, offset) in _acked)
        {
            if (offset < lead.Log.LogStartOffset) continue; // deleted by retention
            var e = lead.Log.EntryAt(offset);
            if (e is null || e.Value.Value != value || e.Value.Control)
            { Violate("acknowledged-lost", $"value {value} acknowledged at offset {offset} is not there at the end"); return; }
        }
        Trace("pass", lead.Id, hw, _acked.Count);
    }
}
