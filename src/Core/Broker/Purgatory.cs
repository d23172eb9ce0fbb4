using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// Requests waiting for something to move, as Kafka's DelayedOperationPurgatory: a produce with acks waits for
/// its offsets to be committed (the partition's high watermark to pass them); a fetch waits for min_bytes or
/// max_wait_ms; a coordinator's write for its records to be committed. Each operation watches the keys it waits
/// on (<see cref="WatchKey"/>: a partition now, a group or transactional id later) and is retried only when one
/// of them advances, and expires on a timer. Watchers of a key are kept in insertion order, so completion is
/// deterministic. Bounded: every waiting request holds an in-flight slot of its connection.
/// <para>Advances are queued (<see cref="OnPartitionAdvanced"/>, <see cref="OnTopicDeleted"/>) and retried at the
/// end of the node's input step (<see cref="RetryAdvanced"/>). An answer never runs another request: the
/// connection resumes its next requests after the retries, also at the end of the step. So a retry never nests
/// and the only change to a watcher list during its walk is an append (a coordinator's answer may start another
/// write on the same partition). An operation leaves every list and its timer before it is
/// <see cref="IDelayedOperation.Release">released</see> for reuse.</para>
/// </summary>
internal sealed class Purgatory(BrokerNode broker)
{
    private readonly Dictionary<WatchKey, List<IDelayedOperation>> _watchers = new(WatchKeyComparer.Instance);
    private readonly Stack<List<IDelayedOperation>> _spareLists = new();
    private readonly List<WatchKey> _keys = new();
    private readonly List<WatchKey> _advanced = new();
    private readonly HashSet<WatchKey> _advancedSet = new(WatchKeyComparer.Instance);
    private long _nextStamp = 1;
    private int _count;
    private bool _walking;

    public int Count => _count;

    /// <summary>Keys with watchers (tests and metrics).</summary>
    public int WatchedKeys => _watchers.Count;

    private int Bound => broker.Config.MaxConnections * broker.Config.MaxInFlightRequestsPerConnection;

    public void Add(IDelayedOperation operation, long deadlineMs)
    {
        Check.That(_count < Bound, "purgatory bounded by connections x in-flight requests");
        Check.That(operation.PurgatoryStamp == 0, "an operation waits once at a time");
        operation.PurgatoryStamp = _nextStamp++;
        _count++;
        CollectKeys(operation);
        Check.That(_keys.Count > 0, "a waiting operation watches at least one key");
        foreach (var key in _keys)
        {
            if (!_watchers.TryGetValue(key, out var list))
            {
                list = _spareLists.TryPop(out var spare) ? spare : new List<IDelayedOperation>();
                _watchers.Add(key, list);
            }
            list.Add(operation);
        }
        broker.Timers.Schedule(deadlineMs, operation);
    }

    /// <summary>An operation's deadline passed (its <see cref="ITimerTask.RunTimer"/>).</summary>
    public void OnDeadline(IDelayedOperation operation)
    {
        if (operation.PurgatoryStamp == 0) return;
        Check.That(!_walking, "timers do not run inside a retry");
        Leave(operation, skip: null);
        operation.Expire();
        operation.Release();
    }

    /// <summary>A partition's high watermark moved, or its log failed: its watchers are retried at the end of the step.</summary>
    public void OnPartitionAdvanced(Partition partition) => MarkAdvanced(WatchKey.For(partition.TopicPartition));

    /// <summary>Its partitions are gone: their watchers are retried (and answer UNKNOWN_TOPIC_OR_PARTITION).</summary>
    public void OnTopicDeleted(string topic, int partitionCount)
    {
        for (int p = 0; p < partitionCount; p++) MarkAdvanced(WatchKey.ForPartition(topic, p));
    }

    /// <summary>Something a key's watchers wait on changed (group and transaction coordinators call this too).</summary>
    public void MarkAdvanced(WatchKey key)
    {
        if (_watchers.ContainsKey(key) && _advancedSet.Add(key)) _advanced.Add(key);
    }

    /// <summary>The end of an input step: retries the watchers of every key that advanced during it, in the order
    /// the keys advanced. Returns whether any key was retried.</summary>
    public bool RetryAdvanced()
    {
        if (_advanced.Count == 0) return false;
        // A retry may advance more keys (a coordinator's answer); they are appended and retried in this loop.
        for (int i = 0; i < _advanced.Count; i++)
        {
            Check.That(i <= Bound + _watchers.Count, "advanced keys bounded");
            RetryKey(_advanced[i]);
        }
        _advanced.Clear();
        _advancedSet.Clear();
        return true;
    }

