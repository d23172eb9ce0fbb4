using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Produce (key 0). Serves 3-9 with record batch v2 only; 0 is advertised because librdkafka compresses only
/// when the Produce range includes 0, and v0-2 requests (old message formats) get UNSUPPORTED_VERSION per
/// partition. Each partition's records are validated and appended by its <see cref="UnifiedLog"/>.
/// acks=0: no response. acks=1 and acks=-1 (all; the only replica is this one): the response waits in the
/// purgatory until the appended offsets are synced, unless the topic relaxed flush.messages/flush.ms.
/// </summary>
public sealed class ProduceHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.Produce;
    public override short MinVersion => 0;
    public override short MaxVersion => 9;

    /// <summary>Oldest version with record batch v2.</summary>
    private const short FirstBatchV2Version = 3;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var produce = ProduceRequest.Read(ref body, request.Version);
        var response = new ProduceResponse();
        ErrorCode requestError = request.Version < FirstBatchV2Version ? ErrorCode.UnsupportedVersion
            : produce.Acks is not (-1 or 0 or 1) ? ErrorCode.InvalidRequiredAcks
            : ErrorCode.None;

        var waits = new List<DelayedProduce.Wait>();
        long wallNow = Broker.Clock.WallClockMs;
        foreach (var topic in produce.TopicData)
        {
            var topicResponse = new ProduceResponse.TopicProduceResponse { Name = topic.Name };
            response.Responses.Add(topicResponse);
            foreach (var partition in topic.PartitionData)
            {
                var p = new ProduceResponse.PartitionProduceResponse { Index = partition.Index, BaseOffset = -1 };
                topicResponse.PartitionResponses.Add(p);
                if (requestError != ErrorCode.None)
                {
                    p.ErrorCode = requestError;
                    continue;
                }
                var log = Broker.FindLog(topic.Name, partition.Index);
                if (log is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    continue;
                }
                if (partition.Records is not { Length: > 0 } records)
                {
                    p.ErrorCode = ErrorCode.CorruptMessage;
                    p.ErrorMessage = "no records";
                    p.LogStartOffset = log.LogStartOffset;
                    continue;
                }
                var result = log.Append(records, wallNow);
                p.LogStartOffset = result.LogStartOffset;
                if (result.Error != ErrorCode.None)
                {
                    p.ErrorCode = result.Error;
                    p.ErrorMessage = result.ErrorMessage;
                    // Bad input gets a log line as well as its error code; storage failures are logged by the log.
                    if (result.Error is ErrorCode.CorruptMessage or ErrorCode.InvalidRecord or ErrorCode.UnsupportedCompressionType
                        or ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge or ErrorCode.UnsupportedForMessageFormat)
                        Broker.Log.Warn("Rejected a produce to {Topic}-{Partition} from {Connection}: {Error} {Message}",
                            topic.Name, partition.Index, request.Connection, result.Error, result.ErrorMessage);
                    continue;
                }
                p.BaseOffset = result.BaseOffset;
                p.LogAppendTimeMs = result.LogAppendTimeMs;
                if (produce.Acks != 0) waits.Add(new DelayedProduce.Wait(log, result.LastOffset + 1, p));
            }
        }

        // Group commit: one sync per log covers every append made so far, this request's included.
        Broker.Logs.MaybeStartSyncs(Broker.Clock.MonotonicMs);

        if (produce.Acks == 0)
        {
            // No response exists to carry an error: Kafka closes the connection so the client notices.
            if (response.Responses.Any(t => t.PartitionResponses.Any(p => p.ErrorCode != ErrorCode.None)))
                Broker.CloseConnectionFor(request, "acks=0 produce failed on at least one partition");
            else
                request.CompleteWithoutResponse();
            return;
        }
        var delayed = new DelayedProduce(Broker, request, response, waits);
        if (!delayed.TryComplete())
            Broker.Purgatory.Add(delayed, Broker.Clock.MonotonicMs + Math.Max(0, produce.TimeoutMs));
    }
}
