using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DetKafka.Sim.Trace;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;
using DetKafka.Sim.History;
using SimHistory = DetKafka.Sim.History.History;

namespace DetKafka.Sim.World;

/// <summary>
/// Jepsen's Kafka queue workload over the real wire protocol. Producer hosts run several worker processes
/// that share one <see cref="Producer"/> (so requests pipeline on its connection) but are each sequential:
/// invoke a send of a unique value, wait for its delivery report, think, repeat. Each send is recorded as an
/// Invoke and then Ok (with the offset), Fail (definitely not written) or Info (unknown). Consumer hosts
/// assign every partition, record the assignment as an Assign operation, and poll: each poll is an Invoke
/// then an Ok carrying the records taken, in order. A crashed client's pending operations complete as Info
/// and its replacement gets new process numbers.
/// <para>Values are unique longs, 8 bytes big-endian in the record value; the key names the process ("p7").
/// An Assign's value is a <see cref="PollOp"/> listing the assigned partitions with no records.</para>
/// </summary>
public sealed partial class Workload
{
    private readonly SimWorld _world;
    private readonly SortedDictionary<int, HostState> _hosts = new();
    private long _nextValue;
    private int _nextProcess;

    internal Workload(SimWorld world, IRandom random)
    {
        _world = world;
        Random = random;
    }

    internal IRandom Random { get; }

    private readonly HashSet<int> _acksAll = new();

    /// <summary>The producer worker processes that sent with acks=all (the cluster check acks-all-lost reads their
    /// acknowledged values back).</summary>
    public IReadOnlySet<int> AcksAllProcesses => _acksAll;

    private WorkloadOptions Options => _world.Options.Workload;

    private SimHistory HistoryLog => _world.History;

    private sealed class HostState
    {
        public readonly List<Worker> Workers = new();
        public ConsumerProcess? Consumer;
        public GroupProcess? Group;

        /// <summary>Next offset after the last record handed to the application, per partition (survives crashes:
        /// an application that stored its position resumes there).</summary>
        public readonly SortedDictionary<TopicPartition, long> Positions = new(TopicPartitionComparer.Instance);
    }

    private sealed class Worker(int process)
    {
        public readonly int Process = process;
        public bool Pending;
        public TopicPartition PendingPartition;
        public long PendingValue;
        public int LivenessCompleted;
    }

    /// <summary>A member of the workload's consumer group (GROUPS.md): polls, processes and commits.</summary>
    private sealed class GroupProcess(int process, GroupMembership membership)
    {
        public readonly int Process = process;
        public readonly GroupMembership Membership = membership;
        public readonly SortedDictionary<TopicPartition, long> LastAcked = new(TopicPartitionComparer.Instance);
        public bool CommitPending;
    }

    private sealed class ConsumerProcess(int process)
    {
        public readonly int Process = process;
        public bool PollPending;
        public int PollToken;
        public readonly SortedDictionary<TopicPartition, long> Taken = new(TopicPartitionComparer.Instance);
    }

    private HostState StateOf(ClientHost host)
    {
        if (!_hosts.TryGetValue(host.Slot, out var s)) _hosts[host.Slot] = s = new HostState();
        return s;
    }

    private IReadOnlyList<TopicPartition> AllPartitions
        => Enumerable.Range(0, Options.Partitions).Select(p => new TopicPartition(Options.Topic, p)).ToList();

    private long ThinkUs() => (long)(DetMath.Exponential(Random, Options.ThinkTimeMeanMs) * 1000) + 1;

