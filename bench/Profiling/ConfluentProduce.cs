using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DetKafka.Host.Perf;

namespace DetKafka.Bench.Profiling;

/// <summary>
/// <c>bench confluent</c>: a second, independent produce figure from a real client (Confluent.Kafka, librdkafka
/// underneath), to set beside <c>detkafka perf produce</c> against the same broker in the same run, so the broker is
/// not measured only by its own client. acks=all, batch.size and linger.ms as given (Kafka's defaults for the perf
/// tools: 16 KiB, 5 ms), no idempotence, no compression; values of <c>--record-size</c> random upper-case letters,
/// no key (librdkafka's sticky partitioner spreads them). Latency is per record, from the Produce call (or, with
/// <c>--throughput</c>, from when the record was due) to its delivery report, stamped in the value's first 8 bytes;
/// the values come from a ring larger than librdkafka's queue so a stamp is not overwritten before its report. It
/// prints the same histogram and summary lines as <c>detkafka perf</c>.
/// </summary>
internal static class ConfluentProduce
{
    private const int Ring = 1 << 18;
    private const int QueueMessagesMax = 200_000; // < Ring: a value is reused only after its report

    public static int Run(string[] args)
    {
        string bootstrap = "127.0.0.1:9092", topic = "confluent";
        int recordSize = 100, batchSize = 16 * 1024, lingerMs = 5, partitions = 8;
        long durationMs = 15_000;
        double throughput = -1;
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            string v = args[i + 1];
            switch (args[i])
            {
                case "--bootstrap-server": bootstrap = v; break;
                case "--topic": topic = v; break;
                case "--record-size": recordSize = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--batch-size": batchSize = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--linger-ms": lingerMs = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--partitions": partitions = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--duration-ms": durationMs = long.Parse(v, CultureInfo.InvariantCulture); break;
                case "--throughput": throughput = double.Parse(v, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException("unknown option " + args[i]);
            }
        }
        if (recordSize < 8) throw new ArgumentException("--record-size must be at least 8 (the value carries its send time)");

        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
        {
            try
            {
                admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }])
                    .GetAwaiter().GetResult();
            }
            catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code == ErrorCode.TopicAlreadyExists))
            {
            }
        }

        var values = new byte[Ring][];
        var random = new Random(42);
        for (int i = 0; i < Ring; i++)
        {
            values[i] = new byte[recordSize];
            for (int j = 8; j < recordSize; j++) values[i][j] = (byte)('A' + random.Next(26));
        }

        var config = new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = false,
            BatchSize = batchSize,
            LingerMs = lingerMs,
            CompressionType = CompressionType.None,
            QueueBufferingMaxMessages = QueueMessagesMax,
            QueueBufferingMaxKbytes = 1024 * 1024,
        };
        var histogram = new LatencyHistogram();
        long acked = 0, failed = 0, lastAckTicks = 0;
        string? lastError = null;
        var gate = new Lock();
        Action<DeliveryReport<Null, byte[]>> onDelivery = report =>
        {
            // The client's poll thread calls this, and so does Flush on the calling thread: hence the lock.
            long now = Stopwatch.GetTimestamp();
            lock (gate)
            {
                if (report.Error.IsError)
                {
                    failed++;
                    lastError = report.Error.Reason;
                    return;
                }
                long sent = BitConverter.ToInt64(report.Message.Value, 0);
                histogram.Record((long)((now - sent) * (1e9 / Stopwatch.Frequency)));
                acked++;
                lastAckTicks = Math.Max(lastAckTicks, now);
            }
        };

        using var producer = new ProducerBuilder<Null, byte[]>(config).Build();
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(durationMs / 1000.0 * Stopwatch.Frequency);
        double ticksPerRecord = throughput > 0 ? Stopwatch.Frequency / throughput : 0;
        long produced = 0;
        long nextReport = start + Stopwatch.Frequency;
        long lastAcked = 0;
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= end) break;
            long stamp = now;
            if (ticksPerRecord > 0)
            {
                long due = start + (long)(produced * ticksPerRecord);
                if (due > now)
                {
                    if (due - now > Stopwatch.Frequency / 2000) Thread.Sleep(0);
                    continue;
                }
                stamp = due;
            }
            var value = values[produced & (Ring - 1)];
            BitConverter.TryWriteBytes(value, stamp);
            try
            {
                producer.Produce(topic, new Message<Null, byte[]> { Value = value }, onDelivery);
                produced++;
            }
            catch (ProduceException<Null, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                Thread.Sleep(1);
            }
            if (now >= nextReport)
            {
                long a;
                lock (gate) a = acked;
                Console.WriteLine(FormattableString.Invariant($"{a - lastAcked} records acked in the last second"));
                lastAcked = a;
                nextReport += Stopwatch.Frequency;
            }
        }
        producer.Flush(TimeSpan.FromSeconds(60));
        // Flush returns once the queue is empty; the last delivery handlers may still be running.
        long total, failures;
        for (int i = 0; ; i++)
        {
            lock (gate)
            {
                total = acked;
                failures = failed;
            }
            if (i >= 1000 || total + failures >= produced) break;
            Thread.Sleep(10);
        }
        double seconds;
        lock (gate) seconds = (Math.Max(lastAckTicks, start + 1) - start) / (double)Stopwatch.Frequency;
        if (failures > 0) Console.Error.WriteLine($"bench confluent: {failures} records failed; last error: {lastError}");
        Console.WriteLine(PerfRunner.HistogramLine("latency", histogram));
        Console.WriteLine(PerfRunner.FormatSummary($"confluent: {total} records sent", total / seconds,
            total * (double)recordSize / (1024.0 * 1024.0) / seconds, histogram, "latency"));
        return failures == 0 && total == produced ? 0 : 1;
    }
}
