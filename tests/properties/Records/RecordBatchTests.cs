using System.Buffers.Binary;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Records;

public class RecordBatchTests
{
    private static readonly RecordValidationOptions Produce = RecordValidationOptions.ForProduce(1 << 20);

    private static ErrorCode Validate(byte[] blob) => RecordBatchValidator.ValidateRecords(blob, Produce).Error;

    /// <summary>Edits a copy of a batch, optionally recomputing the CRC afterwards.</summary>
    private static byte[] Edit(byte[] batch, Action<byte[]> edit, bool fixCrc)
    {
        var copy = (byte[])batch.Clone();
        edit(copy);
        if (fixCrc) RecordBatch.WriteCrc(copy);
        return copy;
    }

    private static byte[] SmallBatch(CompressionCodec codec = CompressionCodec.None) => RecordBatchBuilder.Build(
    [
        new SimpleRecord([1, 2], [3, 4, 5], RecordGen.BaseTime, [new RecordHeader("h", [9])]),
        new SimpleRecord(null, null, RecordGen.BaseTime + 7),
    ], codec);

    [Fact]
    public void Build_validate_decode_round_trip()
    {
        Prop.ForAll(Arb.From(RecordGen.Batch()), t =>
        {
            var (batch, records, _) = t;
            var v = RecordBatchValidator.ValidateRecords(batch, Produce);
            Assert.Equal(ErrorCode.None, v.Error);
            Assert.Equal((1, records.Count, batch.Length), (v.BatchCount, v.RecordCount, v.ValidBytes));
            var single = RecordBatchValidator.ValidateBatch(batch, Produce);
            Assert.Equal(records.Max(r => r.Timestamp), single.MaxRecordTimestamp);
            Assert.Equal(single.MaxRecordTimestamp, single.Header.MaxTimestamp);
            var decoded = new List<DecodedRecord>();
            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(batch, decoded));
            Assert.Equal(records.Count, decoded.Count);
            for (int i = 0; i < records.Count; i++)
            {
                Assert.Equal(i, decoded[i].Offset);
                Assert.True(RecordGen.SameContent(records[i], decoded[i]));
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void A_blob_of_several_batches_validates_as_a_whole()
    {
        var arb = Arb.From(Gen.Choose(1, 4).SelectMany(n => Gen.ListOf(RecordGen.Batch(), n)));
        Prop.ForAll(arb, batches =>
        {
            var blob = batches.SelectMany(b => b.Batch).ToArray();
            var v = RecordBatchValidator.ValidateRecords(blob, Produce);
            Assert.Equal(ErrorCode.None, v.Error);
            Assert.Equal(batches.Count, v.BatchCount);
            Assert.Equal(batches.Sum(b => b.Records.Count), v.RecordCount);
            // A cut inside the last batch.
            int cut = blob.Length - batches[^1].Batch.Length / 2;
            Assert.Equal(ErrorCode.CorruptMessage, Validate(blob[..cut]));
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(CompressionCodec.None)]
    [InlineData(CompressionCodec.Gzip)]
    public void Crc_detects_every_single_flipped_bit_after_the_crc_field_and_in_it(CompressionCodec codec)
    {
        var batch = SmallBatch(codec);
        for (int bit = RecordBatch.CrcOffset * 8; bit < batch.Length * 8; bit++)
        {
            var flipped = Edit(batch, b => b[bit / 8] ^= (byte)(1 << (bit % 8)), fixCrc: false);
            Assert.Equal(ErrorCode.CorruptMessage, Validate(flipped));
        }
    }

    [Fact]
    public void Crc_detects_a_flipped_bit_in_any_generated_batch()
    {
        var arb = Arb.From(RecordGen.Batch().SelectMany(t =>
            Gen.Choose(RecordBatch.AttributesOffset * 8, t.Batch.Length * 8 - 1).Select(bit => (t.Batch, bit))));
        Prop.ForAll(arb, t =>
        {
            var flipped = Edit(t.Batch, b => b[t.bit / 8] ^= (byte)(1 << (t.bit % 8)), fixCrc: false);
            return Validate(flipped) == ErrorCode.CorruptMessage;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Bytes_outside_the_crc_that_the_leader_rewrites_are_not_checked()
    {
        var batch = Edit(SmallBatch(), b =>
        {
            BinaryPrimitives.WriteInt64BigEndian(b, 123456);
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(RecordBatch.PartitionLeaderEpochOffset), 77);
        }, fixCrc: false);
        Assert.Equal(ErrorCode.None, Validate(batch));
    }

    [Fact]
    public void Corrupt_lengths_are_rejected()
    {
        var batch = SmallBatch();
        int length = batch.Length - RecordBatch.LogOverhead;
        foreach (int bad in new[] { -1, 0, 1, RecordBatch.BatchLengthMin - 1, length - 1, length + 1, int.MaxValue, int.MinValue })
        {
            var edited = Edit(batch, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(RecordBatch.BatchLengthOffset), bad), fixCrc: false);
            Assert.Equal(ErrorCode.CorruptMessage, Validate(edited));
        }
        Assert.Equal(0, RecordBatchValidator.ValidateRecords([], Produce).BatchCount);
        for (int prefix = 1; prefix < batch.Length; prefix++)
            Assert.Equal(ErrorCode.CorruptMessage, Validate(batch[..prefix]));
        Assert.Equal(ErrorCode.CorruptMessage, Validate([.. batch, 0]));
        Assert.Equal(ErrorCode.CorruptMessage, Validate([.. batch, .. Enumerable.Repeat((byte)0xFF, RecordBatch.HeaderSize)]));
        // Zeros after a batch read as a legacy (magic 0) header.
        Assert.Equal(ErrorCode.UnsupportedForMessageFormat, Validate([.. batch, .. new byte[RecordBatch.HeaderSize]]));
    }

    [Fact]
    public void Only_magic_2_is_accepted()
    {
        var batch = SmallBatch();
        for (int magic = -128; magic < 128; magic++)
        {
            if (magic == 2) continue;
            var edited = Edit(batch, b => b[RecordBatch.MagicOffset] = (byte)magic, fixCrc: true);
            var expected = magic is 0 or 1 ? ErrorCode.UnsupportedForMessageFormat : ErrorCode.CorruptMessage;
            Assert.Equal(expected, Validate(edited));
        }
    }

    [Fact]
    public void Record_count_must_match_the_records_present()
    {
        var batch = SmallBatch();
        void SetCount(byte[] b, int count, int lastOffsetDelta)
        {
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(RecordBatch.RecordsCountOffset), count);
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(RecordBatch.LastOffsetDeltaOffset), lastOffsetDelta);
        }
        foreach (int count in new[] { 1, 3, 4, 1000, int.MaxValue })
            Assert.Equal(ErrorCode.CorruptMessage, Validate(Edit(batch, b => SetCount(b, count, count - 1), fixCrc: true)));
        Assert.Equal(ErrorCode.CorruptMessage, Validate(Edit(batch, b => SetCount(b, -1, -2), fixCrc: true)));
        Assert.Equal(ErrorCode.CorruptMessage, Validate(Edit(batch, b => SetCount(b, int.MinValue, 0), fixCrc: true)));
        // The count and lastOffsetDelta disagreeing is a rule broken, not damage.
        Assert.Equal(ErrorCode.InvalidRecord, Validate(Edit(batch, b => SetCount(b, 2, 5), fixCrc: true)));
        // So is an empty batch.
        Assert.Equal(ErrorCode.InvalidRecord, Validate(RecordBatchBuilder.Build([])));
    }

    [Fact]
    public void Record_offset_deltas_must_count_up_from_zero()
    {
        // Swap the two records' offset deltas: record i is at byte 61 + ..., find them by decoding layout:
        // record = length varint, attributes, timestampDelta varlong, offsetDelta varint.
        var batch = RecordBatchBuilder.Build([new SimpleRecord(null, [1], 5), new SimpleRecord(null, [2], 5)]);
        int first = RecordBatch.RecordsOffset;
        // length(1) attributes(1) timestampDelta(1, zero) -> offsetDelta at +3
        Assert.Equal(0, batch[first + 3]);
        var edited = Edit(batch, b => b[first + 3] = 2 /* zigzag 1 */, fixCrc: true);
        Assert.Equal(ErrorCode.InvalidRecord, Validate(edited));
    }

    [Fact]
    public void Control_batches_are_refused_from_clients_but_not_in_recovery()
    {
        var control = RecordBatchBuilder.Build([new SimpleRecord([0, 0, 0, 1], [0, 0], 5)], isControl: true);
        Assert.Equal(ErrorCode.InvalidRecord, Validate(control));
        Assert.Equal(ErrorCode.None, RecordBatchValidator.ValidateRecords(control, RecordValidationOptions.ForRecovery()).Error);
        var transactional = RecordBatchBuilder.Build([new SimpleRecord(null, [1], 5)], producerId: 7, producerEpoch: 0,
            baseSequence: 0, isTransactional: true);
        Assert.Equal(ErrorCode.None, Validate(transactional));
    }

    [Fact]
    public void Unknown_codec_ids_and_bodies_not_in_the_stated_codec_are_corrupt()
    {
        // Ids 1-4 are gzip, snappy, lz4 and zstd; an uncompressed body labelled with any of them does not decode,
        // and ids 5-7 name no codec at all.
        var batch = SmallBatch();
        for (short codec = 1; codec < 8; codec++)
        {
            short c = codec;
            var edited = Edit(batch, b => BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(RecordBatch.AttributesOffset), c), fixCrc: true);
            Assert.Equal(ErrorCode.CorruptMessage, Validate(edited));
        }
    }

    [Fact]
    public void Batches_above_the_limit_are_too_large()
    {
        var batch = SmallBatch();
        Assert.Equal(ErrorCode.None, RecordBatchValidator.ValidateBatch(batch, RecordValidationOptions.ForProduce(batch.Length)).Error);
        Assert.Equal(ErrorCode.MessageTooLarge, RecordBatchValidator.ValidateBatch(batch, RecordValidationOptions.ForProduce(batch.Length - 1)).Error);
    }

    [Fact]
    public void Gzip_is_bounded_and_garbage_is_corrupt()
    {
        var big = RecordBatchBuilder.Build([new SimpleRecord(null, new byte[100_000], 5)], CompressionCodec.Gzip);
        Assert.True(big.Length < 5000, $"{big.Length} bytes");
        Assert.Equal(ErrorCode.None, Validate(big));
        var tight = new RecordValidationOptions(1 << 20, false, MaxUncompressedBytes: 50_000);
        Assert.Equal(ErrorCode.CorruptMessage, RecordBatchValidator.ValidateBatch(big, tight).Error);

        // A valid CRC over a body that is not gzip.
        var garbage = Edit(SmallBatch(CompressionCodec.Gzip), b => b.AsSpan(RecordBatch.RecordsOffset).Fill(0x5A), fixCrc: true);
        Assert.Equal(ErrorCode.CorruptMessage, Validate(garbage));
        // A gzip body cut inside the deflate data (the batch CRC, not gzip's trailer, guards integrity).
        var gz = SmallBatch(CompressionCodec.Gzip);
        var shortBody = gz[..(RecordBatch.RecordsOffset + (gz.Length - RecordBatch.RecordsOffset) / 2)];
        BinaryPrimitives.WriteInt32BigEndian(shortBody.AsSpan(RecordBatch.BatchLengthOffset), shortBody.Length - RecordBatch.LogOverhead);
        RecordBatch.WriteCrc(shortBody);
        Assert.Equal(ErrorCode.CorruptMessage, Validate(shortBody));
    }

    [Fact]
    public void Validator_never_throws_on_mutated_or_random_input()
    {
        var mutated = RecordGen.Batch().SelectMany(t =>
            from count in Gen.Choose(1, 4)
            from positions in Gen.ArrayOf(Gen.Choose(0, t.Batch.Length - 1), count)
            from values in Gen.ArrayOf(Gen.Choose(0, 255), count)
            from fixCrc in Gen.Elements(true, false)
            from cut in Gen.Choose(0, t.Batch.Length)
            select Edit(t.Batch, b =>
            {
                for (int i = 0; i < count; i++) b[positions[i]] = (byte)values[i];
            }, fixCrc)[..cut]);
        var random = RecordGen.ByteArray(300);
        Prop.ForAll(Arb.From(Gen.OneOf(mutated, random)), blob =>
        {
            var v = RecordBatchValidator.ValidateRecords(blob, Produce);
            var decoded = new List<DecodedRecord>();
            var d = RecordBatchDecoder.Decode(blob, decoded);
            return (v.Error == ErrorCode.None) == (d == ErrorCode.None) && (d == ErrorCode.None || decoded.Count == 0);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Decoder_can_skip_a_partial_trailing_batch()
    {
        var a = SmallBatch();
        var b = SmallBatch(CompressionCodec.Gzip);
        byte[] blob = [.. a, .. b[..20]];
        var decoded = new List<DecodedRecord>();
        // Strict: the error is reported, and only the whole valid batch before it was decoded.
        Assert.Equal(ErrorCode.CorruptMessage, RecordBatchDecoder.Decode(blob, decoded));
        Assert.Equal(2, decoded.Count);
        decoded.Clear();
        Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(blob, decoded, allowPartialTrailingBatch: true));
        Assert.Equal(2, decoded.Count);
        // A whole batch that fails contributes nothing.
        var damaged = (byte[])b.Clone();
        damaged[^1] ^= 1;
        decoded.Clear();
        Assert.Equal(ErrorCode.CorruptMessage, RecordBatchDecoder.Decode([.. a, .. damaged], decoded));
        Assert.Equal(2, decoded.Count);
    }
}
