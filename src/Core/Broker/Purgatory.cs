using DetKafka.Core.Partitions;
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
/// <para>An answer can resume a paused connection, whose next requests then run inside the retry that
/// answered: they may add operations (appended, so the pass is undisturbed) and ask for retries, which wait
/// until the running one finishes. An operation leaves the list and its timer before it is
/// <see cref="IDelayedOperation.Release">released</see> for reuse.</para>
/// </summary>
internal sealed class Purgatory(BrokerNode broker)
{
    private readonly List<IDelayedOperation> _waiting = new();
    private readonly List<string?> _deferredRetries = new();
    private bool _retrying;

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
        if (!_waiting.Remove(operation)) return;
        operation.Expire();
        operation.Release();
    }

    /// <summary>A partition's high watermark moved, or its log failed: retry what waits on it.</summary>
    public void OnPartitionAdvanced(Partition partition) => Retry(partition.TopicPartition.Topic);

    public void OnTopicDeleted(string topic) => Retry(topic);

    public void OnShutdown()
    {
        Retry(topic: null);
        var rest = _waiting.ToArray();
        _waiting.Clear();
        foreach (var op in rest)
        {
            broker.Timers.Cancel(op);
            op.Expire();
            op.Release();
        }
    }

    /// <summary>Tries every operation involving <paramref name="topic"/> (every one when null).</summary>
    private void Retry(string? topic)
    {
        if (_retrying)
        {
            _deferredRetries.Add(topic);
            return;
        }
        _retrying = true;
        try
        {
            RetryPass(topic);
            // Each deferred retry comes from a request answered above; requests are bounded per connection.
            for (int i = 0; i < _deferredRetries.Count; i++)
            {
                Check.That(i < broker.Config.MaxConnections * broker.Config.MaxInFlightRequestsPerConnection,
                    "deferred retries bounded");
                RetryPass(_deferredRetries[i]);
            }
        }
        finally
        {
            _deferredRetries.Clear();
            _retrying = false;
        }
    }

    private void RetryPass(string? topic)
    {
        // Completing one may add others (a resumed connection's requests), appended behind the cursor.
        for (int i = 0; i < _waiting.Count;)
        {
            var op = _waiting[i];
            if ((topic is null || op.Involves(topic)) && op.TryComplete())
            {
                Check.That(ReferenceEquals(_waiting[i], op), "only appends while an operation answers");
                _waiting.RemoveAt(i);
                broker.Timers.Cancel(op);
                op.Release();
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

    /// <summary>Answered, and out of the purgatory and the timers (or never in them): the instance may be reused.</summary>
    void Release();
}

/// <summary>
/// A produce with acks=1/all waiting for every appended partition to be synced. Pooled by the produce
/// handler: one instance, with its response and waits, serves one request after another.
/// </summary>
internal sealed class DelayedProduce(BrokerNode broker, ObjectPool<DelayedProduce> pool) : IDelayedOperation
{
    /// <summary>An instance grown past this many topics and partitions goes to the GC rather than the pool.</summary>
    private const int PooledEntriesMax = 64;

    internal sealed class Wait
    {
        public Partition Partition = null!;
        public long RequiredOffset;
        public ProduceResponse.PartitionProduceResponse Response = null!;
        public bool Done;
    }

    private readonly List<Wait> _waits = new();
    private int _waitCount;
    private RequestContext? _request;
    private int _requestGeneration;

    public ProduceResponse Response { get; } = new();
    public long TimerStamp { get; set; }

    public void Begin(RequestContext request)
    {
        Check.That(_request is null, "a pooled produce serves one request at a time");
        _request = request;
        _requestGeneration = request.Generation;
        _waitCount = 0;
        Response.ThrottleTimeMs = 0;
    }

    /// <summary>Response entry <paramref name="index"/>, reused; <see cref="EndTopics"/> drops the rest.</summary>
    public ProduceResponse.TopicProduceResponse Topic(int index, string name)
    {
        var topic = Reuse.Slot(Response.Responses, index);
        topic.Name = name;
        return topic;
    }

    public ProduceResponse.PartitionProduceResponse Partition(ProduceResponse.TopicProduceResponse topic, int index, int partition)
    {
        var p = Reuse.Slot(topic.PartitionResponses, index);
        p.Reset();
        p.Index = partition;
        return p;
    }

    public static void EndPartitions(ProduceResponse.TopicProduceResponse topic, int count) => Reuse.Truncate(topic.PartitionResponses, count);

    public void EndTopics(int count) => Reuse.Truncate(Response.Responses, count);

    public void AddWait(Partition partition, long requiredOffset, ProduceResponse.PartitionProduceResponse response)
    {
        var w = Reuse.Slot(_waits, _waitCount++);
        w.Partition = partition;
        w.RequiredOffset = requiredOffset;
        w.Response = response;
        w.Done = false;
    }

    public bool AnyPartitionFailed()
    {
        foreach (var t in Response.Responses)
            foreach (var p in t.PartitionResponses)
                if (p.ErrorCode != ErrorCode.None) return true;
        return false;
    }

    public void RunTimer() => broker.Purgatory.OnDeadline(this);

    public bool Involves(string topic)
    {
        for (int i = 0; i < _waitCount; i++)
        {
            var w = _waits[i];
            if (!w.Done && w.Partition.TopicPartition.Topic == topic) return true;
        }
        return false;
    }

    public bool TryComplete()
    {
        bool pending = false;
        for (int i = 0; i < _waitCount; i++)
        {
            var w = _waits[i];
            if (w.Done) continue;
            if (!ReferenceEquals(broker.Replicas.GetPartition(w.Partition.TopicPartition), w.Partition))
                Fail(w, ErrorCode.UnknownTopicOrPartition, "the topic was deleted");
            else if (w.Partition.Failure != ErrorCode.None)
                Fail(w, ErrorCode.KafkaStorageError, "the log failed to sync");
            else if (w.Partition.HighWatermark >= w.RequiredOffset)
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
        for (int i = 0; i < _waitCount; i++)
        {
            var w = _waits[i];
            if (!w.Done && w.Partition.HighWatermark < w.RequiredOffset) Fail(w, ErrorCode.RequestTimedOut, "not synced within timeout_ms");
        }
        Answer();
    }

    private static void Fail(Wait w, ErrorCode error, string message)
    {
        w.Done = true;
        w.Response.ErrorCode = error;
        w.Response.ErrorMessage = message;
        w.Response.BaseOffset = -1;
        w.Response.LogAppendTimeMs = -1;
    }

    private void Answer()
    {
        var request = _request!;
        Check.That(request.Generation == _requestGeneration, "a waiting request's context is not reused under it");
        if (request.IsConnectionOpen) request.Respond(Response);
    }

    public void Release()
    {
        Check.That(_request is not null, "released once");
        _request = null;
        int entries = Response.Responses.Count;
        foreach (var t in Response.Responses) entries += t.PartitionResponses.Count;
        for (int i = 0; i < _waitCount; i++)
        {
            _waits[i].Partition = null!;
            _waits[i].Response = null!;
        }
        _waitCount = 0;
        if (entries <= PooledEntriesMax && _waits.Count <= PooledEntriesMax) pool.Return(this);
    }
}
