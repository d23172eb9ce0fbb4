using System.Buffers.Binary;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Records.Compression;
using DetKafka.Core.Storage;
using FsCheck;
using FsCheck.Fluent;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using Xunit;

namespace DetKafka.Properties.Records;

/// <summary>The four codecs: round trips, the framings other clients write, corrupt input and decompression bombs.</summary>
public class CompressionTests
{
    public static TheoryData<CompressionCodec> Codecs =>
        new() { CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd };

    /// <summary>Bytes that range from incompressible to very repetitive, up to a few blocks of every codec long.</summary>
    private static Gen<byte[]> Payload =>
        from length in Gen.Frequency((4, Gen.Choose(0, 2_000)), (1, Gen.Choose(2_000, 200_000)))
        from alphabet in Gen.Elements(1, 4, 26, 256)
        from seed in Gen.Choose(0, int.MaxValue)
        select Fill(length, alphabet, seed);

    private static byte[] Fill(int length, int alphabet, int seed)
    {
        var bytes = new byte[length];
        var random = new System.Random(seed);
        for (int i = 0; i < length; i++) bytes[i] = (byte)('A' + random.Next(alphabet) % 256);
        return bytes;
    }

    private static byte[] Decompress(CompressionCodec codec, ReadOnlySpan<byte> compressed, int limit, out bool ok, out string? error)
    {
        using var output = new PooledBuffer(16, limit);
        ok = CompressionCodecs.For(codec)!.TryDecompress(compressed, output, out error);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Every_codec_round_trips_any_payload_and_is_deterministic()
    {
        Prop.ForAll(Arb.From(Payload), Arb.From(Gen.Elements(CompressionCodecs.All.ToArray())), (payload, codec) =>
        {
            var compressed = CompressionCodecs.Compress(codec.Id, payload);
            Assert.Equal(compressed, CompressionCodecs.Compress(codec.Id, payload));
            var back = Decompress(codec.Id, compressed, int.MaxValue, out bool ok, out string? error);
            Assert.True(ok, error);
            Assert.Equal(payload, back);
            // The limit is inclusive: exactly the payload's size passes, one byte less fails.
            Decompress(codec.Id, compressed, payload.Length, out ok, out error);
            Assert.True(ok, error);
            if (payload.Length > 0)
            {
                var cut = Decompress(codec.Id, compressed, payload.Length - 1, out ok, out error);
                Assert.False(ok);
                Assert.Empty(cut);
                Assert.Contains("more than", error);
            }
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Corrupt_input_is_refused_without_throwing(CompressionCodec codec)
    {
        var payloads = Payload.Select(p => CompressionCodecs.Compress(codec, p));
        var mutated = payloads.SelectMany(c =>
            from count in Gen.Choose(1, 4)
            from positions in Gen.ArrayOf(Gen.Choose(0, Math.Max(0, c.Length - 1)), count)
            from values in Gen.ArrayOf(Gen.Choose(0, 255), count)
            from cut in Gen.Choose(0, c.Length)
            select Mutate(c, positions, values)[..Math.Min(cut + 1, c.Length)]);
        Prop.ForAll(Arb.From(Gen.OneOf(mutated, RecordGen.ByteArray(200))), input =>
        {
            // Whatever the bytes, the answer is a bool and, on failure, nothing written; never an exception.
            using var output = new PooledBuffer(16, 1 << 20);
            bool ok = CompressionCodecs.For(codec)!.TryDecompress(input, output, out string? error);
            Assert.True(ok || (error is not null && output.Length == 0));
            Assert.True(output.Length <= 1 << 20);
        }).QuickCheckThrowOnFailure();
    }

    private static byte[] Mutate(byte[] bytes, int[] positions, int[] values)
    {
        var copy = (byte[])bytes.Clone();
        if (copy.Length == 0) return copy;
        for (int i = 0; i < positions.Length; i++) copy[positions[i]] = (byte)values[i];
        return copy;
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_decompression_bomb_stops_at_the_limit_and_allocates_little(CompressionCodec codec)
    {
        // 64 MiB of zeros compresses to at most a few hundred KiB, but must never inflate past the 1 MiB limit.
        var bomb = CompressionCodecs.Compress(codec, new byte[64 * 1024 * 1024]);
        Assert.True(bomb.Length < 16 * 1024 * 1024, $"{bomb.Length} bytes");
        const int limit = 1024 * 1024;
        long before = GC.GetAllocatedBytesForCurrentThread();
        Decompress(codec, bomb, limit, out bool ok, out string? error);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.False(ok);
        Assert.Contains("more than 1048576 bytes", error);
        // The limit plus one block of slack, and a little for the decoder: far from the 64 MiB the bomb holds.
        Assert.True(allocated < 3L * (limit + PooledBuffer.HintSlack) + bomb.Length, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Snappy_reads_raw_blocks_as_librdkafka_writes_and_writes_xerial_framing_as_java()
    {
        var payload = Fill(100_000, 4, 7);
        var raw = Snappier.Snappy.CompressToArray(payload);
        Assert.Equal(payload, Decompress(CompressionCodec.Snappy, raw, int.MaxValue, out bool ok, out string? error));
        Assert.True(ok, error);

        var xerial = CompressionCodecs.Compress(CompressionCodec.Snappy, payload);
        Assert.Equal([0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1], xerial[..16]);
        // Blocks of at most 32 KiB of input, each a big-endian length then a raw block.
        int at = 16, blocks = 0, total = 0;
        while (at < xerial.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(xerial.AsSpan(at));
            var block = xerial.AsSpan(at + 4, length);
            int inflated = Snappier.Snappy.GetUncompressedLength(block);
            Assert.True(inflated <= 32 * 1024);
            total += inflated;
            at += 4 + length;
            blocks++;
        }
        Assert.Equal((4, payload.Length), (blocks, total));

        // A xerial block whose length runs past the end is corrupt, as is a raw block that lies about its length.
        var truncated = xerial[..^10];
        Decompress(CompressionCodec.Snappy, truncated, int.MaxValue, out ok, out error);
        Assert.False(ok);
        var lying = (byte[])raw.Clone();
        lying[0] ^= 0x01;
        Decompress(CompressionCodec.Snappy, lying, int.MaxValue, out ok, out _);
        Assert.False(ok);
    }

    [Fact]
    public void Lz4_reads_frames_in_every_shape_other_clients_write()
    {
        var payload = Fill(300_000, 26, 3);
        foreach (var settings in new[]
        {
            new LZ4EncoderSettings { ChainBlocks = true, BlockSize = 64 * 1024 },
            new LZ4EncoderSettings { ChainBlocks = false, BlockSize = 4 * 1024 * 1024, ContentChecksum = true, BlockChecksum = true },
            new LZ4EncoderSettings { ChainBlocks = false, BlockSize = 256 * 1024, CompressionLevel = LZ4Level.L09_HC },
        })
        {
            var frame = new PooledBuffer(1024);
            LZ4Frame.Encode(payload.AsSpan(), frame, settings);
            Assert.Equal(payload, Decompress(CompressionCodec.Lz4, frame.WrittenSpan, int.MaxValue, out bool ok, out string? error));
            Assert.True(ok, error);
            frame.Dispose();
        }
        // What we write: the frame magic, then FLG with version 01 and independent blocks, BD for 64 KiB blocks.
        var ours = CompressionCodecs.Compress(CompressionCodec.Lz4, payload);
        Assert.Equal(0x184D2204u, BinaryPrimitives.ReadUInt32LittleEndian(ours));
        Assert.Equal(0x60, ours[4] & 0xE0);
        Assert.Equal(0x40, ours[5]);
        // A raw LZ4 block is not a frame.
        var block = LZ4Pickler.Pickle(payload);
        Decompress(CompressionCodec.Lz4, block, int.MaxValue, out bool rawOk, out _);
        Assert.False(rawOk);
    }

    [Fact]
    public void Zstd_reads_streamed_and_concatenated_frames_and_refuses_windows_beyond_the_limit()
    {
        var payload = Fill(200_000, 26, 5);
        // A streaming compressor (as zstd-jni's ZstdOutputStream) writes no content size.
        byte[] streamed;
        using (var sink = new MemoryStream())
        {
            using (var z = new ZstdSharp.CompressionStream(sink, 3)) z.Write(payload);
            streamed = sink.ToArray();
        }
        Assert.Equal(payload, Decompress(CompressionCodec.Zstd, streamed, int.MaxValue, out bool ok, out string? error));
        Assert.True(ok, error);
        byte[] twice = [.. streamed, .. CompressionCodecs.Compress(CompressionCodec.Zstd, payload)];
        Assert.Equal([.. payload, .. payload], Decompress(CompressionCodec.Zstd, twice, int.MaxValue, out ok, out error));
        Assert.True(ok, error);

        // A 9-byte frame asking for a 1 GiB window (magic, descriptor without content size, window byte 2^30,
        // one empty last raw block): refused before any window is allocated, whatever the limit.
        byte[] window = [0x28, 0xB5, 0x2F, 0xFD, 0x00, (30 - 10) << 3, 0x01, 0x00, 0x00];
        long before = GC.GetAllocatedBytesForCurrentThread();
        Decompress(CompressionCodec.Zstd, window, 1 << 20, out ok, out error);
        Assert.False(ok, "a 1 GiB window must be refused");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20);
        // The same frame with a 1 MiB window decodes (to nothing).
        byte[] small = [0x28, 0xB5, 0x2F, 0xFD, 0x00, (20 - 10) << 3, 0x01, 0x00, 0x00];
        Assert.Empty(Decompress(CompressionCodec.Zstd, small, 1 << 20, out ok, out error));
        Assert.True(ok, error);
        // Truncated and empty input.
        Decompress(CompressionCodec.Zstd, streamed[..^3], int.MaxValue, out ok, out _);
        Assert.False(ok);
        Decompress(CompressionCodec.Zstd, [], int.MaxValue, out ok, out _);
        Assert.False(ok);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Batches_of_every_codec_validate_decode_and_fail_cleanly_when_damaged(CompressionCodec codec)
    {
        var records = Enumerable.Range(0, 50).Select(i => new SimpleRecord([(byte)i], System.Text.Encoding.UTF8.GetBytes($"value-{i}-value"), RecordGen.BaseTime + i)).ToList();
        var batch = RecordBatchBuilder.Build(records, codec);
        Assert.Equal(codec, (RecordBatchHeader.TryRead(batch, out var header) ? header : default).Codec);
        var produce = RecordValidationOptions.ForProduce(1 << 20);
        Assert.Equal(ErrorCode.None, RecordBatchValidator.ValidateRecords(batch, produce).Error);
        var decoded = new List<DecodedRecord>();
        Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(batch, decoded));
        Assert.Equal(records.Count, decoded.Count);
        Assert.All(decoded.Zip(records), p => Assert.True(RecordGen.SameContent(p.Second, p.First)));

        // The body replaced by garbage under a valid CRC.
        var garbage = (byte[])batch.Clone();
        garbage.AsSpan(RecordBatch.RecordsOffset).Fill(0x5A);
        RecordBatch.WriteCrc(garbage);
        Assert.Equal(ErrorCode.CorruptMessage, RecordBatchValidator.ValidateRecords(garbage, produce).Error);

        // A valid compressed body whose records disagree with the header (one record fewer than counted).
        var fewer = RecordBatchBuilder.Build(records.Take(49).ToList(), codec);
        BinaryPrimitives.WriteInt32BigEndian(fewer.AsSpan(RecordBatch.RecordsCountOffset), 50);
        BinaryPrimitives.WriteInt32BigEndian(fewer.AsSpan(RecordBatch.LastOffsetDeltaOffset), 49);
        RecordBatch.WriteCrc(fewer);
        Assert.Equal(ErrorCode.CorruptMessage, RecordBatchValidator.ValidateRecords(fewer, produce).Error);

        // Inflating past the bound derived from max.message.bytes is CORRUPT_MESSAGE.
        var big = RecordBatchBuilder.Build([new SimpleRecord(null, new byte[2 * 1024 * 1024], RecordGen.BaseTime)], codec);
        Assert.True(big.Length < 200_000, $"{big.Length} bytes");
        var tight = RecordValidationOptions.ForProduce(1000);
        Assert.Equal(RecordValidationOptions.MinUncompressedBytes, tight.MaxUncompressedBytes);
        Assert.Equal(ErrorCode.CorruptMessage, RecordBatchValidator.ValidateBatch(big, tight with { MaxBatchBytes = 1 << 20 }).Error);
        Assert.Equal(ErrorCode.None, RecordBatchValidator.ValidateBatch(big, RecordValidationOptions.ForProduce(1 << 20)).Error);
    }

    [Fact]
    public void The_decompression_bound_follows_max_message_bytes_within_floor_and_ceiling()
    {
        Assert.Equal(64 * 1048588, RecordValidationOptions.ForProduce(1048588).MaxUncompressedBytes);
        Assert.Equal(RecordValidationOptions.MinUncompressedBytes, RecordValidationOptions.ForProduce(0).MaxUncompressedBytes);
        Assert.Equal(RecordValidationOptions.MaxUncompressedBytesCeiling, RecordValidationOptions.ForProduce(int.MaxValue).MaxUncompressedBytes);
        Assert.Equal(RecordValidationOptions.MaxUncompressedBytesCeiling, RecordValidationOptions.ForRecovery().MaxUncompressedBytes);
    }

    [Fact]
    public void Recompression_keeps_the_records_and_stores_the_target_codec()
    {
        var targets = Gen.Elements<CompressionCodec?>(null, CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy,
            CompressionCodec.Lz4, CompressionCodec.Zstd);
        var arb = Arb.From(Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(RecordGen.Batch(), n))
            .SelectMany(batches => targets.SelectMany(target => Gen.Elements(TimestampType.CreateTime, TimestampType.LogAppendTime)
                .Select(type => (batches, target, type)))));
        var produce = RecordValidationOptions.ForProduce(1 << 20);
        Prop.ForAll(arb, t =>
        {
            var blob = t.batches.SelectMany(b => b.Batch).ToArray();
            using var destination = new PooledBuffer(blob.Length);
            var layout = new List<AppendedBatch>();
            var v = LogValidator.ValidateAndAssignOffsets(blob, destination, produce, t.target, 100, 7, t.type, 1_800_000_000_000, layout);
            Assert.Equal(ErrorCode.None, v.Error);
            Assert.Equal(t.batches.Count, layout.Count);
            var stored = destination.WrittenSpan.ToArray();
            Assert.Equal(layout.Sum(l => l.Size), stored.Length);
            Assert.Equal(ErrorCode.None, RecordBatchValidator.ValidateRecords(stored, RecordValidationOptions.ForRecovery()).Error);
            long next = 100;
            for (int i = 0; i < layout.Count; i++)
            {
                var batch = stored.AsSpan(layout[i].Position, layout[i].Size);
                Assert.True(RecordBatchHeader.TryRead(batch, out var h));
                Assert.Equal(t.target ?? t.batches[i].Codec, h.Codec);
                Assert.Equal((next, 7, t.type), (h.BaseOffset, h.PartitionLeaderEpoch, h.TimestampType));
                if (t.target is null || t.target == t.batches[i].Codec)
                    Assert.True(t.batches[i].Batch.AsSpan(RecordBatch.MagicOffset + 5).SequenceEqual(batch[(RecordBatch.MagicOffset + 5)..])
                        || t.type == TimestampType.LogAppendTime, "a batch already in the target codec keeps its bytes");
                var decoded = new List<DecodedRecord>();
                Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(batch, decoded));
                Assert.Equal(t.batches[i].Records.Count, decoded.Count);
                for (int r = 0; r < decoded.Count; r++)
                {
                    Assert.Equal(next + r, decoded[r].Offset);
                    Assert.True(RecordGen.SameContent(t.batches[i].Records[r], decoded[r], compareTimestamp: t.type == TimestampType.CreateTime));
                }
                next = h.NextOffset;
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Recompression_that_outgrows_max_message_bytes_is_refused()
    {
        // 100 KiB of one letter: tiny in zstd, 100 KiB stored uncompressed.
        var batch = RecordBatchBuilder.Build([new SimpleRecord(null, Fill(100_000, 1, 0), RecordGen.BaseTime)], CompressionCodec.Zstd);
        var options = RecordValidationOptions.ForProduce(10_000);
        using var destination = new PooledBuffer(batch.Length);
        var layout = new List<AppendedBatch>();
        var v = LogValidator.ValidateAndAssignOffsets(batch, destination, options, CompressionCodec.None, 0, 0, TimestampType.CreateTime, 0, layout);
        Assert.Equal(ErrorCode.MessageTooLarge, v.Error);
        Assert.Contains("recompression", v.Message);
        destination.Reset();
        v = LogValidator.ValidateAndAssignOffsets(batch, destination, options, CompressionCodec.Lz4, 0, 0, TimestampType.CreateTime, 0, layout);
        Assert.Equal(ErrorCode.None, v.Error);
    }

    [Fact]
    public void Compression_type_is_a_topic_config_with_kafkas_values()
    {
        Assert.Null(LogConfig.Default.TargetCodec);
        Assert.Equal("producer", LogConfig.Default.ValueOf(LogConfig.CompressionTypeName));
        foreach (var (name, codec) in new (string, CompressionCodec)[]
                 {
                     ("uncompressed", CompressionCodec.None), ("gzip", CompressionCodec.Gzip), ("snappy", CompressionCodec.Snappy),
                     ("LZ4", CompressionCodec.Lz4), ("zstd", CompressionCodec.Zstd),
                 })
        {
            Assert.True(LogConfig.TryParse([new(LogConfig.CompressionTypeName, name)], out var config, out string? error), error);
            Assert.Equal(codec, config.TargetCodec);
            Assert.Equal(name.ToLowerInvariant(), config.ValueOf(LogConfig.CompressionTypeName));
            Assert.False(config.IsDefault(LogConfig.CompressionTypeName));
        }
        Assert.False(LogConfig.TryParse([new(LogConfig.CompressionTypeName, "none")], out _, out string? bad));
        Assert.Contains("String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer", bad);
    }
}
