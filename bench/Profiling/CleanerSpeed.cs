using System.Diagnostics;
using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// `dotnet run -c Release --project bench -- cleaner [runs]`: the log cleaner's throughput and what it costs
/// produce latency. Throughput: a partition of 10,000 keys written 8 times (100-byte values, 50 records per
/// batch, uncompressed and gzip), 1 MiB segments, on a MemoryDisk (no I/O cost, so this is the cleaner's own
/// CPU cost); the cleaner runs to completion; MB/s = log bytes before the clean / wall time. Latency: 20,000
/// produces of one 50-record batch each (append + sync), measured alone and with one cleaner step (1 MiB
/// budget) run before each produce, as a request queued behind a step would wait; p50/p99/max per produce.
/// </summary>
public static class CleanerSpeed
{
    private static readonly TopicPartition Tp = new("bench", 0);

    public static void Run(string[] args)
    {
        int runs = args.Length > 1 && int.TryParse(args[1], out int n) ? n : 5;
        foreach (var codec in new[] { CompressionCodec.None, CompressionCodec.Gzip })
        {
            Throughput(codec, 1); // warm-up
            var figures = Enumerable.Range(0, runs).Select(_ => Throughput(codec, 8)).ToList();
            var best = figures.MaxBy(f => f.MBps);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"clean {codec,-5}: {best.LogBytes / 1e6:F1} MB log -> {best.AfterBytes / 1e6:F1} MB, median {Median(figures.Select(f => f.MBps)):F0} MB/s, best {best.MBps:F0} MB/s over {runs} runs"));
        }
        Latency(withCleaner: false);
        var without = Latency(withCleaner: false);
        var with = Latency(withCleaner: true);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"produce alone:          p50 {without.P50:F1} us, p99 {without.P99:F1} us, max {without.Max:F0} us"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"produce + cleaner step: p50 {with.P50:F1} us, p99 {with.P99:F1} us, max {with.Max:F0} us"));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }

    private static LogConfig Config => LogConfig.Default with { CleanupPolicy = "compact", SegmentBytes = 1 << 20, MinCleanableDirtyRatio = 0 };

    private static (UnifiedLog Log, LogManager Manager, MemoryDisk Disk) Fill(int versions, CompressionCodec codec, int keys = 10_000)
    {
        var disk = new MemoryDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var log = manager.GetOrCreateLog(Tp, Config, 0);
        string value = new('v', 100);
        long ts = 1_000;
        for (int v = 0; v < versions; v++)
        {
            for (int k = 0; k < keys; k += 50)
            {
                var records = new List<SimpleRecord>(50);
                for (int i = k; i < k + 50; i++)
                    records.Add(new SimpleRecord(Encoding.UTF8.GetBytes("key-" + i), Encoding.UTF8.GetBytes(value + v), ts++));
                log.Append(RecordBatchBuilder.Build(records, codec), ts);
            }
        }
        log.Flush();
        return (log, manager, disk);
    }

    private readonly record struct Figure(long LogBytes, long AfterBytes, double MBps);

    private static Figure Throughput(CompressionCodec codec, int versions)
    {
        var (log, manager, _) = Fill(versions, codec);
        // Roll the last segment so everything is cleanable.
        log.MaybeRollByTime(long.MaxValue / 2);
        long before = log.Size;
        var cleaner = new LogCleaner(LogCleanerConfig.Default, NullBrokerLog.Instance);
        var sw = Stopwatch.StartNew();
        while (cleaner.Step(manager, 10_000_000) || cleaner.Current is not null) { }
        sw.Stop();
        return new Figure(before, log.Size, before / 1e6 / sw.Elapsed.TotalSeconds);
    }

    private static (double P50, double P99, double Max) Latency(bool withCleaner)
    {
        const int produces = 20_000;
        var disk = new MemoryDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var log = manager.GetOrCreateLog(Tp, Config with { SegmentBytes = 256 * 1024 }, 0);
        var cleaner = new LogCleaner(LogCleanerConfig.Default with { MaxMapEntries = 100_000 }, NullBrokerLog.Instance);
        string value = new('v', 100);
        var batches = Enumerable.Range(0, 200).Select(b => RecordBatchBuilder.Build(
            Enumerable.Range(0, 50).Select(i => new SimpleRecord(Encoding.UTF8.GetBytes("key-" + ((b * 50 + i) % 2_000)), Encoding.UTF8.GetBytes(value), 1_000)).ToList())).ToList();
        var micros = new double[produces];
        for (int i = 0; i < produces; i++)
        {
            long start = Stopwatch.GetTimestamp();
            if (withCleaner) cleaner.Step(manager, 10_000_000);
            log.Append(batches[i % batches.Count], 1_000);
            log.MaybeStartSync(0);
            while (disk.TryTakeSync(out long token)) manager.OnSyncCompleted(token, DiskStatus.Ok, 0);
            micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(micros);
        return (micros[produces / 2], micros[(int)(produces * 0.99)], micros[^1]);
    }
}
