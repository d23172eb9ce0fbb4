using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Fetch (key 1), versions 4-12, sessionless (session id 0: all three reference clients fetch without
/// KIP-227 sessions). Reads whole batches below the high watermark (= what is synced). When fewer than
/// min_bytes are available the request waits in the purgatory until a log advances or max_wait_ms passes.
/// read_committed (isolation level 1, the librdkafka and kafkajs default) reads only below the last stable
/// offset and gets the aborted transactions overlapping what it reads (TRANSACTIONS.md).
/// max_bytes is soft for the first partition with data, as KIP-74 requires.
/// The hot path allocates nothing in steady state: each request decodes into a pooled
/// <see cref="DelayedFetch"/>, which also owns the response, and the records go from the log straight into
/// the response writer.
/// </summary>
public sealed class FetchHandler : ApiHandler
{
    /// <summary>Idle <see cref="DelayedFetch"/>es kept for reuse.</summary>
    private const int PoolCapacity = 1024;

    private readonly ObjectPool<DelayedFetch> _pool;

    public FetchHandler(BrokerNode broker) : base(broker)
        => _pool = new ObjectPool<DelayedFetch>(() => new DelayedFetch(broker, _pool!), PoolCapacity);

    public override ApiKey Key => ApiKey.Fetch;
    public override short MinVersion => 4;
    public override short MaxVersion => 12;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var delayed = _pool.Rent();
        // A request that fails to decode leaves this instance to the GC: it holds no request yet.
        delayed.Request.ReadFrom(ref body, request.Version);
        if (RaftFetch.TryRoute(Broker, request, delayed.Request))
        {
            _pool.Return(delayed); // the endpoint took what it needs; it answers when its replica does
            return;
        }
        delayed.Begin(request);
        var fetch = delayed.Request;
        if (!delayed.Involves(null))
        {
            delayed.Expire();
            delayed.Release();
            return;
        }
        if (delayed.TryComplete()) delayed.Release();
        // Past its max wait (0) it waits only for cold reads it needs, bounded (DelayedFetch.RunTimer).
        else if (delayed.PastMaxWait) Broker.Purgatory.Add(delayed, Broker.Clock.MonotonicMs + DelayedFetch.ColdReadWaitMaxMs);
        else Broker.Purgatory.Add(delayed, Broker.Clock.MonotonicMs + fetch.MaxWaitMs);
    }

    /// <summary>Reads every requested partition now into <paramref name="response"/> (its entries reused).
    /// Returns the record bytes it carries; <paramref name="hasError"/> tells whether some partition failed
    /// (which answers at once, as Kafka does). The records stay in the log until the response is encoded, in
    /// the same step. A partition whose bytes are cold (<see cref="Partitions.ColdReads"/>) has no records until
    /// the read-ahead asked of the disk completes and retries the fetch: <paramref name="waitingOnDisk"/> says so.</summary>
    internal static void Read(BrokerNode broker, FetchRequest fetch, FetchResponse response, out int bytes, out bool hasError, out bool waitingOnDisk)
    {
        waitingOnDisk = false;
        response.ThrottleTimeMs = 0;
        response.ErrorCode = ErrorCode.None;
        response.SessionId = 0;
        bytes = 0;
        hasError = false;
        int budget = Math.Max(0, fetch.MaxBytes);
        for (int i = 0; i < fetch.Topics.Count; i++)
        {
            var topic = fetch.Topics[i];
            var topicResponse = Reuse.Slot(response.Responses, i);
            topicResponse.Topic = topic.Topic;
            for (int j = 0; j < topic.Partitions.Count; j++)
            {
                var partition = topic.Partitions[j];
                var p = Reuse.Slot(topicResponse.Partitions, j);
                var aborted = p.AbortedTransactions;
                p.Reset();
                p.PartitionIndex = partition.Partition;
                p.HighWatermark = -1;
                if (fetch.IsolationLevel == 1)
                {
                    aborted ??= new List<FetchResponse.AbortedTransaction>();
                    aborted.Clear();
                    p.AbortedTransactions = aborted;
                }
                p.Records = ReadOnlyMemory<byte>.Empty;
                var replica = broker.Replicas.GetPartition(topic.Topic, partition.Partition);
                if (replica is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    hasError = true;
                    continue;
                }
                if (FetchCheck.Rejects(replica, partition, p))
                {
                    hasError = true;
                    continue;
                }
                int limit = Math.Min(Math.Max(0, partition.PartitionMaxBytes), budget);
                // KIP-74: the first partition that has data returns at least one whole batch.
                // read_committed reads only below the last stable offset, and is told which transactions there aborted.
                long lso = broker.Transactions.LastStableOffset(replica.Log);
                bool bounded = fetch.IsolationLevel == 1 && (broker.Transactions.Faults & Transactions.TransactionFaults.ReadCommittedIgnoresLso) == 0;
                if (!broker.ColdReads.Ready(replica, partition.FetchOffset, limit, bounded ? lso : replica.HighWatermark))
                {
                    // Cold: the read-ahead's completion retries this fetch; until then the partition has nothing.
                    waitingOnDisk = true;
                    p.HighWatermark = replica.HighWatermark;
                    p.LastStableOffset = lso;
                    p.LogStartOffset = replica.LogStartOffset;
                    continue;
                }
                var read = replica.Read(partition.FetchOffset, limit, minOneBatch: bytes == 0, upTo: bounded ? lso : null);
                p.ErrorCode = read.Error;
                p.HighWatermark = read.HighWatermark;
                p.LastStableOffset = lso;
                if (fetch.IsolationLevel == 1 && read.Error == ErrorCode.None && read.Length > 0) AddAborted(replica.Log, partition.FetchOffset, lso, p.AbortedTransactions!);
                p.LogStartOffset = read.LogStartOffset;
                if (read.Error != ErrorCode.None)
                {
                    hasError = true;
                    continue;
                }
                p.RecordsFrom = read.Records;
                bytes += read.Length;
                budget = Math.Max(0, budget - read.Length);
            }
            Reuse.Truncate(topicResponse.Partitions, topic.Partitions.Count);
        }
        Reuse.Truncate(response.Responses, fetch.Topics.Count);
    }

    /// <summary>The aborted transactions overlapping [from, upTo) (Kafka bounds them by the fetched range; the LSO
    /// bounds it from above), in marker order, into the reused list.</summary>
    private static void AddAborted(Storage.UnifiedLog log, long from, long upTo, List<FetchResponse.AbortedTransaction> into)
    {
        var txns = log.Transactions;
        var aborted = txns.Aborted;
        int n = 0;
        for (int i = txns.FirstAbortedEndingAtOrAfter(from); i < aborted.Count; i++)
        {
            if (aborted[i].FirstOffset >= upTo) continue;
            var a = Reuse.Slot(into, n++);
            a.ProducerId = aborted[i].ProducerId;
            a.FirstOffset = aborted[i].FirstOffset;
        }
        Reuse.Truncate(into, n);
    }
}

