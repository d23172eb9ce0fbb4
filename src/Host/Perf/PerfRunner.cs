using System.Globalization;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Host.Perf;

/// <summary>
/// Runs one <c>detkafka perf</c> measurement: makes sure the topic exists (creating it with CreateTopics when
/// producing), starts one thread per connection, prints a progress line per report interval and, last, a
/// summary in the form of Kafka's perf tools. Returns the process exit code: 0 when every record was delivered
/// (and, with --num-records, that many), 1 otherwise.
/// </summary>
public static class PerfRunner
{
    private const double MiB = 1024.0 * 1024.0;

    /// <summary>After the run's end, how long answers to what is in flight are awaited before giving up.</summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(40);

    public static int Run(PerfSettings settings, TextWriter output, TextWriter error, CancellationToken cancel = default)
    {
        settings.Validate();
        int partitions = EnsureTopic(settings, error);
        if (partitions <= 0) return 1;
        return settings.Mode switch
        {
            PerfMode.Produce => RunProduce(settings, partitions, output, error, cancel),
            PerfMode.Consume => RunConsume(settings, partitions, output, error, cancel),
            _ => RunEndToEnd(settings, partitions, output, error, cancel),
        };
    }

    // ---- topic ------------------------------------------------------------------------------------------

    /// <summary>The topic's partition count, creating the topic first if it is missing and we produce; -1 (with a
    /// message) on failure.</summary>
    public static int EnsureTopic(PerfSettings settings, TextWriter error)
    {
        // The broker answers CreateTopics once every partition exists (thousands of partitions take minutes: each costs
        // several fsyncs), so the request may take as long as the setup bound allows.
        var options = new KafkaClientOptions
        {
            ClientId = "detkafka-perf-admin", BootstrapServers = settings.BootstrapServers,
            RequestTimeoutMs = Math.Max(30_000, settings.TimeoutMs + 5_000),
        };
        using var driver = new ClientDriver(options, seed: 1);
        var client = driver.Client;
        client.AddTopic(settings.Topic);
        bool create = settings.Mode != PerfMode.Consume;
        bool createSent = false;
        string? failure = null;
        bool done = driver.RunUntil(() =>
        {
            if (client.Metadata.PartitionCount(settings.Topic) > 0 || failure is not null) return true;
            var topicError = client.Metadata.TopicError(settings.Topic);
            if (topicError == ErrorCode.None || createSent) return false;
            if (topicError != ErrorCode.UnknownTopicOrPartition || !create)
            {
                failure = $"topic '{settings.Topic}': {topicError}";
                return true;
            }
            int node = client.Metadata.Brokers.ContainsKey(client.Metadata.ControllerId)
                ? client.Metadata.ControllerId
                : client.Metadata.Brokers.Keys.DefaultIfEmpty(-1).First();
            if (node < 0 || !client.Ready(node)) return false;
            var request = new CreateTopicsRequest
            {
                TimeoutMs = settings.TimeoutMs,
                Topics =
                [
                    new CreateTopicsRequest.CreatableTopic
                    {
                        Name = settings.Topic,
                        NumPartitions = settings.Partitions ?? -1,
                        ReplicationFactor = -1,
                    },
                ],
            };
            createSent = true;
            client.Send(node, ApiKey.CreateTopics, request, response =>
            {
                if (response.Status != ResponseStatus.Ok)
                {
                    failure = $"CreateTopics: {response.Status}";
                    return;
                }
                var result = ((CreateTopicsResponse)response.Body!).Topics.FirstOrDefault(t => t.Name == settings.Topic);
                if (result is not null && result.ErrorCode is not (ErrorCode.None or ErrorCode.TopicAlreadyExists))
                    failure = $"CreateTopics '{settings.Topic}': {result.ErrorCode} {result.ErrorMessage}";
                client.RequestMetadataUpdate();
            });
            return false;
        }, settings.TimeoutMs);
        if (failure is not null || !done)
        {
            error.WriteLine("detkafka perf: " + (failure ?? $"no metadata for topic '{settings.Topic}' from "
                + string.Join(",", settings.BootstrapServers) + $" within {settings.TimeoutMs} ms"));
            return -1;
        }
        int count = client.Metadata.PartitionCount(settings.Topic);
        if (settings.Partitions is { } wanted && wanted != count && !createSent)
            error.WriteLine($"detkafka perf: topic '{settings.Topic}' exists with {count} partitions; --partitions {wanted} applies only to a new topic");
        return count;
    }