    /// <summary>Starts a new process on the host: a client, a producer or consumer, new process numbers.</summary>
    internal string StartProcess(ClientHost host)
    {
        Check.That(!host.IsUp, "one process per host");
        if (host.IsAdmin) return _world.Admin!.StartProcess(host);
        var spec = (ProducerSpec: host.ProducerSpec, ConsumerSpec: host.ConsumerSpec);
        int requestTimeout = spec.ProducerSpec?.RequestTimeoutMs ?? spec.ConsumerSpec!.RequestTimeoutMs;
        var clientOptions = new KafkaClientOptions
        {
            ClientId = host.Name,
            // Every node (a cluster's first node may be down); a single node's list is the same as before.
            BootstrapServers = _world.Nodes.Select(_world.AddressOf).ToList(),
            RequestTimeoutMs = requestTimeout,
            ConnectionSetupTimeoutMs = 5_000,
            ReconnectBackoffMs = 50,
            ReconnectBackoffMaxMs = 1_000,
            RetryBackoffMs = 100,
            MaxInFlightRequestsPerConnection = spec.ProducerSpec?.MaxInFlight ?? 5,
            MaxVersions = spec.ProducerSpec?.MaxVersions ?? spec.ConsumerSpec!.MaxVersions,
        };
        var random = new SeededRandom(SimulationOptions.SubSeed(SimulationOptions.SubSeed(_world.Seed, 9),
            (ulong)(host.Slot * 1_000_000L + host.Incarnation)));
        var client = new KafkaClient(clientOptions, host.Clock, host.Network, random);
        client.ConnectionDropped = (id, reason) => _world.Note(host.Name, "client-drop", id + " " + reason);
        client.AddTopic(Options.Topic);
        host.Client = client;
        var state = StateOf(host);
        string what;
        if (spec.ProducerSpec is { } p)
        {
            host.Producer = new Producer(client, new ProducerOptions
            {
                Acks = p.Acks,
                LingerMs = p.LingerMs,
                BatchRecordsMax = p.BatchRecordsMax,
                Retries = p.Retries,
                RetryBackoffMs = 100,
                DeliveryTimeoutMs = p.DeliveryTimeoutMs,
                // The broker answers REQUEST_TIMED_OUT before the client gives up on the request.
                AckTimeoutMs = Math.Max(1, p.RequestTimeoutMs / 2),
                Compression = p.Compression,
                EnableIdempotence = p.Idempotence,
            });
            state.Workers.Clear();
            for (int i = 0; i < p.Workers; i++)
            {
                var worker = new Worker(_nextProcess++);
                state.Workers.Add(worker);
                if (p.Acks == -1) _acksAll.Add(worker.Process);
                ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
            }
            if (p.Transactional) StartTransactional(host, client, state); // Workload.Transactions.cs
            what = $"producer processes {string.Join(",", state.Workers.Select(w => w.Process))} (acks={p.Acks}{(p.Transactional ? ", transactional" : "")})";
        }
        else if (spec.ConsumerSpec!.GroupMember >= 0)
        {
            what = StartGroupMember(host, client, state);
        }
        else
        {
            var c = spec.ConsumerSpec!;
            var consumer = new Consumer(client, new ConsumerOptions
            {
                FetchMaxWaitMs = c.FetchMaxWaitMs,
                MaxPartitionFetchBytes = c.MaxPartitionFetchBytes,
                IsolationLevel = c.IsolationLevel,
                RetryBackoffMs = 100,
                AutoOffsetReset = OffsetResetPolicy.Earliest,
            });
            consumer.PartitionError = (tp, error, message) => _world.Note(host.Name, "consumer-error", $"{tp} {error}: {message}");
            if (_world.Cluster is { } cluster) consumer.Fetched = (tp, hw, records) => cluster.OnFetched(host.Name, tp, hw, records);
            host.Consumer = consumer;
            var process = new ConsumerProcess(_nextProcess++);
            state.Consumer = process;
            var partitions = AllPartitions;
            IReadOnlyDictionary<TopicPartition, long>? start = c.ResumeAfterCrash && state.Positions.Count > 0
                ? new SortedDictionary<TopicPartition, long>(state.Positions, TopicPartitionComparer.Instance)
                : null;
            consumer.Assign(partitions, start);
            if (start is not null)
                foreach (var (tp, offset) in start) process.Taken[tp] = offset;
            var assigned = new PollOp(partitions.Select(tp => new PolledPartition(tp, [])).ToList());
            HistoryLog.Add(process.Process, OpType.Invoke, OpKind.Assign, _world.NowMs, [assigned]);
            HistoryLog.Add(process.Process, OpType.Ok, OpKind.Assign, _world.NowMs, [assigned]);
            ScheduleConsumerPoll(host, process, _world.NowUs + 1000);
            what = $"consumer process {process.Process} from {(start is null ? "earliest" : "stored positions")}";
        }
        _world.ClientInput(host, _ => { });
        return what;
    }

