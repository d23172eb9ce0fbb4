using DetKafka.Core.Protocol;

namespace DetKafka.Sim.History;

/// <summary>Jepsen's operation types: every operation is an Invoke followed by exactly one completion.
/// Ok: it happened. Fail: it definitely did not happen. Info: unknown (timed out, connection lost).</summary>
public enum OpType { Invoke, Ok, Fail, Info }

/// <summary>What an operation does. Send and Poll carry micro-ops; Assign marks a consumer (re)assignment,
/// after which poll-skip and nonmonotonic-poll are not judged across the boundary.</summary>
public enum OpKind { Send, Poll, Assign, Transaction }

/// <summary>A micro-op inside an operation (Jepsen's [:send k v] / [:poll {k [[offset v] ...]}]).</summary>
public abstract record MicroOp;

/// <summary>Send <paramref name="Value"/> to a partition. <paramref name="Offset"/> is the offset the broker
/// assigned, known only on an Ok completion (null in the invoke, and in Fail/Info completions).</summary>
public sealed record SendOp(TopicPartition Partition, long Value, long? Offset) : MicroOp;

/// <summary>One poll's result: per partition, the (offset, value) pairs read, in the order read.
/// Empty in the invoke.</summary>
public sealed record PollOp(IReadOnlyList<PolledPartition> Partitions) : MicroOp;

public sealed record PolledPartition(TopicPartition Partition, IReadOnlyList<PolledRecord> Records);

public readonly record struct PolledRecord(long Offset, long Value);

/// <summary>
/// One history entry. <paramref name="Index"/> is its position in the history; <paramref name="Process"/>
/// the client that issued it (a client that crashes continues as a new process number, as in Jepsen);
/// <paramref name="TimeMs"/> virtual time. Completions repeat the invoke's kind and carry the results.
/// </summary>
public sealed record Operation(
    int Index,
    int Process,
    OpType Type,
    OpKind Kind,
    long TimeMs,
    IReadOnlyList<MicroOp> Value,
    string? Error = null);

/// <summary>An ordered history of operations, appended to by the simulator's workload clients.</summary>
public sealed class History
{
    private readonly List<Operation> _ops = new();

    public IReadOnlyList<Operation> Operations => _ops;

    public Operation Add(int process, OpType type, OpKind kind, long timeMs, IReadOnlyList<MicroOp> value, string? error = null)
    {
        var op = new Operation(_ops.Count, process, type, kind, timeMs, value, error);
        _ops.Add(op);
        return op;
    }
}
