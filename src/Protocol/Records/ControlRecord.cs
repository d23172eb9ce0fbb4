using System.Buffers.Binary;

namespace DetKafka.Core.Records;

/// <summary>
/// Transaction markers: a control batch (attributes: transactional | control) holding one record whose key is
/// (version int16 = 0, type int16: 0 abort, 1 commit) and whose value is (version int16 = 0, coordinator epoch
/// int32). Kafka's layout, so real consumers skip them and read_committed consumers end transactions on them.
/// </summary>
public static class ControlRecord
{
    public const short AbortType = 0;
    public const short CommitType = 1;

    /// <summary>A marker batch for one producer (offsets are assigned by the log).</summary>
    public static byte[] BuildMarker(long producerId, short producerEpoch, int coordinatorEpoch, bool commit, long timestamp)
    {
        var key = new byte[4];
        BinaryPrimitives.WriteInt16BigEndian(key, 0);
        BinaryPrimitives.WriteInt16BigEndian(key.AsSpan(2), commit ? CommitType : AbortType);
        var value = new byte[6];
        BinaryPrimitives.WriteInt16BigEndian(value, 0);
        BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(2), coordinatorEpoch);
        return RecordBatchBuilder.Build([new SimpleRecord(key, value, timestamp)], producerId: producerId,
            producerEpoch: producerEpoch, baseSequence: -1, isTransactional: true, isControl: true);
    }

    /// <summary>Reads the marker of a whole, uncompressed control batch (as the log stores them): whether it
    /// commits and the coordinator epoch. False when the batch does not hold a readable marker (an unknown
    /// control type, a damaged record): such a batch ends nothing.</summary>
    public static bool TryReadMarker(ReadOnlySpan<byte> batch, out bool commit, out int coordinatorEpoch)
    {
        commit = false;
        coordinatorEpoch = -1;
        if (batch.Length <= RecordBatch.HeaderSize) return false;
        if ((BinaryPrimitives.ReadInt16BigEndian(batch[RecordBatch.AttributesOffset..]) & RecordBatch.CodecMask) != 0) return false;
        var r = batch[RecordBatch.RecordsOffset..];
        int at = 0;
        if (!TryVarInt(r, ref at, out _)) return false;          // record length
        at += 1;                                                   // attributes
        if (!TryVarInt(r, ref at, out _)) return false;          // timestamp delta (varlong; small here)
        if (!TryVarInt(r, ref at, out _)) return false;          // offset delta
        if (!TryVarInt(r, ref at, out int keyLength) || keyLength < 4 || at + keyLength > r.Length) return false;
        short type = BinaryPrimitives.ReadInt16BigEndian(r[(at + 2)..]);
        at += keyLength;
        if (type != AbortType && type != CommitType) return false;
        commit = type == CommitType;
        if (TryVarInt(r, ref at, out int valueLength) && valueLength >= 6 && at + valueLength <= r.Length)
            coordinatorEpoch = BinaryPrimitives.ReadInt32BigEndian(r[(at + 2)..]);
        return true;
    }

    /// <summary>A zig-zag varint (at most 5 bytes; a longer varlong is refused, which no marker holds).</summary>
    private static bool TryVarInt(ReadOnlySpan<byte> s, ref int at, out int value)
    {
        uint raw = 0;
        value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (at >= s.Length) return false;
            byte b = s[at++];
            raw |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                value = (int)(raw >> 1) ^ -(int)(raw & 1);
                return true;
            }
        }
        return false;
    }
}