    // ---- group members ---------------------------------------------------------------------------------------

    private GroupWorkload Group => Options.Group!;

    private string StartGroupMember(ClientHost host, KafkaClient client, HostState state)
    {
        var consumer = new Consumer(client, new ConsumerOptions
        {
            FetchMaxWaitMs = host.ConsumerSpec!.FetchMaxWaitMs,
            MaxPartitionFetchBytes = host.ConsumerSpec.MaxPartitionFetchBytes,
            RetryBackoffMs = 100,
            AutoOffsetReset = OffsetResetPolicy.Earliest,
        });
        host.Consumer = consumer;
        var membership = new GroupMembership(client, consumer, Options.Topic, new GroupOptions
        {
            GroupId = GroupWorkload.GroupId,
            GroupInstanceId = Group.Static ? "static-" + host.Name : null,
            SessionTimeoutMs = Group.SessionTimeoutMs,
            RebalanceTimeoutMs = Group.SessionTimeoutMs,
            HeartbeatIntervalMs = Math.Max(100, Group.SessionTimeoutMs / 4),
        });
        var process = new GroupProcess(_nextProcess++, membership);
        state.Group = process;
        string name = host.Name + "/p" + process.Process.ToString(CultureInfo.InvariantCulture);
        membership.Note = note => _world.Note(host.Name, "group", note);
        membership.Assigned = (generation, member, partitions, starts) =>
        {
            _world.Groups!.OnAssigned(generation, host.Name, partitions);
            _world.Note(host.Name, "group-assigned", $"p{process.Process} generation {generation}: {string.Join(",", partitions.Select(tp => tp.Partition))}");
        };
        ScheduleGroupPoll(host, process, _world.NowUs + 1000);
        return $"group member process {process.Process}{(Group.Static ? " (static)" : "")}";
    }

    private void ScheduleGroupPoll(ClientHost host, GroupProcess process, long atUs)
    {
        int incarnation = host.Incarnation;
        _world.ScheduleClientTimer(host, atUs, "group-poll", () =>
        {
            if (host.Incarnation != incarnation || host.Consumer is not { } consumer) return null;
            var result = GroupPoll(host, process, consumer);
            ScheduleGroupPoll(host, process, _world.NowUs + Options.PollWindowMs * 1000L);
            _world.ClientInput(host, _ => { });
            return result;
        });
    }