/// <summary>A fetch waiting for min_bytes of data or its max_wait_ms. Pooled by the fetch handler: one
/// instance, with its decoded request and its response, serves one request after another.</summary>
internal sealed class DelayedFetch(BrokerNode broker, ObjectPool<DelayedFetch> pool) : IDelayedOperation
{
    /// <summary>An instance grown past this many topics and partitions goes to the GC rather than the pool.</summary>
    private const int PooledEntriesMax = 64;

    private readonly FetchResponse _response = new();
    private RequestContext? _request;
    private int _requestGeneration;

    /// <summary>The request, decoded in place by the handler.</summary>
    public FetchRequest Request { get; } = new();
    public long TimerStamp { get; set; }
    public bool Answered { get; private set; }

    public void Begin(RequestContext request)
    {
        Check.That(_request is null, "a pooled fetch serves one request at a time");
        _request = request;
        _requestGeneration = request.Generation;
        Answered = false;
        PastMaxWait = Request.MaxWaitMs <= 0;
    }

    /// <summary>How long past its max wait a fetch waits for the cold reads it needs (a disk that never answers must
    /// not hold it for ever; it then answers without those partitions' records).</summary>
    public const long ColdReadWaitMaxMs = 30_000;

    /// <summary>The max wait passed (or was 0): the fetch answers as soon as no cold read it needs is in flight.</summary>
    public bool PastMaxWait { get; private set; }

    public void RunTimer()
    {
        // At the max wait a fetch answers with what there is, as Kafka's does, except that the records of a cold
        // segment are part of "what there is" (Kafka's fetch thread would have blocked in pread for them): it waits
        // for those reads, so a fetch's contents do not depend on the cache, only its latency does.
        if (!PastMaxWait && PurgatoryStamp != 0)
        {
            FetchHandler.Read(broker, Request, _response, out _, out bool hasError, out bool waitingOnDisk);
            if (waitingOnDisk && !hasError)
            {
                PastMaxWait = true;
                broker.Timers.Schedule(broker.Clock.MonotonicMs + ColdReadWaitMaxMs, this);
                return;
            }
        }
        broker.Purgatory.OnDeadline(this);
    }

    /// <summary>Whether the fetch names <paramref name="topic"/> (null: whether it names any partition).</summary>
    public bool Involves(string? topic)
    {
        foreach (var t in Request.Topics)
            if (t.Partitions.Count > 0 && (topic is null || t.Topic == topic)) return true;
        return false;
    }

    public long PurgatoryStamp { get; set; }

    /// <summary>Every requested partition: more data there (or its deletion) may complete the fetch.</summary>
    public void AddWatchKeys(List<WatchKey> keys)
    {
        foreach (var t in Request.Topics)
            foreach (var p in t.Partitions) keys.Add(WatchKey.ForPartition(t.Topic, p.Partition));
    }

    public bool TryComplete()
    {
        FetchHandler.Read(broker, Request, _response, out int bytes, out bool hasError, out bool waitingOnDisk);
        // A partition waiting on a cold read has nothing yet: the fetch waits for the read (its completion retries
        // it), so the answer holds what a synchronous read would have. An error answers at once, as in Kafka.
        if (!hasError && (waitingOnDisk || (!PastMaxWait && bytes < Math.Max(1, Request.MinBytes)))) return false;
        Answer();
        return true;
    }

    public void Expire()
    {
        FetchHandler.Read(broker, Request, _response, out _, out _, out _);
        Answer();
    }

    private void Answer()
    {
        Check.That(!Answered, "a fetch is answered once");
        Answered = true;
        var request = _request!;
        Check.That(request.Generation == _requestGeneration, "a waiting request's context is not reused under it");
        if (request.IsConnectionOpen) request.Respond(_response);
    }

    public void Release()
    {
        Check.That(_request is not null && Answered, "released once, after its answer");
        _request = null;
        int entries = Request.Topics.Count + Request.ForgottenTopicsData.Count;
        foreach (var t in Request.Topics) entries += t.Partitions.Count;
        foreach (var t in _response.Responses)
        {
            entries += t.Partitions.Count;
            foreach (var p in t.Partitions) p.RecordsFrom = null; // do not keep a segment alive while idle
        }
        if (entries <= PooledEntriesMax) pool.Return(this);
    }
}
