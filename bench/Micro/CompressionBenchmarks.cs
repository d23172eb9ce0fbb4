using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Records;
using DetKafka.Core.Records.Compression;

namespace DetKafka.Bench.Micro;

/// <summary>
/// The codecs on a 16 KiB batch of 100-byte records, either random upper-case letters (what `detkafka perf` and
/// Kafka's producer perf test send) or JSON events: the client's cost of compressing the records, and the broker's cost of validating a
/// compressed batch (decompress, then walk every record), against validating the same records uncompressed. The MB/s
/// column counts the uncompressed batch's bytes for every codec, so rows compare per byte of records.
/// </summary>
[MemoryDiagnoser]
public class CompressionBenchmarks
{
    private byte[] _plain = null!;
    private byte[] _batch = null!;
    private PooledBuffer _output = null!;
    private readonly List<AppendedBatch> _layout = new();
    private readonly RecordValidationOptions _options = RecordValidationOptions.ForProduce(1_048_588);

    [Params(CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd)]
    public CompressionCodec Codec { get; set; }

    [Params(PayloadKind.Letters, PayloadKind.Json)]
    public PayloadKind Payload { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _plain = Payloads.TextBatch16K(CompressionCodec.None, Payload);
        _batch = Payloads.TextBatch16K(Codec, Payload);
        _output = new PooledBuffer(_plain.Length * 2);
    }

    /// <summary>What a producer pays per batch: compress its records (None: copy them).</summary>
    [Benchmark, Processes(Work.TextBatch16K)]
    public int Compress_16KiB()
    {
        _output.Reset();
        var records = _plain.AsSpan(RecordBatch.RecordsOffset);
        if (Codec == CompressionCodec.None) _output.Write(records);
        else CompressionCodecs.For(Codec)!.Compress(records, _output);
        return _output.Length;
    }

    /// <summary>What the broker pays to accept it: the validator decompresses and checks every record.</summary>
    [Benchmark, Processes(Work.TextBatch16K)]
    public int Validate_16KiB()
    {
        var result = RecordBatchValidator.ValidateRecords(_batch, _options);
        if (!result.IsValid) throw new InvalidOperationException(result.Message);
        return result.RecordCount;
    }

    /// <summary>The broker's append preparation under compression.type=zstd: the batch is recompressed unless it is
    /// zstd already.</summary>
    [Benchmark, Processes(Work.TextBatch16K)]
    public int ValidateAndRecompressToZstd_16KiB()
    {
        _output.Reset();
        var result = LogValidator.ValidateAndAssignOffsets(_batch, _output, _options, CompressionCodec.Zstd, 1_000, 0,
            TimestampType.CreateTime, Payloads.BaseTimestampMs, _layout);
        if (!result.IsValid) throw new InvalidOperationException(result.Message);
        return _output.Length;
    }
}