    /// <summary>One poll of a group member: take what is buffered; commit-after-process processes it and then
    /// commits the positions; commit-before-process commits first and processes only once the commit is
    /// acknowledged (a failed commit drops the records: at-most-once). With nothing new, positions not yet
    /// acknowledged are committed again.</summary>
    private TraceDetails GroupPoll(ClientHost host, GroupProcess process, Consumer consumer)
    {
        if (process.Membership.IsPaused) return null;
        if (!_world.InLivenessPhase && Random.NextBool(0.01))
        {
            // The member's process stalls for half to twice its session timeout: often long enough to be
            // expired, rebalanced away and to come back to UNKNOWN_MEMBER_ID (GROUPS.md).
            long ms = (long)(Group.SessionTimeoutMs * (0.5 + 1.5 * Random.NextDouble()));
            process.Membership.PauseUntil(host.Clock.MonotonicMs + ms);
            _world.Note(host.Name, "group-pause", $"p{process.Process} stalls for {ms} ms");
            return null;
        }
        if (process.CommitPending || !process.Membership.IsStable) return null;
        string name = host.Name + "/p" + process.Process.ToString(CultureInfo.InvariantCulture);
        // Everything buffered: the positions committed below are then exactly what was taken.
        var records = consumer.TakeRecords(int.MaxValue);
        var positions = new SortedDictionary<TopicPartition, long>(TopicPartitionComparer.Instance);
        foreach (var tp in process.Membership.Assignment)
            if (consumer.Position(tp) is { } position && position > process.LastAcked.GetValueOrDefault(tp, -1)) positions[tp] = position;
        foreach (var r in records) positions[r.Partition] = Math.Max(positions.GetValueOrDefault(r.Partition), r.Offset + 1);
        void Process()
        {
            foreach (var r in records)
            {
                long value = r.Value is { Length: 8 } v ? BinaryPrimitives.ReadInt64BigEndian(v) : -1;
                _world.Groups!.OnProcessed(value, name, r.Partition, r.Offset);
            }
        }
        if (Group.CommitAfterProcess) Process();
        if (positions.Count == 0) return null;
        int incarnation = host.Incarnation;
        process.CommitPending = true;
        bool sent = process.Membership.Commit(positions, error =>
        {
            process.CommitPending = false;
            if (host.Incarnation != incarnation) return;
            if (error == Core.Protocol.ErrorCode.None)
            {
                foreach (var (tp, offset) in positions)
                {
                    process.LastAcked[tp] = offset;
                    _world.Groups!.OnCommitAcked(tp, offset);
                }
                if (!Group.CommitAfterProcess) Process();
            }
            _world.Note(host.Name, "group-commit", $"p{process.Process} {string.Join(",", positions.Select(kv => kv.Key.Partition + "@" + kv.Value))} {error}");
        });
        if (!sent) process.CommitPending = false;
        return _world.Details($"p{process.Process} took {records.Count}, commit {(sent ? "sent" : "not possible")}");
    }

    // ---- producers -----------------------------------------------------------------------------------------

    private void ScheduleInvoke(ClientHost host, Worker worker, long atUs)
    {
        int incarnation = host.Incarnation;
        _world.ScheduleClientTimer(host, atUs, "send-invoke", () => Invoke(host, incarnation, worker));
    }

    private bool WantsToSend(Worker worker)
        => !_world.InLivenessPhase || worker.LivenessCompleted < Options.LivenessSendsPerWorker;

    private TraceDetails Invoke(ClientHost host, int incarnation, Worker worker)
    {
        if (host.Incarnation != incarnation || host.Producer is not { } producer || worker.Pending) return null;
        if (!StateOf(host).Workers.Contains(worker) || !WantsToSend(worker)) return null;
        if (_transactional.TryGetValue(worker, out var tw)) return InvokeTransaction(host, incarnation, worker, tw);
        long value = ++_nextValue;
        var tp = new TopicPartition(Options.Topic, Random.NextInt(0, Options.Partitions));
        worker.Pending = true;
        worker.PendingPartition = tp;
        worker.PendingValue = value;
        HistoryLog.Add(worker.Process, OpType.Invoke, OpKind.Send, _world.NowMs, [new SendOp(tp, value, null)]);
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        var record = new ProducerRecord(Options.Topic, tp.Partition, Encoding.UTF8.GetBytes("p" + worker.Process.ToString(CultureInfo.InvariantCulture)), bytes);
        bool accepted = producer.Send(record, report => OnDelivery(host, incarnation, worker, tp, value, report));
        if (!accepted)
        {
            worker.Pending = false;
            HistoryLog.Add(worker.Process, OpType.Fail, OpKind.Send, _world.NowMs, [new SendOp(tp, value, null)], "producer buffer full");
            ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
            return _world.Details($"p{worker.Process} send {value} refused: buffer full");
        }
        _world.ClientInput(host, _ => { });
        return _world.Details($"p{worker.Process} send {value} to {tp}");
    }

