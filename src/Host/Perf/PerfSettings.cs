using System.Globalization;
using DetKafka.Core.Client;
using DetKafka.Core.Records;
using DetKafka.Core.Records.Compression;

namespace DetKafka.Host.Perf;

public enum PerfMode { Produce, Consume, EndToEnd }

/// <summary>What one <c>detkafka perf</c> run does; the flags follow Kafka's producer and consumer perf tools.</summary>
public sealed record PerfSettings
{
    public const string DefaultBootstrap = "127.0.0.1:9092";

    public PerfMode Mode { get; init; }
    public string Topic { get; init; } = "";
    public IReadOnlyList<BrokerAddress> BootstrapServers { get; init; } = [new BrokerAddress("127.0.0.1", 9092)];

    /// <summary>Stop after this many records (all of them acknowledged or received), or after the duration,
    /// whichever comes first. At least one of the two is set.</summary>
    public long? NumRecords { get; init; }
    public long? DurationMs { get; init; }

    public int RecordSize { get; init; } = 100;
    public int KeySize { get; init; }
    public short Acks { get; init; } = -1;
    public int BatchSize { get; init; } = 16 * 1024;
    public int LingerMs { get; init; } = 5;
    public int MaxInFlight { get; init; } = 5;

    /// <summary>compression.type of the produced batches: none, gzip, snappy, lz4 or zstd.</summary>
    public CompressionCodec Compression { get; init; } = CompressionCodec.None;

    /// <summary>Partitions to create the topic with when it is missing; null: the broker's num.partitions.</summary>
    public int? Partitions { get; init; }

    /// <summary>Client connections, each its own client on its own thread, splitting the partitions between them.</summary>
    public int Connections { get; init; } = 1;

    /// <summary>Records per second over all connections; 0 or less: as fast as the broker takes them.</summary>
    public double Throughput { get; init; } = -1;

    public bool FromBeginning { get; init; } = true;

    /// <summary>max.partition.fetch.bytes.</summary>
    public int FetchSize { get; init; } = 1024 * 1024;

    /// <summary>Consume and e2e: give up after this long without a new record. All modes: the bound on setting up.</summary>
    public int TimeoutMs { get; init; } = 10_000;

    public int ReportIntervalMs { get; init; } = 1_000;

    /// <summary>Write the run as CSV here: one row per report interval (throughput and latency percentiles).</summary>
    public string? CsvPath { get; init; }

    public void Validate()
    {
        if (string.IsNullOrEmpty(Topic)) throw new ArgumentException("--topic is required");
        if (NumRecords is null && DurationMs is null) throw new ArgumentException("give --num-records or --duration-ms (or both)");
        if (NumRecords is <= 0) throw new ArgumentException("--num-records must be positive");
        if (DurationMs is <= 0) throw new ArgumentException("--duration-ms must be positive");
        if (RecordSize < 0 || RecordSize > 64 * 1024 * 1024) throw new ArgumentException("--record-size must be between 0 and 64 MiB");
        if (KeySize < 0 || KeySize > 1024 * 1024) throw new ArgumentException("--key-size must be between 0 and 1 MiB");
        if (Mode == PerfMode.EndToEnd && RecordSize < BatchTemplate.StampBytes)
            throw new ArgumentException("e2e needs --record-size of at least 8 (each value carries its send time)");
        if (Acks is not (-1 or 0 or 1)) throw new ArgumentException("--acks must be all, -1, 0 or 1");
        if (Mode == PerfMode.EndToEnd && Acks == 0) throw new ArgumentException("e2e needs acks 1 or all");
        if (BatchSize <= 0) throw new ArgumentException("--batch-size must be positive");
        if (LingerMs < 0) throw new ArgumentException("--linger-ms must not be negative");
        if (MaxInFlight is < 1 or > 1000) throw new ArgumentException("--max-in-flight must be between 1 and 1000");
        if (Partitions is < 1 or > 100_000) throw new ArgumentException("--partitions must be between 1 and 100000");
        if (Connections is < 1 or > 1000) throw new ArgumentException("--connections must be between 1 and 1000");
        if (FetchSize <= 0) throw new ArgumentException("--fetch-size must be positive");
        if (TimeoutMs <= 0) throw new ArgumentException("--timeout-ms must be positive");
        if (ReportIntervalMs <= 0) throw new ArgumentException("the report interval must be positive");
    }

    /// <summary>Kafka's comma-separated bootstrap list: host:port, [v6]:port; a missing port is 9092.</summary>
    public static IReadOnlyList<BrokerAddress> ParseBootstrap(string text)
    {
        var result = new List<BrokerAddress>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string host;
            string? port = null;
            if (raw.StartsWith('['))
            {
                int close = raw.IndexOf(']');
                if (close < 0) throw new ArgumentException($"bad bootstrap server '{raw}'");
                host = raw[1..close];
                if (close + 1 < raw.Length)
                {
                    if (raw[close + 1] != ':') throw new ArgumentException($"bad bootstrap server '{raw}'");
                    port = raw[(close + 2)..];
                }
            }
            else
            {
                int colon = raw.LastIndexOf(':');
                host = colon < 0 ? raw : raw[..colon];
                port = colon < 0 ? null : raw[(colon + 1)..];
            }
            int p = 9092;
            if (host.Length == 0 || (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out p) || p is < 1 or > 65535)))
                throw new ArgumentException($"bad bootstrap server '{raw}' (want host:port)");
            result.Add(new BrokerAddress(host, p));
        }
        if (result.Count == 0) throw new ArgumentException("--bootstrap-server names no server");
        return result;
    }

    public static CompressionCodec ParseCompression(string text)
        => CompressionCodecs.TryParse(text, out var codec) ? codec
            : throw new ArgumentException($"--compression-type must be none, gzip, snappy, lz4 or zstd, not '{text}'");

    public static short ParseAcks(string text) => text.Trim().ToLowerInvariant() switch
    {
        "all" or "-1" => -1,
        "0" => 0,
        "1" => 1,
        _ => throw new ArgumentException($"--acks must be all, -1, 0 or 1, not '{text}'"),
    };
}
