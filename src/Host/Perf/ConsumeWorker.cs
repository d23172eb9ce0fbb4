using DetKafka.Core.Client;
using DetKafka.Core.Protocol;

namespace DetKafka.Host.Perf;

/// <summary>
/// One consumer connection: a <see cref="Consumer"/> with manual assignment (no group) of its share of the
/// partitions, on its own thread. Fetched batches arrive undecoded (<see cref="Consumer.RawBatches"/>) and are
/// only walked to count records and their key and value bytes, and in end-to-end runs to read each record's send
/// time; responses are decoded in place. Its latency is each Fetch request's round trip (long polls included),
/// or in end-to-end runs each record's time from its send to its arrival here.
/// </summary>
public sealed class ConsumeWorker
{
    private readonly PerfSettings _settings;
    private readonly TopicPartition[] _partitions;
    private readonly ulong _seed;
    private readonly Func<long, long> _addReceived;
    private readonly long _target;
    private volatile bool _measuring;
    private volatile bool _stop;

    /// <param name="addReceived">Adds to the count shared by all consume workers and returns the new total.</param>
    /// <param name="target">Stop once the shared total reaches it (long.MaxValue: only the duration or idleness).</param>
    public ConsumeWorker(PerfSettings settings, IReadOnlyList<int> partitions, Func<long, long> addReceived, long target, ulong seed)
    {
        _settings = settings;
        _partitions = partitions.Select(p => new TopicPartition(settings.Topic, p)).ToArray();
        _addReceived = addReceived;
        _target = target;
        _seed = seed;
    }

    public WorkerStats Stats { get; } = new();

    /// <summary>Fetch round trips, or end-to-end latencies, in nanoseconds. Read it after the thread ended.</summary>
    public LatencyHistogram Histogram { get; } = new();

    public void Stop() => _stop = true;

    /// <summary>Thread body: connect, find every partition's start offset (then <see cref="WorkerStats.Ready"/>),
    /// consume until the shared target, the stop or <see cref="PerfSettings.TimeoutMs"/> without a record.</summary>
    public void Run()
    {
        try
        {
            var options = new KafkaClientOptions
            {
                ClientId = "detkafka-perf-consumer",
                BootstrapServers = _settings.BootstrapServers,
                DecodeResponsesInPlace = true,
                ReceiveBufferKeepBytes = 64 * 1024 * 1024,
            };
            using var driver = new ClientDriver(options, _seed, readBufferBytes: 1024 * 1024);
            var consumer = new Consumer(driver.Client, new ConsumerOptions
            {
                MaxPartitionFetchBytes = _settings.FetchSize,
                AutoOffsetReset = _settings.FromBeginning && _settings.Mode != PerfMode.EndToEnd ? OffsetResetPolicy.Earliest : OffsetResetPolicy.Latest,
            });
            bool endToEnd = _settings.Mode == PerfMode.EndToEnd;
            consumer.RawBatches = endToEnd ? OnBatchEndToEnd : OnBatch;
            if (!endToEnd)
                driver.Network.RequestTimed = (key, ticks) =>
                {
                    if (key != ApiKey.Fetch || !_measuring) return; // the fetches before the start are set-up
                    long nanos = PerfClock.TicksToNanos(ticks);
                    Histogram.Record(nanos);
                    Stats.Latency(nanos, 1);
                };
            consumer.PartitionError = (tp, error, message) => Stats.LastError = $"{tp}: {error} {message}";
            consumer.Assign(_partitions);
            if (!driver.RunUntil(() => _stop || _partitions.All(tp => consumer.Position(tp) is not null), _settings.TimeoutMs))
            {
                Stats.Fatal = "no start offsets for the partitions within --timeout-ms (does the topic exist?)";
                return;
            }
            _measuring = true;
            Stats.Ready = true;
            long lastTicks = PerfClock.Now;
            long idleTicks = PerfClock.MillisToTicks(_settings.TimeoutMs);
            long seen = 0;
            while (!_stop)
            {
                driver.Step(20_000);
                long now = PerfClock.Now;
                long records = Interlocked.Read(ref Stats.Records);
                if (records != seen)
                {
                    seen = records;
                    lastTicks = now;
                }
                if (_addReceived(0) >= _target) break;
                if (now - lastTicks > idleTicks)
                {
                    Stats.LastError ??= $"no record for {_settings.TimeoutMs} ms";
                    break;
                }
            }
        }
        catch (Exception e)
        {
            Stats.Fatal = e.ToString();
        }
        finally
        {
            Stats.Done = true;
        }
    }

    private void OnBatch(TopicPartition tp, ReadOnlySpan<byte> batch, long position)
        => Count(batch, position, null);

    private void OnBatchEndToEnd(TopicPartition tp, ReadOnlySpan<byte> batch, long position)
        => Count(batch, position, Histogram);

    private void Count(ReadOnlySpan<byte> batch, long position, LatencyHistogram? endToEnd)
    {
        long now = PerfClock.Now;
        long before = endToEnd?.Count ?? 0;
        if (!RecordScan.Scan(batch, position, endToEnd, now, out int records, out long bytes, out long latencySum, out long latencyMax))
        {
            Stats.LastError = "a fetched batch does not parse";
            return;
        }
        if (records == 0) return;
        if (endToEnd is not null && endToEnd.Count > before) Stats.Latency(latencySum, endToEnd.Count - before, latencyMax);
        Stats.Count(records, bytes, now);
        _addReceived(records);
    }
}