    /// <summary>Partitions per connection, round robin. With more connections than partitions, connections share.</summary>
    public static List<int[]> Split(int partitions, int connections)
    {
        var result = new List<int[]>();
        for (int w = 0; w < connections; w++)
        {
            var mine = Enumerable.Range(0, partitions).Where(p => p % connections == w).ToArray();
            result.Add(mine.Length > 0 ? mine : [w % partitions]);
        }
        return result;
    }

    private static long Share(long total, int workers, int index) => total / workers + (index < total % workers ? 1 : 0);

    // ---- modes ------------------------------------------------------------------------------------------

    private static int RunProduce(PerfSettings s, int partitions, TextWriter output, TextWriter error, CancellationToken cancel)
    {
        var producers = StartProducers(s, partitions);
        var start = new ManualResetEventSlim();
        long startTicks = 0;
        var threads = producers.Select((w, i) => Spawn($"perf-producer-{i}", () => w.Run(start, () => startTicks))).ToList();
        if (!AwaitReady(producers.Select(p => p.Stats).ToList(), s, error))
        {
            foreach (var p in producers) p.Abort();
            start.Set();
            Join(threads);
            return 1;
        }
        startTicks = PerfClock.Now;
        start.Set();
        var stats = producers.Select(p => p.Stats).ToList();
        Report(s, "sent", "latency", stats, startTicks, output, cancel,
            stopHanding: () => producers.ForEach(p => p.StopHanding()),
            abort: () => producers.ForEach(p => p.Abort()));
        Join(threads);
        var histogram = Merge(producers.Select(p => p.Histogram));
        long endTicks = EndTicks(stats, startTicks);
        bool ok = Problems(stats, error);
        long acked = stats.Sum(x => Interlocked.Read(ref x.Records));
        if (s.NumRecords is { } n && acked != n)
        {
            error.WriteLine($"detkafka perf: {acked} of {n} records acknowledged");
            ok = false;
        }
        output.WriteLine(HistogramLine("latency", histogram));
        output.WriteLine(Summary($"{acked} records sent", stats, histogram, startTicks, endTicks, "latency"));
        return ok ? 0 : 1;
    }

    private static int RunConsume(PerfSettings s, int partitions, TextWriter output, TextWriter error, CancellationToken cancel)
    {
        long received = 0;
        long target = s.NumRecords ?? long.MaxValue;
        var consumers = StartConsumers(s, partitions, Math.Min(s.Connections, partitions), target, r => Interlocked.Add(ref received, r));
        var threads = consumers.Select((w, i) => Spawn($"perf-consumer-{i}", w.Run)).ToList();
        var stats = consumers.Select(c => c.Stats).ToList();
        if (!AwaitReady(stats, s, error))
        {
            consumers.ForEach(c => c.Stop());
            Join(threads);
            return 1;
        }
        long startTicks = PerfClock.Now;
        Report(s, "received", "fetch latency", stats, startTicks, output, cancel,
            stopHanding: () => consumers.ForEach(c => c.Stop()),
            abort: () => consumers.ForEach(c => c.Stop()));
        Join(threads);
        var histogram = Merge(consumers.Select(c => c.Histogram));
        long endTicks = EndTicks(stats, startTicks);
        bool ok = Problems(stats, error, idleIsError: s.NumRecords is not null);
        long total = Interlocked.Read(ref received);
        if (s.NumRecords is { } n && total < n)
        {
            error.WriteLine($"detkafka perf: {total} of {n} records received");
            ok = false;
        }
        output.WriteLine(HistogramLine("fetch latency", histogram));
        output.WriteLine(Summary($"{total} records received", stats, histogram, startTicks, endTicks, "fetch latency"));
        return ok ? 0 : 1;
    }

