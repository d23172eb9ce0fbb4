using System.Globalization;
using System.Runtime.InteropServices;
using DetKafka.Core.Protocol;
using DetKafka.Sim.History;
using Invariant = DetKafka.Core.Util.Check;

namespace DetKafka.Sim.Checkers;

/// <summary>
/// Checks a Jepsen-style Kafka history (<see cref="DetKafka.Sim.History.History"/>) against what the run promised.
/// Follows the definitions of Jepsen's Kafka workload (jepsen.tests.kafka): a version order per partition is built
/// from acknowledged sends and every poll, and each anomaly is judged against it. Runs in a few linear passes
/// (plus sorting each partition's offsets), so million-operation histories check in seconds.
/// </summary>
public static class HistoryChecker
{
    public static CheckResult Check(DetKafka.Sim.History.History history, CheckerOptions options)
    {
        ArgumentNullException.ThrowIfNull(history);
        return Check(history.Operations, options);
    }

    /// <summary>Checks a list of operations whose <see cref="Operation.Index"/> is their position in the list.</summary>
    public static CheckResult Check(IReadOnlyList<Operation> operations, CheckerOptions options)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var run = new Run(operations, options);
        run.Collect();
        run.WalkInOrder();
        run.JudgeValues();
        run.FindCycles();
        return run.Result();
    }

    /// <summary>An operation as the checker sees it: its completion (or, for one that never completed, its invoke
    /// taken as Info) with the micro-ops that carry its results.</summary>
    private readonly record struct Completed(int Index, int Process, OpType Type, OpKind Kind, IReadOnlyList<MicroOp> Ops);

    private struct SendTrack
    {
        public long? FirstPos;
        public long FirstValue;
        public long? LastPos;
        public long LastValue;
    }

    private struct PollTrack
    {
        public long FirstOffset;
        public long FirstValue;
        public long LastOffset;
        public long LastValue;
        public int LastMicroOp;
    }

    private readonly record struct LastSend(long? Position, long Value, int Op, bool Acknowledged);

    private readonly record struct LastPoll(long Offset, long Value, int Op);

    private sealed class Run(IReadOnlyList<Operation> ops, CheckerOptions options)
    {
        private readonly Dictionary<TopicPartition, PartitionLog> _logs = new();
        private readonly List<Completed> _completed = new();
        private readonly List<int> _readWriteOps = new(); // indexes into _completed
        private readonly Findings _findings = new(options.MaxReportedPerName);
        private PartitionLog[] _sortedLogs = [];

        private PartitionLog Log(TopicPartition partition)
        {
            ref var log = ref CollectionsMarshal.GetValueRefOrAddDefault(_logs, partition, out bool exists);
            if (!exists) log = new PartitionLog(partition);
            return log!;
        }

        // ---- pass 1: pair invokes with completions; build each partition's version order ----

        public void Collect()
        {
            var pending = new Dictionary<int, Operation>();
            for (int i = 0; i < ops.Count; i++)
            {
                var op = ops[i];
                Invariant.That(op.Index == i, "an operation's Index is its position in the history");
                if (op.Type == OpType.Invoke)
                {
                    // A second invoke before a completion means the first never completed: unknown, like Info.
                    if (pending.Remove(op.Process, out var orphan)) Record(AsInfo(orphan));
                    pending[op.Process] = op;
                    continue;
                }
                IReadOnlyList<MicroOp> micro = op.Value;
                if (pending.Remove(op.Process, out var invoke) && micro.Count == 0) micro = invoke.Value;
                Record(new Completed(op.Index, op.Process, op.Type, op.Kind, micro));
            }
            // Operations still open when the run ended may or may not have happened: Jepsen treats them as Info.
            foreach (var invoke in pending.Values.OrderBy(o => o.Index)) Record(AsInfo(invoke));

            _sortedLogs = _logs.Values.OrderBy(l => l.Partition).ToArray();
            foreach (var log in _sortedLogs) log.Seal();
        }

        private static Completed AsInfo(Operation invoke) =>
            new(invoke.Index, invoke.Process, OpType.Info, invoke.Kind, invoke.Value);

        private void Record(Completed c)
        {
            _completed.Add(c);
            if (c.Kind == OpKind.Assign) return;
            foreach (var micro in c.Ops)
            {
                switch (micro)
                {
                    case SendOp send:
                    {
                        var log = Log(send.Partition);
                        var info = log.Value(send.Value);
                        info.Sends++;
                        switch (c.Type)
                        {
                            case OpType.Ok:
                                if (info.OkWriter < 0) info.OkWriter = c.Index;
                                // Only an acknowledged send's offset is known to be where the value landed.
                                if (send.Offset is long offset) log.Sight(offset, send.Value, c.Index, byPoll: false);
                                break;
                            case OpType.Info:
                                if (info.InfoWriter < 0) info.InfoWriter = c.Index;
                                break;
                            case OpType.Fail:
                                if (info.FailWriter < 0) info.FailWriter = c.Index;
                                if (c.Kind != OpKind.Transaction) info.FailedPlainSend = true;
                                break;
                        }
                        break;
                    }
                    case PollOp poll:
                        // Every poll counts, whatever its completion: a consumer is meant to return only real data.
                        foreach (var polled in poll.Partitions)
                        {
                            if (polled.Records.Count == 0) continue;
                            var log = Log(polled.Partition);
                            foreach (var record in polled.Records) log.Sight(record.Offset, record.Value, c.Index, byPoll: true);
                        }
                        break;
                }
            }
        }

        // ---- pass 2: per process and per operation, in history order ----

        public void WalkInOrder()
        {
            var lastPolls = new Dictionary<int, Dictionary<TopicPartition, LastPoll>>();
            var lastSends = new Dictionary<int, Dictionary<TopicPartition, LastSend>>();
            var opSends = new Dictionary<TopicPartition, SendTrack>();
            var opPolls = new Dictionary<TopicPartition, PollTrack>();
            var ownSends = new HashSet<(TopicPartition, long)>();
            var ownReported = new HashSet<(TopicPartition, long)>();

            for (int ci = 0; ci < _completed.Count; ci++)
            {
                var c = _completed[ci];
                if (c.Kind == OpKind.Assign)
                {
                    // After a (possible) reassignment the consumer may start anywhere: do not judge across it.
                    if (c.Type is OpType.Ok or OpType.Info && lastPolls.TryGetValue(c.Process, out var assigned)) assigned.Clear();
                    continue;
                }
                opSends.Clear();
                opPolls.Clear();
                bool hasSend = false, hasPoll = false;
                bool mayHaveHappened = c.Type is OpType.Ok or OpType.Info;
                for (int k = 0; k < c.Ops.Count; k++)
                {
                    switch (c.Ops[k])
                    {
                        case SendOp send:
                            hasSend = true;
                            if (mayHaveHappened) TrackSend(c, send, opSends);
                            break;
                        case PollOp poll:
                            foreach (var polled in poll.Partitions)
                            {
                                if (polled.Records.Count == 0) continue;
                                hasPoll = true;
                                TrackPoll(c, k, polled, opPolls);
                            }
                            break;
                    }
                }
                if (opSends.Count > 0) JudgeSendOrder(c, opSends, lastSends);
                if (opPolls.Count > 0) JudgePollOrder(c, opPolls, lastPolls);
                if (hasSend && hasPoll)
                {
                    JudgeOwnReads(c, ownSends, ownReported);
                    if (mayHaveHappened) _readWriteOps.Add(ci);
                }
            }
        }

        private void TrackSend(Completed c, SendOp send, Dictionary<TopicPartition, SendTrack> opSends)
        {
            var log = Log(send.Partition);
            long? position = log.SendPosition(send.Value, c.Type == OpType.Ok ? send.Offset : null);
            ref var track = ref CollectionsMarshal.GetValueRefOrAddDefault(opSends, send.Partition, out bool exists);
            if (!exists)
            {
                track = new SendTrack { FirstPos = position, FirstValue = send.Value, LastPos = position, LastValue = send.Value };
                return;
            }
            if (track.LastPos is long a && position is long b)
            {
                int delta = log.IndexOf(b) - log.IndexOf(a);
                if (delta > 1 && _findings.Note(AnomalyNames.IntSendSkip, false))
                {
                    _findings.Keep(new Anomaly(AnomalyNames.IntSendSkip, log.Partition, [c.Index],
                        Fmt($"op {c.Index} sent {track.LastValue} (offset {a}) then {send.Value} (offset {b}); {Skipped(log, a, b)} landed between. Kafka does not isolate writes."),
                        false));
                }
                else if (delta < 1)
                {
                    // Without idempotence a producer's retries may reorder the batches of one operation.
                    bool forbidden = options.Idempotence;
                    if (_findings.Note(AnomalyNames.IntNonmonotonicSend, forbidden))
                    {
                        _findings.Keep(new Anomaly(AnomalyNames.IntNonmonotonicSend, log.Partition, [c.Index],
                            Fmt($"op {c.Index} sent {track.LastValue} then {send.Value}, but {send.Value} landed at offset {b}, not after offset {a}."),
                            forbidden));
                    }
                }
            }
            track.LastPos = position;
            track.LastValue = send.Value;
        }

        private void TrackPoll(Completed c, int microOp, PolledPartition polled, Dictionary<TopicPartition, PollTrack> opPolls)
        {
            var log = Log(polled.Partition);
            ref var track = ref CollectionsMarshal.GetValueRefOrAddDefault(opPolls, polled.Partition, out bool exists);
            int start = 0;
            if (!exists)
            {
                var first = polled.Records[0];
                track = new PollTrack
                {
                    FirstOffset = first.Offset, FirstValue = first.Value,
                    LastOffset = first.Offset, LastValue = first.Value, LastMicroOp = microOp,
                };
                start = 1;
            }
            int lastIndex = log.IndexOf(track.LastOffset);
            for (int i = start; i < polled.Records.Count; i++)
            {
                var record = polled.Records[i];
                int index = log.IndexOf(record.Offset);
                int delta = index - lastIndex;
                if (delta != 1)
                {
                    // Inside one poll call a partition's records are contiguous. Between two polls of one
                    // transaction a group rebalance may move the partition when subscribed.
                    bool forbidden = (track.LastMicroOp == microOp || options.Consumers == ConsumerMode.Assign)
                        && !(delta > 1 && SkipsOnlyLosable(log, track.LastOffset, record.Offset));
                    if (delta > 1 && _findings.Note(AnomalyNames.IntPollSkip, forbidden))
                    {
                        _findings.Keep(new Anomaly(AnomalyNames.IntPollSkip, log.Partition, [c.Index],
                            Fmt($"op {c.Index} read offset {track.LastOffset} (value {track.LastValue}) then offset {record.Offset} (value {record.Value}), skipping {Skipped(log, track.LastOffset, record.Offset)}."),
                            forbidden));
                    }
                    else if (delta < 1 && _findings.Note(AnomalyNames.IntNonmonotonicPoll, forbidden))
                    {
                        _findings.Keep(new Anomaly(AnomalyNames.IntNonmonotonicPoll, log.Partition, [c.Index],
                            Fmt($"op {c.Index} read offset {track.LastOffset} (value {track.LastValue}) then offset {record.Offset} (value {record.Value}): not forward."),
                            forbidden));
                    }
                }
                lastIndex = index;
                track.LastOffset = record.Offset;
                track.LastValue = record.Value;
            }
            track.LastMicroOp = microOp;
        }

        private void JudgeSendOrder(Completed c, Dictionary<TopicPartition, SendTrack> opSends,
            Dictionary<int, Dictionary<TopicPartition, LastSend>> lastSends)
        {
            ref var mine = ref CollectionsMarshal.GetValueRefOrAddDefault(lastSends, c.Process, out bool exists);
            if (!exists) mine = new Dictionary<TopicPartition, LastSend>();
            foreach (var (partition, track) in opSends)
            {
                if (mine!.TryGetValue(partition, out var previous) && previous.Position is long a && track.FirstPos is long b)
                {
                    var log = _logs[partition];
                    if (log.IndexOf(b) - log.IndexOf(a) < 1)
                    {
                        // An acknowledged write is in place before the next send starts, so that order is fixed.
                        // An unacknowledged one may still be retried by a producer without idempotence.
                        // Where acknowledged writes may be lost (acks=1 in a cluster: a failover to a replica without
                        // them), either send may be a lost write whose offset the log gave to another record: the
                        // order is fixed only when polls saw both values at their offsets.
                        bool mayBeLost = !options.AcknowledgedWritesDurable
                            && !(PolledAt(log, a, previous.Value) && PolledAt(log, b, track.FirstValue));
                        bool forbidden = (previous.Acknowledged && !mayBeLost) || options.Idempotence;
                        if (_findings.Note(AnomalyNames.NonmonotonicSend, forbidden))
                        {
                            _findings.Keep(new Anomaly(AnomalyNames.NonmonotonicSend, partition, [previous.Op, c.Index],
                                Fmt($"process {c.Process} sent {previous.Value} (op {previous.Op}, offset {a}) and later {track.FirstValue} (op {c.Index}), which landed at offset {b}, not after it."),
                                forbidden));
                        }
                    }
                }
                mine[partition] = new LastSend(track.LastPos, track.LastValue, c.Index, c.Type == OpType.Ok);
            }
        }

        private void JudgePollOrder(Completed c, Dictionary<TopicPartition, PollTrack> opPolls,
            Dictionary<int, Dictionary<TopicPartition, LastPoll>> lastPolls)
        {
            ref var mine = ref CollectionsMarshal.GetValueRefOrAddDefault(lastPolls, c.Process, out bool exists);
            if (!exists) mine = new Dictionary<TopicPartition, LastPoll>();
            bool forbidden = options.Consumers == ConsumerMode.Assign;
            foreach (var (partition, track) in opPolls)
            {
                if (mine!.TryGetValue(partition, out var previous))
                {
                    var log = _logs[partition];
                    int delta = log.IndexOf(track.FirstOffset) - log.IndexOf(previous.Offset);
                    bool skipForbidden = delta > 1 && forbidden && !SkipsOnlyLosable(log, previous.Offset, track.FirstOffset);
                    if (delta > 1 && _findings.Note(AnomalyNames.PollSkip, skipForbidden))
                    {
                        _findings.Keep(new Anomaly(AnomalyNames.PollSkip, partition, [previous.Op, c.Index],
                            Fmt($"process {c.Process} last read offset {previous.Offset} (op {previous.Op}); its next poll (op {c.Index}) began at offset {track.FirstOffset}, skipping {Skipped(log, previous.Offset, track.FirstOffset)}."),
                            skipForbidden));
                    }
                    else if (delta < 1 && _findings.Note(AnomalyNames.NonmonotonicPoll, forbidden))
                    {
                        _findings.Keep(new Anomaly(AnomalyNames.NonmonotonicPoll, partition, [previous.Op, c.Index],
                            Fmt($"process {c.Process} last read offset {previous.Offset} (op {previous.Op}); its next poll (op {c.Index}) began at offset {track.FirstOffset}, at or before it."),
                            forbidden));
                    }
                }
                // A failed or indeterminate poll may not have moved the consumer's position (Jepsen: only Ok counts).
                if (c.Type == OpType.Ok) mine[partition] = new LastPoll(track.LastOffset, track.LastValue, c.Index);
            }
        }

        private void JudgeOwnReads(Completed c, HashSet<(TopicPartition, long)> ownSends, HashSet<(TopicPartition, long)> reported)
        {
            ownSends.Clear();
            reported.Clear();
            foreach (var micro in c.Ops)
            {
                if (micro is SendOp send) ownSends.Add((send.Partition, send.Value));
            }
            bool forbidden = options.Isolation == IsolationLevel.ReadCommitted;
            foreach (var micro in c.Ops)
            {
                if (micro is not PollOp poll) continue;
                foreach (var polled in poll.Partitions)
                {
                    foreach (var record in polled.Records)
                    {
                        var key = (polled.Partition, record.Value);
                        if (!ownSends.Contains(key) || !reported.Add(key)) continue;
                        if (_findings.Note(AnomalyNames.PrecommittedRead, forbidden))
                        {
                            _findings.Keep(new Anomaly(AnomalyNames.PrecommittedRead, polled.Partition, [c.Index],
                                Fmt($"op {c.Index} read its own send of {record.Value} (offset {record.Offset}) before it committed."),
                                forbidden));
                        }
                    }
                }
            }
        }

        // ---- pass 3: per partition and value ----

        public void JudgeValues()
        {
            Dictionary<long, TopicPartition>? sentTo = null;
            foreach (var log in _sortedLogs)
            {
                JudgeOffsets(log);

                // Jepsen's lost-write bound: the latest of the earliest offsets of the values read. Every value
                // that sits entirely at or below it should have been read by someone.
                long bound = long.MinValue;
                int boundReader = -1;
                long boundValue = 0;
                foreach (var (value, info) in log.Values)
                {
                    if (info.Read && info.HasOffset && info.MinOffset > bound)
                    {
                        bound = info.MinOffset;
                        boundReader = info.FirstReader;
                        boundValue = value;
                    }
                }

                foreach (var (value, info) in log.Values)
                {
                    if (info.Read && info.Sends == 0)
                    {
                        sentTo ??= SentPartitions();
                        if (_findings.Note(AnomalyNames.InventedValue, true))
                        {
                            string elsewhere = sentTo.TryGetValue(value, out var other)
                                ? Fmt($"; it was sent to {other} only")
                                : "";
                            _findings.Keep(new Anomaly(AnomalyNames.InventedValue, log.Partition, [info.FirstReader],
                                Fmt($"op {info.FirstReader} read {value} at offset {info.FirstReadOffset}, but no operation ever sent {value} to {log.Partition}{elsewhere}."),
                                true));
                        }
                    }
                    else if (info.Read && info.Writer < 0 && info.FailWriter >= 0)
                    {
                        // A plain send that failed was definitely not written. An aborted transaction's records are
                        // in the log, hidden only from read_committed consumers.
                        bool forbidden = info.FailedPlainSend || options.Isolation == IsolationLevel.ReadCommitted;
                        if (_findings.Note(AnomalyNames.G1a, forbidden))
                        {
                            string how = info.FailedPlainSend ? "whose send failed" : "whose transaction aborted";
                            _findings.Keep(new Anomaly(AnomalyNames.G1a, log.Partition, [info.FailWriter, info.FirstReader],
                                Fmt($"op {info.FirstReader} read {value} at offset {info.FirstReadOffset}, {how} (op {info.FailWriter})."),
                                forbidden));
                        }
                    }

                    if (info.OtherOffsets is { } others)
                    {
                        // Idempotence removes the duplicates a producer's own retries make. A value the workload sent
                        // more than once (a retry after an unknown outcome) may land twice in any configuration.
                        bool forbidden = options.Idempotence && info.Sends <= 1;
                        if (_findings.Note(AnomalyNames.Duplicate, forbidden))
                        {
                            var opsShown = new List<int> { info.FirstOffsetOp };
                            var offsets = new List<long> { info.FirstOffset };
                            foreach (var (offset, op) in others)
                            {
                                offsets.Add(offset);
                                if (!opsShown.Contains(op)) opsShown.Add(op);
                            }
                            offsets.Sort();
                            _findings.Keep(new Anomaly(AnomalyNames.Duplicate, log.Partition, opsShown,
                                Fmt($"{value} appears at offsets {string.Join(", ", offsets)} (sent {info.Sends} time(s))."),
                                forbidden));
                        }
                    }

                    if (info.OkWriter >= 0 && !info.Read)
                    {
                        if (info.HasOffset && info.MaxOffset <= bound)
                        {
                            bool forbidden = options.AcknowledgedWritesDurable;
                            if (_findings.Note(AnomalyNames.LostWrite, forbidden))
                            {
                                _findings.Keep(new Anomaly(AnomalyNames.LostWrite, log.Partition, [info.OkWriter, boundReader],
                                    Fmt($"{value} was acknowledged at offset {info.FirstOffset} (op {info.OkWriter}) but never read, though op {boundReader} read {boundValue} at offset {bound}."),
                                    forbidden));
                            }
                        }
                        bool unseenForbidden = options.AcknowledgedWritesDurable && options.FinalReadsComplete;
                        if (_findings.Note(AnomalyNames.Unseen, unseenForbidden))
                        {
                            string where = info.HasOffset ? Fmt($" at offset {info.FirstOffset}") : "";
                            _findings.Keep(new Anomaly(AnomalyNames.Unseen, log.Partition, [info.OkWriter],
                                Fmt($"{value} was acknowledged{where} (op {info.OkWriter}) but no poll ever read it."),
                                unseenForbidden));
                        }
                    }
                }
            }
        }

        private void JudgeOffsets(PartitionLog log)
        {
            if (log.Conflicts is null) return;
            foreach (long offset in log.Conflicts.Keys.OrderBy(o => o))
            {
                var first = log.Offsets[offset];
                var others = log.Conflicts[offset];
                int polledValues = (first.ByPoll ? 1 : 0) + others.Count(o => o.ByPoll);
                // Where acknowledged writes may be lost, the log may truncate and hand a lost write's offset to a
                // later write; consumers must still never disagree among themselves.
                bool forbidden = options.AcknowledgedWritesDurable || polledValues > 1;
                if (!_findings.Note(AnomalyNames.InconsistentOffsets, forbidden)) continue;
                var opsShown = new List<int> { first.FirstOp };
                var values = new List<string> { Describe(first) };
                foreach (var o in others)
                {
                    if (!opsShown.Contains(o.FirstOp)) opsShown.Add(o.FirstOp);
                    values.Add(Describe(o));
                }
                _findings.Keep(new Anomaly(AnomalyNames.InconsistentOffsets, log.Partition, opsShown,
                    Fmt($"offset {offset} holds different values: {string.Join("; ", values)}."),
                    forbidden));
            }

            static string Describe(OffsetEntry e) =>
                Fmt($"{e.Value} ({(e.ByPoll ? "read" : "acknowledged")}, first by op {e.FirstOp})");
        }

        private Dictionary<long, TopicPartition> SentPartitions()
        {
            var sentTo = new Dictionary<long, TopicPartition>();
            foreach (var log in _sortedLogs)
            {
                foreach (var (value, info) in log.Values)
                {
                    if (info.Sends > 0) sentTo.TryAdd(value, log.Partition);
                }
            }
            return sentTo;
        }

        // ---- pass 4: dependency cycles between operations ----

        public void FindCycles()
        {
            var graph = new DependencyGraph(ops.Count);
            foreach (var log in _sortedLogs)
            {
                int previousWriter = -1;
                foreach (long offset in log.Order)
                {
                    int writer = log.Values[log.Offsets[offset].Value].Writer;
                    if (writer >= 0 && previousWriter >= 0) graph.Add(previousWriter, writer, DependencyGraph.WriteWrite);
                    previousWriter = writer;
                }
            }
            // Operations that only read have no outgoing edge and cannot be on a cycle, so wr edges are drawn only
            // into operations that also wrote.
            var writers = new HashSet<int>();
            foreach (int ci in _readWriteOps)
            {
                var c = _completed[ci];
                writers.Clear();
                foreach (var micro in c.Ops)
                {
                    if (micro is not PollOp poll) continue;
                    foreach (var polled in poll.Partitions)
                    {
                        if (polled.Records.Count == 0) continue;
                        var log = _logs[polled.Partition];
                        foreach (var record in polled.Records)
                        {
                            int writer = log.Values[record.Value].Writer;
                            if (writer >= 0 && writer != c.Index && writers.Add(writer)) graph.Add(writer, c.Index, DependencyGraph.WriteRead);
                        }
                    }
                }
            }
            if (graph.EdgeCount == 0) return;
            graph.Freeze();

            // G0: write cycles. Kafka's transactions do not isolate writes, so these are expected.
            var wwComponents = graph.Components(DependencyGraph.WriteWrite, out var wwOf);
            for (int i = 0; i < wwComponents.Count; i++)
            {
                if (!_findings.Note(AnomalyNames.G0, false)) continue;
                var (nodes, kinds) = graph.CycleThrough(wwComponents[i][0], DependencyGraph.WriteWrite, wwOf, i);
                _findings.Keep(new Anomaly(AnomalyNames.G0, null, Distinct(nodes),
                    "write cycle " + Cycle(nodes, kinds) + Fmt($" ({wwComponents[i].Length} operations in the cycle's component)."),
                    false));
            }
            if (!graph.HasWriteRead) return;

            // G1c of read dependencies alone: at read_committed each operation must have committed before the other
            // read from it, which no pair of transactions can both do.
            bool forbidden = options.Isolation == IsolationLevel.ReadCommitted;
            var wrComponents = graph.Components(DependencyGraph.WriteRead, out var wrOf);
            for (int i = 0; i < wrComponents.Count; i++)
            {
                if (!_findings.Note(AnomalyNames.G1c, forbidden)) continue;
                var (nodes, kinds) = graph.CycleThrough(wrComponents[i][0], DependencyGraph.WriteRead, wrOf, i);
                _findings.Keep(new Anomaly(AnomalyNames.G1c, null, Distinct(nodes),
                    "read cycle " + Cycle(nodes, kinds) + ": each operation read a value another one wrote.",
                    forbidden));
            }

            // G1c mixing ww and wr: writes are not isolated, so a transaction may read what a transaction that wrote
            // after it committed. Reported for information.
            var all = graph.Components(DependencyGraph.Any, out var allOf);
            for (int i = 0; i < all.Count; i++)
            {
                if (all[i].Any(n => wrOf[n] >= 0)) continue;
                if (graph.InternalEdge(all[i], allOf, i, DependencyGraph.WriteRead) is not var (u, v)) continue;
                if (!_findings.Note(AnomalyNames.G1c, false)) continue;
                var (nodes, kinds) = graph.Path(v, u, DependencyGraph.Any, allOf, i);
                nodes.Insert(0, u);
                kinds.Insert(0, DependencyGraph.WriteRead);
                _findings.Keep(new Anomaly(AnomalyNames.G1c, null, Distinct(nodes),
                    "cycle " + Cycle(nodes, kinds) + ": mixes write order and reads; Kafka does not isolate writes.",
                    false));
            }
        }

        private static List<int> Distinct(List<int> cycle)
        {
            var result = new List<int>(cycle.Count);
            foreach (int n in cycle)
            {
                if (!result.Contains(n)) result.Add(n);
            }
            return result;
        }

        private static string Cycle(List<int> nodes, List<byte> kinds)
        {
            if (nodes.Count == 0) return "(not extracted)";
            var parts = new List<string> { Fmt($"op {nodes[0]}") };
            for (int i = 0; i < kinds.Count; i++)
            {
                parts.Add(kinds[i] == DependencyGraph.WriteWrite ? "-ww->" : "-wr->");
                parts.Add(Fmt($"op {nodes[i + 1]}"));
            }
            return string.Join(" ", parts);
        }

        public CheckResult Result() => _findings.Build(options, ops.Count);

        private static bool PolledAt(PartitionLog log, long offset, long value)
            => log.Offsets.TryGetValue(offset, out var seen) && seen.ByPoll && seen.Value == value;

        /// <summary>Where acknowledged writes may be lost: every record a poll skipped is known only from a send's
        /// acknowledgement (no poll ever saw it), so it may be a lost write rather than a record the log held.</summary>
        private bool SkipsOnlyLosable(PartitionLog log, long fromOffset, long toOffset)
        {
            if (options.AcknowledgedWritesDurable) return false;
            int from = log.IndexOf(fromOffset), to = log.IndexOf(toOffset);
            for (int i = from + 1; i < to; i++)
                if (log.Offsets[log.Order[i]].ByPoll) return false;
            return true;
        }

        private static string Skipped(PartitionLog log, long fromOffset, long toOffset)
        {
            int from = log.IndexOf(fromOffset), to = log.IndexOf(toOffset);
            int count = to - from - 1;
            var shown = new List<string>();
            for (int i = from + 1; i < to && shown.Count < 8; i++)
            {
                long offset = log.Order[i];
                shown.Add(Fmt($"{log.Offsets[offset].Value}@{offset}"));
            }
            string more = count > shown.Count ? ", ..." : "";
            return Fmt($"{count} known record(s) [{string.Join(", ", shown)}{more}]");
        }
    }

    private static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Counts every anomaly, keeps the first few of each name and verdict.</summary>
    private sealed class Findings(int cap)
    {
        private readonly Dictionary<string, int> _counts = new();
        private readonly Dictionary<string, int> _forbidden = new();
        private readonly Dictionary<(string, bool), int> _kept = new();
        private readonly List<Anomaly> _anomalies = new();
        private (string Name, bool Forbidden)? _expecting;

        /// <summary>Counts one anomaly; true when its details should follow through <see cref="Keep"/>.</summary>
        public bool Note(string name, bool forbidden)
        {
            Invariant.That(_expecting is null, "every Note that answers true is followed by Keep");
            CollectionsMarshal.GetValueRefOrAddDefault(_counts, name, out _)++;
            if (forbidden) CollectionsMarshal.GetValueRefOrAddDefault(_forbidden, name, out _)++;
            ref int kept = ref CollectionsMarshal.GetValueRefOrAddDefault(_kept, (name, forbidden), out _);
            if (kept >= cap) return false;
            kept++;
            _expecting = (name, forbidden);
            return true;
        }

        public void Keep(Anomaly anomaly)
        {
            Invariant.That(_expecting == (anomaly.Name, anomaly.Forbidden), "Keep matches the Note before it");
            _expecting = null;
            _anomalies.Add(anomaly);
        }

        public CheckResult Build(CheckerOptions options, int operations)
        {
            Invariant.That(_expecting is null, "every Note that answers true is followed by Keep");
            return new CheckResult(options, _anomalies,
                new SortedDictionary<string, int>(_counts, StringComparer.Ordinal),
                new SortedDictionary<string, int>(_forbidden, StringComparer.Ordinal),
                operations);
        }
    }
}