    private void OnDelivery(ClientHost host, int incarnation, Worker worker, TopicPartition tp, long value, DeliveryReport report)
    {
        if (host.Incarnation != incarnation || !worker.Pending || worker.PendingValue != value) return;
        worker.Pending = false;
        var (type, offset) = report.Outcome switch
        {
            DeliveryOutcome.Acked => (OpType.Ok, (long?)report.Offset),
            DeliveryOutcome.Failed => (OpType.Fail, null),
            _ => (OpType.Info, null),
        };
        string? error = report.Error == ErrorCode.None ? (type == OpType.Ok ? null : report.Message)
            : report.Error + (report.Message is null ? "" : ": " + report.Message);
        HistoryLog.Add(worker.Process, type, OpKind.Send, _world.NowMs, [new SendOp(tp, value, offset)], error);
        bool acksZero = host.ProducerSpec!.Acks == 0;
        if (_world.InLivenessPhase && (type == OpType.Ok || (acksZero && report.Error == ErrorCode.None))) worker.LivenessCompleted++;
        string kind = type switch { OpType.Ok => "send-ok", OpType.Fail => "send-fail", _ => "send-" + type.ToString().ToLowerInvariant() };
        if (offset is { } o)
        {
            if (error is null) _world.Note(host.Name, kind, $"p{worker.Process} {value} {tp} @{o}");
            else _world.Note(host.Name, kind, $"p{worker.Process} {value} {tp} @{o} {error}");
        }
        else if (error is null) _world.Note(host.Name, kind, $"p{worker.Process} {value} {tp}");
        else _world.Note(host.Name, kind, $"p{worker.Process} {value} {tp} {error}");
        ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
    }

    // ---- consumers -----------------------------------------------------------------------------------------

    private void ScheduleConsumerPoll(ClientHost host, ConsumerProcess process, long atUs)
    {
        int incarnation = host.Incarnation;
        _world.ScheduleClientTimer(host, atUs, "poll-invoke", () =>
        {
            if (host.Incarnation != incarnation || host.Consumer is null || process.PollPending) return null;
            process.PollPending = true;
            int token = ++process.PollToken;
            HistoryLog.Add(process.Process, OpType.Invoke, OpKind.Poll, _world.NowMs, [new PollOp([])]);
            _world.ScheduleClientTimer(host, _world.NowUs + Options.PollWindowMs * 1000L, "poll-window", () =>
                host.Incarnation == incarnation && process.PollPending && process.PollToken == token
                    ? CompletePoll(host, process) : null);
            if (host.Consumer.BufferedRecords > 0) return CompletePoll(host, process);
            return $"p{process.Process} poll";
        });
    }

    internal void AfterClientInput(ClientHost host)
    {
        if (host.Consumer is not { BufferedRecords: > 0 }) return;
        var process = StateOf(host).Consumer;
        if (process is { PollPending: true }) CompletePoll(host, process);
    }