    private static int RunEndToEnd(PerfSettings s, int partitions, TextWriter output, TextWriter error, CancellationToken cancel)
    {
        long received = 0;
        long target = s.NumRecords ?? long.MaxValue;
        var consumer = StartConsumers(s, partitions, 1, long.MaxValue, r => Interlocked.Add(ref received, r))[0];
        var consumerThread = Spawn("perf-consumer-0", consumer.Run);
        var producers = StartProducers(s, partitions);
        var start = new ManualResetEventSlim();
        long startTicks = 0;
        var producerThreads = producers.Select((w, i) => Spawn($"perf-producer-{i}", () => w.Run(start, () => startTicks))).ToList();
        var producerStats = producers.Select(p => p.Stats).ToList();
        if (!AwaitReady([consumer.Stats, .. producerStats], s, error))
        {
            producers.ForEach(p => p.Abort());
            consumer.Stop();
            start.Set();
            Join([consumerThread, .. producerThreads]);
            return 1;
        }
        startTicks = PerfClock.Now;
        start.Set();
        // Progress follows the consumer: what arrived and its end-to-end latency. The run ends once the consumer
        // has every record the producers had acknowledged when they finished.
        Report(s, "received", "end-to-end latency", [consumer.Stats], startTicks, output, cancel,
            stopHanding: () => producers.ForEach(p => p.StopHanding()),
            abort: () =>
            {
                producers.ForEach(p => p.Abort());
                consumer.Stop();
            },
            finished: () =>
            {
                if (!producerStats.All(p => p.Done)) return false;
                long acked = producerStats.Sum(p => Interlocked.Read(ref p.Records));
                if (Interlocked.Read(ref received) >= Math.Min(target, acked) || consumer.Stats.Done)
                {
                    consumer.Stop();
                    return consumer.Stats.Done;
                }
                return false;
            });
        consumer.Stop();
        Join([consumerThread, .. producerThreads]);
        bool ok = Problems(producerStats, error);
        ok &= Problems([consumer.Stats], error);
        long sent = producerStats.Sum(p => Interlocked.Read(ref p.Records));
        long total = Interlocked.Read(ref received);
        if (total != sent || (s.NumRecords is { } n && sent != n))
        {
            error.WriteLine($"detkafka perf: {sent} records acknowledged, {total} received" + (s.NumRecords is { } m ? $", {m} wanted" : ""));
            ok = false;
        }
        output.WriteLine(HistogramLine("end-to-end latency", consumer.Histogram));
        output.WriteLine(Summary($"{sent} records sent", producerStats, Merge(producers.Select(p => p.Histogram)),
            startTicks, EndTicks(producerStats, startTicks), "latency"));
        output.WriteLine(Summary($"{total} records received", [consumer.Stats], consumer.Histogram, startTicks,
            EndTicks([consumer.Stats], startTicks), "end-to-end latency"));
        return ok ? 0 : 1;
    }

    private static List<ProduceWorker> StartProducers(PerfSettings s, int partitions)
    {
        var template = new BatchTemplate(s.RecordSize, s.KeySize, s.BatchSize, seed: 42, s.Compression);
        var split = Split(partitions, s.Connections);
        long total = s.NumRecords ?? long.MaxValue;
        double rate = s.Throughput > 0 ? s.Throughput / s.Connections : 0;
        return split.Select((mine, i) => new ProduceWorker(s, mine,
            s.NumRecords is null ? long.MaxValue : Share(total, split.Count, i), rate, template, seed: 100 + (ulong)i)).ToList();
    }

    private static List<ConsumeWorker> StartConsumers(PerfSettings s, int partitions, int connections, long target, Func<long, long> add)
        => Split(partitions, connections).Select((mine, i) => new ConsumeWorker(s, mine, add, target, seed: 200 + (ulong)i)).ToList();

    private static Thread Spawn(string name, Action body)
    {
        var thread = new Thread(() => body()) { IsBackground = true, Name = name };
        thread.Start();
        return thread;
    }

    private static void Join(IEnumerable<Thread> threads)
    {
        foreach (var t in threads) t.Join();
    }

    private static bool AwaitReady(List<WorkerStats> stats, PerfSettings s, TextWriter error)
    {
        long until = PerfClock.Now + PerfClock.MillisToTicks(s.TimeoutMs + 5_000);
        while (!stats.All(x => x.Ready))
        {
            if (stats.FirstOrDefault(x => x.Fatal is not null) is { } failed)
            {
                error.WriteLine("detkafka perf: " + failed.Fatal);
                return false;
            }
            if (PerfClock.Now > until)
            {
                error.WriteLine("detkafka perf: the connections were not ready in time");
                return false;
            }
            Thread.Sleep(5);
        }
        return true;
    }

