namespace DetKafka.Core.Protocol;

/// <summary>
/// One place that maps an API key to its request and response decoders, the version range the codec can
/// encode and the first flexible version. All of it is generated from Protocol/Specs (MessageCodec.g.cs):
/// adding a spec adds the key here. Handlers decide what the broker serves (a subset); clients and tests use
/// the codec directly.
/// </summary>
public static partial class MessageCodec;