    private string CompletePoll(ClientHost host, ConsumerProcess process)
    {
        var consumer = host.Consumer!;
        var records = consumer.TakeRecords(1_000);
        var byPartition = new List<(TopicPartition Tp, List<PolledRecord> Records)>();
        var state = StateOf(host);
        foreach (var r in records)
        {
            long value = r.Value is { Length: 8 } v ? BinaryPrimitives.ReadInt64BigEndian(v) : -1;
            if (value < 0) _world.Note(host.Name, "consumer-error", $"{r.Partition}@{r.Offset} holds a value that is not a workload long");
            int at = -1; // a loop, not FindIndex: its lambda would capture the record, an allocation per record
            for (int i = 0; i < byPartition.Count && at < 0; i++)
                if (byPartition[i].Tp.Equals(r.Partition)) at = i;
            if (at < 0)
            {
                byPartition.Add((r.Partition, new List<PolledRecord>()));
                at = byPartition.Count - 1;
            }
            byPartition[at].Records.Add(new PolledRecord(r.Offset, value));
            process.Taken[r.Partition] = r.Offset + 1;
            state.Positions[r.Partition] = r.Offset + 1;
        }
        // With nothing left buffered, a position past the last record taken means the consumer skipped markers or
        // aborted data (transactions): the application has read up to there.
        if (consumer.BufferedRecords == 0)
            foreach (var tp in process.Taken.Keys.ToList().Concat(AllPartitions).Distinct())
                if (consumer.Position(tp) is { } position && position > process.Taken.GetValueOrDefault(tp))
                    process.Taken[tp] = state.Positions[tp] = position;
        var poll = new PollOp(byPartition.Select(x => new PolledPartition(x.Tp, x.Records)).ToList());
        HistoryLog.Add(process.Process, OpType.Ok, OpKind.Poll, _world.NowMs, [poll]);
        process.PollPending = false;
        long think = 1000 + (long)Random.NextBelow((ulong)Math.Max(1, Options.PollWindowMs * 500L));
        ScheduleConsumerPoll(host, process, _world.NowUs + think);
        string summary = string.Join(" ", byPartition.Select(x => $"{x.Tp}:{x.Records[0].Offset}..{x.Records[^1].Offset}"));
        _world.Note(host.Name, "poll-ok", $"p{process.Process} {records.Count} records {summary}".TrimEnd());
        return $"p{process.Process} polled {records.Count}";
    }

    // ---- crashes and phases --------------------------------------------------------------------------------

    /// <summary>The host's process dies: what it had pending completes as Info (it may or may not have happened).</summary>
    internal void OnCrash(ClientHost host)
    {
        if (host.IsAdmin)
        {
            _world.Admin!.OnCrash(host);
            return;
        }
        var state = StateOf(host);
        foreach (var worker in state.Workers)
        {
            if (OnCrashTransactional(worker)) continue;
            if (!worker.Pending) continue;
            worker.Pending = false;
            HistoryLog.Add(worker.Process, OpType.Info, OpKind.Send, _world.NowMs,
                [new SendOp(worker.PendingPartition, worker.PendingValue, null)], "client crashed");
        }
        state.Workers.Clear();
        if (state.Consumer is { PollPending: true } c)
        {
            c.PollPending = false;
            HistoryLog.Add(c.Process, OpType.Info, OpKind.Poll, _world.NowMs, [new PollOp([])], "client crashed");
        }
        state.Consumer = null;
        state.Group = null;
    }

    /// <summary>The liveness phase starts: idle workers get going for their last sends.</summary>
    internal void OnHeal()
    {
        foreach (var host in _world.Clients)
        {
            if (host.Producer is null) continue;
            foreach (var worker in StateOf(host).Workers)
                if (!worker.Pending) ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
        }
    }

    /// <summary>True when <see cref="LivenessGaps"/> would be empty; cheap enough to ask after every event.</summary>
    public bool LivenessGoalMet()
    {
        foreach (var host in _world.Clients)
        {
            if (!host.IsUp) return false;
            if (host.IsAdmin) continue;
            var state = StateOf(host);
            if (host.Producer is not null)
            {
                foreach (var w in state.Workers)
                    if (w.Pending || w.LivenessCompleted < Options.LivenessSendsPerWorker) return false;
                continue;
            }
            if (state.Group is not null)
            {
                if (_world.CoordinatorOf(GroupWorkload.GroupId) is null) return false;
                continue; // checked as a whole below
            }
            var process = state.Consumer!;
            for (int p = 0; p < Options.Partitions; p++)
            {
                var tp = new TopicPartition(Options.Topic, p);
                var partition = _world.LeaderPartition(tp);
                if (partition is null || process.Taken.GetValueOrDefault(tp) < partition.HighWatermark) return false;
            }
        }
        if (_world.Options.IsCluster && ClusterGap() is not null) return false;
        return Options.Group is null || GroupGaps(stopAtFirst: true).Count == 0;
    }

