using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Records;

namespace DetKafka.Bench.Micro;

/// <summary>Record batch work on the produce path: CRC-32C, the shared validator, and the leader's
/// validate-and-assign-offsets copy (Kafka's LogValidator).</summary>
[MemoryDiagnoser]
public class RecordsBenchmarks
{
    public const int CrcBytes = 1024 * 1024;

    private byte[] _crcInput = null!;
    private byte[] _batch = null!;
    private DetKafka.Core.Records.Compression.PooledBuffer _destination = null!;
    private readonly List<AppendedBatch> _layout = new();
    private readonly RecordValidationOptions _options = RecordValidationOptions.ForProduce(1_048_588);

    [GlobalSetup]
    public void Setup()
    {
        _crcInput = new byte[CrcBytes];
        var random = new SeededRandom(7);
        for (int i = 0; i < _crcInput.Length; i += 8)
            BitConverter.TryWriteBytes(_crcInput.AsSpan(i), random.NextUInt64());
        _batch = Payloads.Batch16K();
        _destination = new DetKafka.Core.Records.Compression.PooledBuffer(_batch.Length);
    }

    [Benchmark, Processes(Work.Crc1M)]
    public uint Crc32C_1MiB() => Crc32C.Compute(_crcInput);

    [Benchmark, Processes(Work.Batch16K)]
    public int ValidateBatch_16KiB()
    {
        var result = RecordBatchValidator.ValidateRecords(_batch, _options);
        if (!result.IsValid) throw new InvalidOperationException(result.Message);
        return result.RecordCount;
    }

    [Benchmark, Processes(Work.Batch16K)]
    public int ValidateAndAssignOffsets_16KiB()
    {
        // As UnifiedLog.Append calls it: into a reused pooled buffer, compression.type=producer.
        _destination.Reset();
        var result = LogValidator.ValidateAndAssignOffsets(_batch, _destination, _options, targetCodec: null, 1_000, 0,
            TimestampType.CreateTime, Payloads.BaseTimestampMs, _layout);
        if (!result.IsValid) throw new InvalidOperationException(result.Message);
        return result.RecordCount;
    }
}
