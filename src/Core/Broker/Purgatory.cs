using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// Requests waiting for the log to move, as Kafka's DelayedOperationPurgatory: a produce with acks waits for
/// its offsets to be synced (the high watermark to pass them); a fetch waits for min_bytes or max_wait_ms.
/// Each is retried when a log advances and expires on a timer. Insertion order keeps completion
/// deterministic. Bounded: every waiting request holds an in-flight slot of its connection.
/// </summary>
internal sealed class Purgatory(BrokerNode broker)
{
    private readonly List<IDelayedOperation> _waiting = new();

    public int Count => _waiting.Count;

    public void Add(IDelayedOperation operation, long deadlineMs)
    {
        Check.That(_waiting.Count < broker.Config.MaxConnections * broker.Config.MaxInFlightRequestsPerConnection,
            "purgatory bounded by connections x in-flight requests");
        _waiting.Add(operation);
        broker.Timers.Schedule(deadlineMs, operation);
    }

    /// <summary>An operation's deadline passed (its <see cref="ITimerTask.RunTimer"/>).</summary>
    public void OnDeadline(IDelayedOperation operation)
    {
        if (_waiting.Remove(operation)) operation.Expire();
    }

    /// <summary>A log's high watermark moved, or it failed: retry what waits on it.</summary>
    public void OnLogAdvanced(UnifiedLog log) => Retry(log.TopicPartition.Topic);

    public void OnTopicDeleted(string topic) => Retry(topic);

    public void OnShutdown()
    {
        Retry(topic: null);
        var rest = _waiting.ToArray();
        _waiting.Clear();
        foreach (var op in rest)
        {
            Timers.Cancel(op);
            op.Expire();
        }
    }

    /// <summary>Tries every operation involving <paramref name="topic"/> (every one when null).</summary>
    private void Retry(string? topic)
    {
        // Completing one may not add another (handlers run only on new requests), so one pass suffices.
        for (int i = 0; i < _waiting.Count;)
        {
            var op = _waiting[i];
            if ((topic is null || op.Involves(topic)) && op.TryComplete())
            {
                _waiting.RemoveAt(i);
                Timers.Cancel(op);
            }
            else i++;
        }
    }
}

/// <summary>A request waiting in the <see cref="Purgatory"/>; its deadline is its own timer task, which
/// implementations route to <see cref="Purgatory.OnDeadline"/>.</summary>
internal interface IDelayedOperation : ITimerTask
{
    bool Involves(string topic);

    /// <summary>Answer if the condition holds now; true when answered.</summary>
    bool TryComplete();

    /// <summary>The deadline passed: answer with what there is.</summary>
    void Expire();
}

/// <summary>A produce with acks=1/all waiting for every appended partition to be synced.</summary>
internal sealed class DelayedProduce(BrokerNode broker, RequestContext request, ProduceResponse response,
    List<DelayedProduce.Wait> waits) : IDelayedOperation
{
    public sealed record Wait(UnifiedLog Log, long RequiredOffset, ProduceResponse.PartitionProduceResponse Partition)
    {
        public bool Done { get; set; }
    }

    public long TimerStamp { get; set; }

    public void RunTimer() => broker.Purgatory.OnDeadline(this);

    public bool Involves(string topic)
    {
        foreach (var w in waits) if (!w.Done && w.Log.TopicPartition.Topic == topic) return true;
        return false;
    }

    public bool TryComplete()
    {
        bool pending = false;
        foreach (var w in waits)
        {
            if (w.Done) continue;
            if (!ReferenceEquals(broker.Logs.GetLog(w.Log.TopicPartition), w.Log))
                Fail(w, ErrorCode.UnknownTopicOrPartition, "the topic was deleted");
            else if (w.Log.Failure != ErrorCode.None)
                Fail(w, ErrorCode.KafkaStorageError, "the log failed to sync");
            else if (w.Log.HighWatermark >= w.RequiredOffset)
                w.Done = true;
            else
                pending = true;
        }
        if (pending) return false;
        Answer();
        return true;
    }

    public void Expire()
    {
        foreach (var w in waits)
            if (!w.Done && w.Log.HighWatermark < w.RequiredOffset) Fail(w, ErrorCode.RequestTimedOut, "not synced within timeout_ms");
        Answer();
    }

    private static void Fail(Wait w, ErrorCode error, string message)
    {
        w.Done = true;
        w.Partition.ErrorCode = error;
        w.Partition.ErrorMessage = message;
        w.Partition.BaseOffset = -1;
        w.Partition.LogAppendTimeMs = -1;
    }

    private void Answer()
    {
        if (request.IsConnectionOpen) request.Respond(response);
    }
}
