using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>OffsetCommit (key 8), versions 0-9 (v9: the generation is a consumer group member's epoch): answered once the offsets' records in __consumer_offsets are
/// durable (acks=all terms). Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION; the group checks are Kafka's.</summary>
public sealed class OffsetCommitHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.OffsetCommit;
    public override short MinVersion => 0;
    public override short MaxVersion => 9;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.Commit(request, OffsetCommitRequest.Read(ref body, request.Version));
}
