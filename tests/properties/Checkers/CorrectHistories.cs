using DetKafka.Core.Protocol;
using DetKafka.Sim.History;
using FsCheck;
using FsCheck.Fluent;
using SimHistory = DetKafka.Sim.History.History;

namespace DetKafka.Properties.Checkers;

/// <summary>The shape of a generated run; the seed drives every choice inside it.</summary>
internal sealed record Scenario(int Seed, int Partitions, int Producers, int Consumers, int Steps)
{
    public static Gen<Scenario> Gen =>
        from seed in FsCheck.Fluent.Gen.Choose(0, int.MaxValue - 1)
        from partitions in FsCheck.Fluent.Gen.Choose(1, 3)
        from producers in FsCheck.Fluent.Gen.Choose(1, 4)
        from consumers in FsCheck.Fluent.Gen.Choose(0, 3)
        from steps in FsCheck.Fluent.Gen.Choose(0, 300)
        select new Scenario(seed, partitions, producers, consumers, steps);
}

/// <summary>One record of the model log: its value, the operation that sent it, and whether that send was Ok.</summary>
internal readonly record struct ModelRecord(long Value, int Writer, bool Acknowledged);

/// <summary>
/// Generates histories of a correct Kafka: a model log per partition; producers append whole operations atomically at
/// some point between invoke and completion (Ok with offsets, Info applied or not, Fail never applied, some left open);
/// consumers read contiguous ranges from their position and may reassign to any position; a final consumer then reads
/// every partition from the start.
/// </summary>
internal sealed class CorrectHistory
{
    public required SimHistory History { get; init; }
    public required TopicPartition[] Partitions { get; init; }
    public required List<ModelRecord>[] Logs { get; init; }

    /// <summary>With <c>duplicateAtEnd</c>: the partition and value the broker wrote a second time.</summary>
    public (TopicPartition Partition, long Value)? Duplicated { get; init; }

    private sealed class PendingSend
    {
        public int Invoke;
        public required List<(int Partition, long Value)> Sends;
        public OpType Outcome;
        public bool Apply;
        public bool Applied;
        public long[] Offsets = [];
    }

