namespace DetKafka.Core.Protocol;

/// <summary>Bytes that do not decode as the message and version they claim to be (truncated, bad length,
/// bad varint). The broker answers with an error where the protocol has one, otherwise closes the connection.</summary>
public sealed class ProtocolException(string message) : Exception(message);