    public void OnShutdown()
    {
        // An answer may start another wait (a coordinator's write): rounds until nothing waits.
        for (int round = 0; _count > 0; round++)
        {
            Check.That(round < 64, "shutdown answers every waiting request");
            var all = new List<IDelayedOperation>(_count);
            foreach (var list in _watchers.Values)
                foreach (var op in list)
                    if (!all.Contains(op)) all.Add(op);
            all.Sort((a, b) => a.PurgatoryStamp.CompareTo(b.PurgatoryStamp));
            // What can complete does (in the order it started waiting); the rest expire.
            foreach (var op in all)
            {
                if (op.PurgatoryStamp == 0 || !op.TryComplete()) continue;
                broker.Timers.Cancel(op);
                Leave(op, skip: null);
                op.Release();
            }
            foreach (var op in all)
            {
                if (op.PurgatoryStamp == 0) continue;
                broker.Timers.Cancel(op);
                Leave(op, skip: null);
                op.Expire();
                op.Release();
            }
        }
        _advanced.Clear();
        _advancedSet.Clear();
        Check.That(_count == 0 && _watchers.Count == 0, "nothing waits after shutdown");
    }

    /// <summary>Tries every watcher of <paramref name="key"/> once, in the order they started waiting; the
    /// completed ones leave every list.</summary>
    private void RetryKey(WatchKey key)
    {
        if (!_watchers.TryGetValue(key, out var list)) return;
        Check.That(!_walking, "retries never nest: an answer does not run other requests");
        _walking = true;
        int kept = 0;
        // Completing one may append another watcher of this key (a coordinator's next write): it is tried too.
        for (int i = 0; i < list.Count; i++)
        {
            var op = list[i];
            if (op.TryComplete())
            {
                broker.Timers.Cancel(op);
                Leave(op, skip: key);
                op.Release();
            }
            else list[kept++] = op;
        }
        list.RemoveRange(kept, list.Count - kept);
        _walking = false;
        if (list.Count == 0) DropKey(key, list);
    }

    /// <summary>Takes <paramref name="operation"/> out of the count and out of the watcher list of each of its keys
    /// but <paramref name="skip"/> (the list being walked, which drops it itself).</summary>
    private void Leave(IDelayedOperation operation, WatchKey? skip)
    {
        Check.That(operation.PurgatoryStamp != 0);
        operation.PurgatoryStamp = 0;
        _count--;
        CollectKeys(operation);
        foreach (var key in _keys)
        {
            if (skip is { } walking && WatchKeyComparer.Instance.Equals(walking, key)) continue;
            var list = _watchers[key];
            int at = IndexOf(list, operation);
            Check.That(at >= 0, "an operation is on the list of each of its keys");
            list.RemoveAt(at);
            if (list.Count == 0) DropKey(key, list);
        }
    }

    private static int IndexOf(List<IDelayedOperation> list, IDelayedOperation operation)
    {
        for (int i = 0; i < list.Count; i++)
            if (ReferenceEquals(list[i], operation)) return i;
        return -1;
    }

    private void DropKey(WatchKey key, List<IDelayedOperation> list)
    {
        _watchers.Remove(key);
        if (_spareLists.Count < 1024) _spareLists.Push(list);
    }

    /// <summary>The operation's keys into <see cref="_keys"/>, each once.</summary>
    private void CollectKeys(IDelayedOperation operation)
    {
        _keys.Clear();
        operation.AddWatchKeys(_keys);
        if (_keys.Count < 2) return;
        _keys.Sort(WatchKeyComparer.Instance);
        int kept = 1;
        for (int i = 1; i < _keys.Count; i++)
            if (!WatchKeyComparer.Instance.Equals(_keys[i], _keys[kept - 1])) _keys[kept++] = _keys[i];
        _keys.RemoveRange(kept, _keys.Count - kept);
    }
}

/// <summary>A request waiting in the <see cref="Purgatory"/>; its deadline is its own timer task, which
/// implementations route to <see cref="Purgatory.OnDeadline"/>.</summary>
internal interface IDelayedOperation : ITimerTask
{
    /// <summary>Owned by the <see cref="Purgatory"/>: nonzero while the operation waits.</summary>
    long PurgatoryStamp { get; set; }

    /// <summary>Adds the keys whose advance may let it complete (duplicates are dropped). The same keys for as
    /// long as it waits.</summary>
    void AddWatchKeys(List<WatchKey> keys);

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
        /// <summary>The leader epoch the records were appended in: a leadership lost (or lost and regained) in
        /// the meantime may have truncated them, so the wait answers NOT_LEADER_OR_FOLLOWER.</summary>
        public int LeaderEpoch;
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
        w.LeaderEpoch = partition.LeaderEpoch;
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

    public long PurgatoryStamp { get; set; }

    /// <summary>Every partition it waits on (done or not: the keys must not change while it waits).</summary>
    public void AddWatchKeys(List<WatchKey> keys)
    {
        for (int i = 0; i < _waitCount; i++) keys.Add(WatchKey.For(_waits[i].Partition.TopicPartition));
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
            else if (!w.Partition.IsLeader || w.Partition.LeaderEpoch != w.LeaderEpoch)
                Fail(w, ErrorCode.NotLeaderOrFollower, "leadership moved before the records were committed");
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
