using System.Buffers.Binary;

namespace DetKafka.Core.Protocol;

public enum FrameStatus { NeedMoreData, Complete, Invalid }

/// <summary>
/// Kafka's framing: a big-endian int32 size, then that many bytes. Pure function over a span, so the socket
/// driver, the simulated network and the simulated clients all share one framer.
/// </summary>
public static class Frame
{
    public const int SizePrefixBytes = 4;

    /// <summary>Kafka's socket.request.max.bytes default: 100 MiB.</summary>
    public const int RequestBytesMaxDefault = 100 * 1024 * 1024;

    /// <summary>Looks for one frame at the start of <paramref name="buffer"/>. On <see cref="FrameStatus.Complete"/>
    /// the payload is <c>buffer[4..(4 + payloadLength)]</c>. A negative size, or one above
    /// <paramref name="maxPayloadBytes"/>, is <see cref="FrameStatus.Invalid"/>: the connection must close.</summary>
    public static FrameStatus TryReadFrame(ReadOnlySpan<byte> buffer, int maxPayloadBytes, out int payloadLength)
    {
        payloadLength = 0;
        if (buffer.Length < SizePrefixBytes) return FrameStatus.NeedMoreData;
        int size = BinaryPrimitives.ReadInt32BigEndian(buffer);
        if (size < 0 || size > maxPayloadBytes)
        {
            payloadLength = size;
            return FrameStatus.Invalid;
        }
        payloadLength = size;
        return buffer.Length - SizePrefixBytes >= size ? FrameStatus.Complete : FrameStatus.NeedMoreData;
    }
}
