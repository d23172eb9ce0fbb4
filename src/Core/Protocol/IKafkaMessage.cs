namespace DetKafka.Core.Protocol;

/// <summary>
/// A request or response body. Each message class also has a static
/// <c>Read(ref KafkaReader reader, short version)</c>; <see cref="MessageCodec"/> maps API keys to them.
/// Field names follow Kafka's message definitions, PascalCased. Unknown tagged fields are skipped on read;
/// none are written.
/// </summary>
public interface IKafkaMessage
{
    void Write(KafkaWriter writer, short version);
}
