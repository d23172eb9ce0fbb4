using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Fetch (key 1), versions 4-12, sessionless (session id 0: all three reference clients fetch without
/// KIP-227 sessions). Reads whole batches below the high watermark (= what is synced). When fewer than
/// min_bytes are available the request waits in the purgatory until a log advances or max_wait_ms passes.
/// No transactions exist yet, so the last stable offset is the high watermark and the aborted-transaction
/// list is empty (read_committed consumers, the librdkafka and kafkajs default, need both).
/// max_bytes is soft for the first partition with data, as KIP-74 requires.
/// </summary>
public sealed class FetchHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.Fetch;
    public override short MinVersion => 4;
    public override short MaxVersion => 12;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var fetch = FetchRequest.Read(ref body, request.Version);
        var delayed = new DelayedFetch(Broker, request, fetch);
        if (fetch.MaxWaitMs <= 0 || !delayed.Involves(null))
        {
            delayed.Expire();
            return;
        }
        if (!delayed.TryComplete()) Broker.Purgatory.Add(delayed, Broker.Clock.MonotonicMs + fetch.MaxWaitMs);
    }

    /// <summary>Reads every requested partition now. Returns the response and the record bytes it carries;
    /// <paramref name="hasError"/> tells whether some partition failed (which answers at once, as Kafka does).</summary>
    internal static FetchResponse Read(BrokerNode broker, FetchRequest fetch, out int bytes, out bool hasError)
    {
        var response = new FetchResponse { ErrorCode = ErrorCode.None, SessionId = 0 };
        bytes = 0;
        hasError = false;
        int budget = Math.Max(0, fetch.MaxBytes);
        foreach (var topic in fetch.Topics)
        {
            var topicResponse = new FetchResponse.FetchableTopicResponse { Topic = topic.Topic };
            response.Responses.Add(topicResponse);
            foreach (var partition in topic.Partitions)
            {
                var p = new FetchResponse.PartitionData
                {
                    PartitionIndex = partition.Partition,
                    HighWatermark = -1,
                    LastStableOffset = -1,
                    LogStartOffset = -1,
                    AbortedTransactions = fetch.IsolationLevel == 1 ? new List<FetchResponse.AbortedTransaction>() : null,
                    Records = ReadOnlyMemory<byte>.Empty,
                };
                topicResponse.Partitions.Add(p);
                var log = broker.FindLog(topic.Topic, partition.Partition);
                if (log is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    hasError = true;
                    continue;
                }
                int limit = Math.Min(Math.Max(0, partition.PartitionMaxBytes), budget);
                // KIP-74: the first partition that has data returns at least one whole batch.
                // The records stay in the log until the response is encoded, in this same step.
                var read = log.ReadSlice(partition.FetchOffset, limit, log.HighWatermark, minOneBatch: bytes == 0);
                p.ErrorCode = read.Error;
                p.HighWatermark = read.HighWatermark;
                p.LastStableOffset = read.HighWatermark;
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
        }
        return response;
    }
}

/// <summary>A fetch waiting for min_bytes of data or its max_wait_ms.</summary>
internal sealed class DelayedFetch(BrokerNode broker, RequestContext request, FetchRequest fetch) : IDelayedOperation
{
    public long TimerStamp { get; set; }
    public bool Answered { get; private set; }

    public void RunTimer() => broker.Purgatory.OnDeadline(this);

    public void Release() { }

    /// <summary>Whether the fetch names <paramref name="topic"/> (null: whether it names any partition).</summary>
    public bool Involves(string? topic)
    {
        foreach (var t in fetch.Topics)
            if (t.Partitions.Count > 0 && (topic is null || t.Topic == topic)) return true;
        return false;
    }

    bool IDelayedOperation.Involves(string topic) => Involves(topic);

    public bool TryComplete()
    {
        var response = FetchHandler.Read(broker, fetch, out int bytes, out bool hasError);
        if (!hasError && bytes < Math.Max(1, fetch.MinBytes)) return false;
        Answer(response);
        return true;
    }

    public void Expire() => Answer(FetchHandler.Read(broker, fetch, out _, out _));

    private void Answer(FetchResponse response)
    {
        Check.That(!Answered, "a fetch is answered once");
        Answered = true;
        if (request.IsConnectionOpen) request.Respond(response);
    }
}
