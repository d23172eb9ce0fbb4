namespace DetKafka.Core.Protocol;

/// <summary>
/// A request or response body, generated from its spec (Protocol/Specs). Each message class also has a static
/// <c>Read(ref KafkaReader reader, short version)</c>; <see cref="MessageCodec"/> maps API keys to them.
/// Field names follow Kafka's message definitions, PascalCased.
/// </summary>
public interface IKafkaMessage
{
    void Write(KafkaWriter writer, short version);

    /// <summary>Hands every error code the message carries (top-level and per topic, partition or resource) to
    /// <paramref name="visitor"/>, in field order. Allocates nothing.</summary>
    void VisitErrorCodes(IErrorCodeVisitor visitor);
}

/// <summary>Receives a message's error codes (<see cref="IKafkaMessage.VisitErrorCodes"/>), None included.</summary>
public interface IErrorCodeVisitor
{
    void Visit(ErrorCode code);
}
