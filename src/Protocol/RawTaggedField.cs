namespace DetKafka.Core.Protocol;

/// <summary>A tagged field a codec does not know: its tag and its value's bytes, a slice of the buffer it was
/// read from. Kept so that decoding and re-encoding a message gives the same bytes.</summary>
public readonly record struct RawTaggedField(uint Tag, ReadOnlyMemory<byte> Data);
