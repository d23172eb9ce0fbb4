using DetKafka.Core.Protocol;
using DetKafka.Sim.Checkers;
using DetKafka.Sim.History;
using SimHistory = DetKafka.Sim.History.History;

namespace DetKafka.Properties.Checkers;

/// <summary>Builds histories by hand: each operation is an invoke immediately followed by its completion, and
/// every method returns the completion's index (the one anomalies name).</summary>
internal sealed class HistoryBuilder
{
    public static readonly TopicPartition P0 = new("t", 0);
    public static readonly TopicPartition P1 = new("t", 1);

    public SimHistory History { get; } = new();
    private long _time;

    /// <summary>Acknowledged sends: (partition, value, offset) each.</summary>
    public int SendOk(int process, params (TopicPartition P, long Value, long Offset)[] sends) =>
        Op(process, OpKind.Send, OpType.Ok,
            sends.Select(s => (MicroOp)new SendOp(s.P, s.Value, null)).ToList(),
            sends.Select(s => (MicroOp)new SendOp(s.P, s.Value, s.Offset)).ToList());

    /// <summary>acks=0-style acknowledged sends: Ok, no offset known.</summary>
    public int SendOkNoOffset(int process, params (TopicPartition P, long Value)[] sends) =>
        Op(process, OpKind.Send, OpType.Ok, Sends(sends), Sends(sends));

    public int SendInfo(int process, params (TopicPartition P, long Value)[] sends) =>
        Op(process, OpKind.Send, OpType.Info, Sends(sends), Sends(sends));

    public int SendFail(int process, params (TopicPartition P, long Value)[] sends) =>
        Op(process, OpKind.Send, OpType.Fail, Sends(sends), Sends(sends));

    /// <summary>An Ok poll reading (partition, offset, value) records, grouped per partition in the order given.</summary>
    public int Poll(int process, params (TopicPartition P, long Offset, long Value)[] records) =>
        Op(process, OpKind.Poll, OpType.Ok, [new PollOp([])], [PollOf(records)]);

    public int PollWithType(int process, OpType type, params (TopicPartition P, long Offset, long Value)[] records) =>
        Op(process, OpKind.Poll, type, [new PollOp([])], [PollOf(records)]);

    public int Assign(int process) => Op(process, OpKind.Assign, OpType.Ok, [], []);

    /// <summary>A transaction: completion micro-ops given in full (sends with offsets when Ok).</summary>
    public int Txn(int process, OpType type, params MicroOp[] completion) =>
        Op(process, OpKind.Transaction, type,
            completion.Select(m => m is SendOp s ? new SendOp(s.Partition, s.Value, null) : (MicroOp)new PollOp([])).ToList(),
            completion);

    public static PollOp PollOf(params (TopicPartition P, long Offset, long Value)[] records)
    {
        var parts = new List<PolledPartition>();
        foreach (var group in records.GroupBy(r => r.P))
            parts.Add(new PolledPartition(group.Key, group.Select(r => new PolledRecord(r.Offset, r.Value)).ToList()));
        return new PollOp(parts);
    }

    public int Invoke(int process, OpKind kind, IReadOnlyList<MicroOp> value) =>
        History.Add(process, OpType.Invoke, kind, _time++, value).Index;

    public int Complete(int process, OpKind kind, OpType type, IReadOnlyList<MicroOp> value) =>
        History.Add(process, type, kind, _time++, value).Index;

    private int Op(int process, OpKind kind, OpType type, IReadOnlyList<MicroOp> invoke, IReadOnlyList<MicroOp> completion)
    {
        Invoke(process, kind, invoke);
        return Complete(process, kind, type, completion);
    }

    private static List<MicroOp> Sends((TopicPartition P, long Value)[] sends) =>
        sends.Select(s => (MicroOp)new SendOp(s.P, s.Value, null)).ToList();

    public CheckResult Check(CheckerOptions? options = null) => HistoryChecker.Check(History, options ?? new CheckerOptions());
}