    public static CorrectHistory Build(Scenario s, bool duplicateAtEnd = false)
    {
        var random = new Random(s.Seed);
        var history = new SimHistory();
        var partitions = Enumerable.Range(0, s.Partitions).Select(i => new TopicPartition("t", i)).ToArray();
        var logs = partitions.Select(_ => new List<ModelRecord>()).ToArray();
        long time = 0, nextValue = 1;
        var pendingSends = new PendingSend?[s.Producers];
        var positions = Enumerable.Range(0, s.Consumers).Select(_ => new int[s.Partitions]).ToArray();
        var pollPending = new bool[s.Consumers];

        void Apply(PendingSend p)
        {
            p.Offsets = new long[p.Sends.Count];
            for (int i = 0; i < p.Sends.Count; i++)
            {
                var log = logs[p.Sends[i].Partition];
                p.Offsets[i] = log.Count;
                // The writer is the completion, added right after the invoke for this process.
                log.Add(new ModelRecord(p.Sends[i].Value, -1, false));
            }
            p.Applied = true;
        }

        void Complete(int process, PendingSend p)
        {
            if (p.Apply && !p.Applied) Apply(p);
            var micro = new List<MicroOp>();
            for (int i = 0; i < p.Sends.Count; i++)
            {
                long? offset = p.Outcome == OpType.Ok ? p.Offsets[i] : null;
                micro.Add(new SendOp(partitions[p.Sends[i].Partition], p.Sends[i].Value, offset));
            }
            int index = history.Add(process, p.Outcome, OpKind.Send, time++, micro).Index;
            if (p.Applied)
            {
                for (int i = 0; i < p.Sends.Count; i++)
                {
                    var log = logs[p.Sends[i].Partition];
                    int at = (int)p.Offsets[i];
                    log[at] = log[at] with { Writer = index, Acknowledged = p.Outcome == OpType.Ok };
                }
            }
        }

        PollOp Read(int[] position, int maxPerPartition)
        {
            var parts = new List<PolledPartition>();
            for (int p = 0; p < s.Partitions; p++)
            {
                if (random.Next(3) == 0) continue;
                int n = Math.Min(random.Next(maxPerPartition + 1), logs[p].Count - position[p]);
                if (n <= 0) continue;
                var records = new List<PolledRecord>(n);
                for (int i = 0; i < n; i++) records.Add(new PolledRecord(position[p] + i, logs[p][position[p] + i].Value));
                position[p] += n;
                parts.Add(new PolledPartition(partitions[p], records));
            }
            return new PollOp(parts);
        }

        for (int step = 0; step < s.Steps; step++)
        {
            int who = random.Next(s.Producers + s.Consumers);
            if (who < s.Producers)
            {
                int process = who + 1;
                var p = pendingSends[who];
                if (p is null)
                {
                    var sends = new List<(int, long)>();
                    int count = random.Next(1, 4);
                    for (int i = 0; i < count; i++) sends.Add((random.Next(s.Partitions), nextValue++));
                    int roll = random.Next(10);
                    var outcome = roll < 8 ? OpType.Ok : roll == 8 ? OpType.Info : OpType.Fail;
                    p = new PendingSend
                    {
                        Sends = sends, Outcome = outcome,
                        Apply = outcome == OpType.Ok || (outcome == OpType.Info && random.Next(2) == 0),
                    };
                    p.Invoke = history.Add(process, OpType.Invoke, OpKind.Send, time++,
                        sends.Select(x => (MicroOp)new SendOp(partitions[x.Item1], x.Item2, null)).ToList()).Index;
                    pendingSends[who] = p;
                }
                else if (p.Apply && !p.Applied)
                {
                    Apply(p);
                }
                else
                {
                    Complete(process, p);
                    pendingSends[who] = null;
                }
            }
            else
            {
                int c = who - s.Producers;
                int process = 100 + c;
                if (pollPending[c])
                {
                    history.Add(process, OpType.Ok, OpKind.Poll, time++, [Read(positions[c], 4)]);
                    pollPending[c] = false;
                }
                else if (random.Next(10) == 0)
                {
                    history.Add(process, OpType.Invoke, OpKind.Assign, time++, []);
                    for (int p = 0; p < s.Partitions; p++) positions[c][p] = random.Next(logs[p].Count + 1);
                    history.Add(process, OpType.Ok, OpKind.Assign, time++, []);
                }
                else
                {
                    history.Add(process, OpType.Invoke, OpKind.Poll, time++, [new PollOp([])]);
                    pollPending[c] = true;
                }
            }
        }

        for (int c = 0; c < s.Consumers; c++)
        {
            if (pollPending[c]) history.Add(100 + c, OpType.Ok, OpKind.Poll, time++, [Read(positions[c], 4)]);
        }
        for (int who = 0; who < s.Producers; who++)
        {
            var p = pendingSends[who];
            if (p is null) continue;
            // Leave some operations open for ever: the checker must take them as Info.
            if (random.Next(3) == 0)
            {
                if (p.Applied)
                {
                    for (int i = 0; i < p.Sends.Count; i++)
                    {
                        var log = logs[p.Sends[i].Partition];
                        int at = (int)p.Offsets[i];
                        log[at] = log[at] with { Writer = p.Invoke };
                    }
                }
                continue;
            }
            Complete(who + 1, p);
        }

        (TopicPartition, long)? duplicated = null;
        if (duplicateAtEnd)
        {
            var candidates = new List<(int Partition, ModelRecord Record)>();
            for (int p = 0; p < s.Partitions; p++)
                candidates.AddRange(logs[p].Where(r => r.Acknowledged).Select(r => (p, r)));
            if (candidates.Count > 0)
            {
                var (p, record) = candidates[random.Next(candidates.Count)];
                logs[p].Add(record with { Acknowledged = false });
                duplicated = (partitions[p], record.Value);
            }
        }

        const int final = 1000;
        history.Add(final, OpType.Invoke, OpKind.Assign, time++, []);
        history.Add(final, OpType.Ok, OpKind.Assign, time++, []);
        for (int p = 0; p < s.Partitions; p++)
        {
            for (int at = 0; at < logs[p].Count;)
            {
                int n = Math.Min(random.Next(1, 8), logs[p].Count - at);
                var records = Enumerable.Range(at, n).Select(i => new PolledRecord(i, logs[p][i].Value)).ToList();
                history.Add(final, OpType.Invoke, OpKind.Poll, time++, [new PollOp([])]);
                history.Add(final, OpType.Ok, OpKind.Poll, time++, [new PollOp([new PolledPartition(partitions[p], records)])]);
                at += n;
            }
        }
        return new CorrectHistory { History = history, Partitions = partitions, Logs = logs, Duplicated = duplicated };
    }

    /// <summary>A copy of the history with each operation's micro-ops passed through <paramref name="rewrite"/>.</summary>
    public SimHistory Rewrite(Func<Operation, IReadOnlyList<MicroOp>> rewrite)
    {
        var copy = new SimHistory();
        foreach (var op in History.Operations) copy.Add(op.Process, op.Type, op.Kind, op.TimeMs, rewrite(op), op.Error);
        return copy;
    }
}