    /// <summary>Prints a progress line per interval until every worker is done (or <paramref name="finished"/>
    /// says so); stops handing out records at the duration's end or on cancellation, and aborts after
    /// <see cref="DrainLimit"/> more.</summary>
    private static void Report(PerfSettings s, string verb, string latencyName, List<WorkerStats> stats, long startTicks, TextWriter output,
        CancellationToken cancel, Action stopHanding, Action abort, Func<bool>? finished = null)
    {
        finished ??= () => stats.All(x => x.Done);
        long interval = PerfClock.MillisToTicks(s.ReportIntervalMs);
        long nextReport = startTicks + interval;
        long windowStart = startTicks;
        long lastRecords = 0, lastBytes = 0;
        long stopAt = s.DurationMs is { } d ? startTicks + PerfClock.MillisToTicks(d) : long.MaxValue;
        long abortAt = long.MaxValue;
        bool stopped = false;
        using var csv = s.CsvPath is null ? null : new StreamWriter(s.CsvPath, append: false);
        csv?.WriteLine(CsvHeader);
        var window = csv is null ? null : new LatencyHistogram();
        var plotRows = new List<PerfPlot.Row>();
        while (!finished())
        {
            Thread.Sleep(10);
            long now = PerfClock.Now;
            if (!stopped && (now >= stopAt || cancel.IsCancellationRequested))
            {
                stopped = true;
                stopHanding();
                abortAt = now + PerfClock.MillisToTicks(DrainLimit.TotalMilliseconds);
            }
            if (now >= abortAt)
            {
                abort();
                abortAt = long.MaxValue;
            }
            if (now < nextReport) continue;
            long records = stats.Sum(x => Interlocked.Read(ref x.Records));
            long bytes = stats.Sum(x => Interlocked.Read(ref x.Bytes));
            long latencySum = 0, latencyCount = 0, latencyMax = 0;
            foreach (var x in stats)
            {
                latencySum += Interlocked.Exchange(ref x.WindowLatencySumNs, 0);
                latencyCount += Interlocked.Exchange(ref x.WindowLatencyCount, 0);
                latencyMax = Math.Max(latencyMax, Interlocked.Exchange(ref x.WindowLatencyMaxNs, 0));
            }
            double seconds = Seconds(now - windowStart);
            long n = records - lastRecords;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n} records {verb}, {n / seconds:F1} records/sec ({(bytes - lastBytes) / MiB / seconds:F2} MB/sec), "
                + $"{(latencyCount == 0 ? 0 : latencySum / (double)latencyCount / 1e6):F2} ms avg {latencyName}, {latencyMax / 1e6:F2} ms max {latencyName}."));
            output.Flush();
            if (csv is not null)
            {
                window!.Reset();
                foreach (var x in stats) x.TakeWindow(window);
                csv.WriteLine(CsvRow(Seconds(now - startTicks), n, n / seconds, (bytes - lastBytes) / MiB / seconds, window));
                csv.Flush();
                plotRows.Add(PlotRow(Seconds(now - startTicks), n / seconds, (bytes - lastBytes) / MiB / seconds, window));
            }
            lastRecords = records;
            lastBytes = bytes;
            windowStart = now;
            while (nextReport <= now) nextReport += interval;
        }
        if (s.CsvPath is not null)
            File.WriteAllText(PerfPlot.PathFor(s.CsvPath), PerfPlot.Render(PlotTitle(s, verb, latencyName), plotRows));
    }

    private static PerfPlot.Row PlotRow(double elapsedSeconds, double recordsPerSecond, double mibPerSecond, LatencyHistogram latency)
    {
        static double Ms(double nanos) => nanos / 1e6;
        return latency.Count == 0
            ? new PerfPlot.Row(elapsedSeconds, recordsPerSecond, mibPerSecond, double.NaN, double.NaN, double.NaN, double.NaN)
            : new PerfPlot.Row(elapsedSeconds, recordsPerSecond, mibPerSecond, Ms(latency.ValueAtPercentile(50)),
                Ms(latency.ValueAtPercentile(99)), Ms(latency.ValueAtPercentile(99.9)), Ms(latency.Max));
    }

    private static string PlotTitle(PerfSettings s, string verb, string latencyName)
        => string.Create(CultureInfo.InvariantCulture,
            $"detkafka perf {s.Mode.ToString().ToLowerInvariant()}: topic {s.Topic}, {s.RecordSize} B records, acks {s.Acks}, batch {s.BatchSize} B, "
            + $"{s.Connections} connection(s){(s.Throughput > 0 ? $", {s.Throughput:F0} records/s" : "")}; records {verb}, {latencyName}");

    private static double Seconds(long ticks) => Math.Max(1e-9, ticks / (double)System.Diagnostics.Stopwatch.Frequency);

    private static long EndTicks(List<WorkerStats> stats, long startTicks)
    {
        long end = stats.Max(x => Volatile.Read(ref x.LastRecordTicks));
        return end > startTicks ? end : PerfClock.Now;
    }

    private static LatencyHistogram Merge(IEnumerable<LatencyHistogram> histograms)
    {
        var all = new LatencyHistogram();
        foreach (var h in histograms) all.Add(h);
        return all;
    }

    /// <summary>Reports failures; false if there were any.</summary>
    private static bool Problems(List<WorkerStats> stats, TextWriter error, bool idleIsError = true)
    {
        bool ok = true;
        foreach (var x in stats)
        {
            if (x.Fatal is { } fatal)
            {
                error.WriteLine("detkafka perf: " + fatal);
                ok = false;
            }
            long failed = Interlocked.Read(ref x.Failed);
            if (failed > 0)
            {
                error.WriteLine($"detkafka perf: {failed} records not delivered; last error: {x.LastError}");
                ok = false;
            }
            else if (x.LastError is { } last && idleIsError)
            {
                error.WriteLine("detkafka perf: " + last);
            }
        }
        return ok;
    }

    public const string CsvHeader = "elapsed_s,records,records_per_s,mb_per_s,latency_avg_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,latency_p999_ms,latency_max_ms,latency_count";

    /// <summary>One CSV row: the interval ending <paramref name="elapsedSeconds"/> after the start. Latency columns are
    /// empty when no latency was recorded in it.</summary>
    public static string CsvRow(double elapsedSeconds, long records, double recordsPerSecond, double mibPerSecond, LatencyHistogram latency)
    {
        static string Ms(double nanos) => (nanos / 1e6).ToString("F3", CultureInfo.InvariantCulture);
        string lat = latency.Count == 0 ? ",,,,,,0"
            : $"{Ms(latency.Mean)},{Ms(latency.ValueAtPercentile(50))},{Ms(latency.ValueAtPercentile(95))},{Ms(latency.ValueAtPercentile(99))},"
              + $"{Ms(latency.ValueAtPercentile(99.9))},{Ms(latency.Max)},{latency.Count.ToString(CultureInfo.InvariantCulture)}";
        return string.Create(CultureInfo.InvariantCulture, $"{elapsedSeconds:F3},{records},{recordsPerSecond:F1},{mibPerSecond:F3},{lat}");
    }

    /// <summary>The latency distribution in one line: the percentiles, then the share of samples at or under each
    /// power-of-two bound from 0.125 ms to 1 s (cumulative), so the shape of the tail shows without a plot.</summary>
    public static string HistogramLine(string latencyName, LatencyHistogram latency)
    {
        static string Ms(double nanos) => (nanos / 1e6).ToString("F2", CultureInfo.InvariantCulture);
        var line = new System.Text.StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{latencyName} histogram: {latency.Count} samples, p50 {Ms(latency.ValueAtPercentile(50))} ms, ")
            .Append(CultureInfo.InvariantCulture, $"p95 {Ms(latency.ValueAtPercentile(95))} ms, p99 {Ms(latency.ValueAtPercentile(99))} ms, ")
            .Append(CultureInfo.InvariantCulture, $"p99.9 {Ms(latency.ValueAtPercentile(99.9))} ms, max {Ms(latency.Max)} ms; cumulative");
        for (double boundMs = 0.125; boundMs <= 1024; boundMs *= 2)
        {
            double share = latency.Count == 0 ? 0 : 100.0 * latency.CountAtOrBelow((long)(boundMs * 1e6)) / latency.Count;
            line.Append(CultureInfo.InvariantCulture, $" <={boundMs:0.###}ms {share:F1}%");
            if (share >= 100) break;
        }
        return line.Append('.').ToString();
    }

    /// <summary>Kafka's summary line: "N records sent, X records/sec (Y MB/sec), Z ms avg latency, W ms max latency,
    /// A ms 50th, B ms 95th, C ms 99th, D ms 99.9th." Milliseconds keep two decimals (Kafka prints whole ones for
    /// the percentiles) since sub-millisecond latencies are the point here.</summary>
    public static string Summary(string head, List<WorkerStats> stats, LatencyHistogram latency, long startTicks, long endTicks, string latencyName)
    {
        long records = stats.Sum(x => Interlocked.Read(ref x.Records));
        long bytes = stats.Sum(x => Interlocked.Read(ref x.Bytes));
        double seconds = Seconds(endTicks - startTicks);
        return FormatSummary(head, records / seconds, bytes / MiB / seconds, latency, latencyName);
    }

    public static string FormatSummary(string head, double recordsPerSecond, double mibPerSecond, LatencyHistogram latency, string latencyName)
    {
        static string Ms(double nanos) => (nanos / 1e6).ToString("F2", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture,
            $"{head}, {recordsPerSecond:F1} records/sec ({mibPerSecond:F2} MB/sec), {Ms(latency.Mean)} ms avg {latencyName}, "
            + $"{Ms(latency.Max)} ms max {latencyName}, {Ms(latency.ValueAtPercentile(50))} ms 50th, {Ms(latency.ValueAtPercentile(95))} ms 95th, "
            + $"{Ms(latency.ValueAtPercentile(99))} ms 99th, {Ms(latency.ValueAtPercentile(99.9))} ms 99.9th.");
    }
}