    /// <summary>A cluster's share of the liveness goal: every partition has a leader a majority of its replicas follow,
    /// and that leader's high watermark has reached its log end (everything appended is committed, so every
    /// acknowledged record is readable below it; a new leader's high watermark is established). Null when met.</summary>
    private string? ClusterGap()
    {
        foreach (var tp in AllPartitions)
        {
            if (Invariants.ClusterChecks.MajorityLeader(_world, tp)?.Broker?.Replicas.GetPartition(tp) is not { } leader)
                return $"{tp}: no leader followed by a majority of its replicas";
            if (leader.HighWatermark < leader.Log.LogEndOffset)
                return $"{tp}: the leader's high watermark {leader.HighWatermark} is below its log end {leader.Log.LogEndOffset}";
        }
        return null;
    }

    /// <summary>The group's share of the liveness goal: stable with exactly the running members, and its
    /// committed offsets at every partition's high watermark.</summary>
    private List<string> GroupGaps(bool stopAtFirst)
    {
        var gaps = new List<string>();
        var broker = _world.CoordinatorOf(GroupWorkload.GroupId);
        var group = broker?.Groups.FindGroup(GroupWorkload.GroupId);
        int running = _world.Clients.Count(h => h.IsUp && h.ConsumerSpec?.GroupMember >= 0);
        if (broker is null || group is null || group.State != Core.Groups.GroupState.Stable || group.Members.Count != running)
        {
            gaps.Add($"group {GroupWorkload.GroupId}: {group?.State.ToString() ?? "absent"} with {group?.Members.Count ?? 0} members, {running} running");
            if (stopAtFirst || broker is null) return gaps;
        }
        foreach (var tp in AllPartitions)
        {
            long hw = _world.LeaderPartition(tp)?.HighWatermark ?? 0;
            long committed = group?.Offsets.GetValueOrDefault(tp)?.Offset ?? 0;
            if (committed < hw)
            {
                gaps.Add($"group {GroupWorkload.GroupId}: {tp} committed {committed}, high watermark {hw}");
                if (stopAtFirst) return gaps;
            }
        }
        return gaps;
    }

    /// <summary>
    /// The liveness phase's goal: every producer worker completed its quota of sends after the heal (Ok, or
    /// sent for acks=0) and has nothing pending; every consumer has taken every record below each partition's
    /// high watermark. Returns what is still missing (empty when done).
    /// </summary>
    public IReadOnlyList<string> LivenessGaps()
    {
        var gaps = new List<string>();
        foreach (var host in _world.Clients)
        {
            if (!host.IsUp)
            {
                gaps.Add(host.Name + " is down");
                continue;
            }
            if (host.IsAdmin) continue;
            var state = StateOf(host);
            if (host.Producer is not null)
            {
                foreach (var w in state.Workers)
                    if (w.Pending || w.LivenessCompleted < Options.LivenessSendsPerWorker)
                        gaps.Add($"{host.Name} p{w.Process}: {w.LivenessCompleted}/{Options.LivenessSendsPerWorker} sends done since the heal{(w.Pending ? ", one pending" : "")}");
                continue;
            }
            if (state.Group is not null) continue;
            var process = state.Consumer!;
            foreach (var tp in AllPartitions)
            {
                var partition = _world.LeaderPartition(tp);
                if (partition is null)
                {
                    gaps.Add($"{tp}: no node leads it");
                    continue;
                }
                long taken = process.Taken.GetValueOrDefault(tp);
                if (taken < partition.HighWatermark) gaps.Add($"{host.Name} p{process.Process}: {tp} read to {taken}, high watermark {partition.HighWatermark}");
            }
        }
        if (Options.Group is not null) gaps.AddRange(GroupGaps(stopAtFirst: false));
        if (_world.Options.IsCluster && ClusterGap() is { } clusterGap) gaps.Add(clusterGap);
        return gaps;
    }
}
