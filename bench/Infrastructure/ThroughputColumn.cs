using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using System.Reflection;

namespace DetKafka.Bench.Infrastructure;

/// <summary>The bytes one operation of a benchmark processes, for the MB/s column.</summary>
public enum Work { Batch16K, Records1M, Crc1M, TextBatch16K }

[AttributeUsage(AttributeTargets.Method)]
public sealed class ProcessesAttribute(Work work) : Attribute
{
    public Work Work { get; } = work;

    public static long Bytes(Work work) => work switch
    {
        Work.Batch16K => BatchLength.Value,
        Work.Records1M => RecordsLength.Value,
        Work.Crc1M => Micro.RecordsBenchmarks.CrcBytes,
        Work.TextBatch16K => TextBatchLength.Value,
        _ => 0,
    };

    private static readonly Lazy<long> BatchLength = new(() => Payloads.Batch16K().Length);
    private static readonly Lazy<long> TextBatchLength = new(() => Payloads.TextBatch16K(Core.Records.CompressionCodec.None).Length);
    private static readonly Lazy<long> RecordsLength = new(() => Payloads.Records1M().Length);
}

/// <summary>MB/s (10^6 bytes per second) for benchmarks marked with <see cref="ProcessesAttribute"/>.</summary>
public sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);
    public string ColumnName => "MB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Bytes processed per operation divided by the mean time, in 10^6 bytes per second";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var attribute = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttribute<ProcessesAttribute>();
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (attribute is null || meanNs is not > 0) return "-";
        double mbPerSecond = ProcessesAttribute.Bytes(attribute.Work) * 1000.0 / meanNs.Value;
        return mbPerSecond.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
    }
}
