using DetKafka.Core.Client;
using DetKafka.Core.Protocol;

namespace DetKafka.Host.Perf;

/// <summary>What a worker thread has done so far, read by the reporting thread (counters are interlocked; the
/// window fields are taken and reset by the reporter once per progress line).</summary>
public sealed class WorkerStats
{
    public long Records;
    public long Bytes;
    public long Failed;
    public long WindowLatencySumNs;
    public long WindowLatencyCount;
    public long WindowLatencyMaxNs;
    public long LastRecordTicks;
    public volatile string? LastError;
    public volatile bool Ready;
    public volatile bool Done;
    public volatile string? Fatal;

    public void Count(long records, long bytes, long ticks)
    {
        Interlocked.Add(ref Records, records);
        Interlocked.Add(ref Bytes, bytes);
        Volatile.Write(ref LastRecordTicks, ticks);
    }

    public void Latency(long nanos, long count) => Latency(nanos * count, count, nanos);

    public void Latency(long sumNanos, long count, long maxNanos)
    {
        Interlocked.Add(ref WindowLatencySumNs, sumNanos);
        Interlocked.Add(ref WindowLatencyCount, count);
        long nanos = maxNanos;
        long max = Volatile.Read(ref WindowLatencyMaxNs);
        while (nanos > max)
        {
            long seen = Interlocked.CompareExchange(ref WindowLatencyMaxNs, nanos, max);
            if (seen == max) break;
            max = seen;
        }
    }
}

/// <summary>
/// One producer connection: its own <see cref="KafkaClient"/> and <see cref="Producer"/> on its own thread,
/// handing pre-built batches (<see cref="BatchTemplate"/>) to <see cref="Producer.SendBatch"/> round robin over its
/// partitions. Unthrottled, it keeps one batch per partition queued behind what is in flight, so the connection
/// never idles and a record's latency (hand-off to acknowledgement) includes at most one request's wait. With a
/// rate, record k is due at start + k/rate; a batch leaves once full, or after linger.ms with what is due while
/// nothing waits for its partition, and each record's latency counts from when it was due (so a stalled broker
/// shows up as latency, not as a pause in sending). The copies of the template form a fixed pool: the worker
/// allocates nothing per batch.
/// </summary>
public sealed class ProduceWorker
{
    /// <summary>Output waiting for a full socket beyond which no more batches are handed over (acks=0 has no other
    /// bound: a request is done once written).</summary>
    private const long PendingOutputMax = 4 * 1024 * 1024;

    private readonly PerfSettings _settings;
    private readonly TopicPartition[] _partitions;
    private readonly long _records;
    private readonly double _ticksPerRecord;
    private readonly long _lingerTicks;
    private readonly bool _stamps;
    private readonly BatchTemplate _template;
    private readonly Stack<Slot> _free = new();
    private readonly ulong _seed;
    private ClientDriver? _driver;
    private Producer? _producer;
    private long _startTicks;
    private long _handed;
    private int _nextPartition;
    private volatile bool _stopHanding;
    private volatile bool _abort;

    private sealed class Slot
    {
        public required BatchTemplate.BatchBuffer Buffer;
        public int Count;
        public long FirstTicks;
        public double IntervalTicks;
        public Action<BatchDeliveryReport> Callback = null!;
    }

    /// <param name="records">This worker's share; long.MaxValue when only the duration bounds the run.</param>
    /// <param name="rate">This worker's records per second; 0 or less for unthrottled.</param>
    public ProduceWorker(PerfSettings settings, IReadOnlyList<int> partitions, long records, double rate, BatchTemplate template, ulong seed)
    {
        _settings = settings;
        _partitions = partitions.Select(p => new TopicPartition(settings.Topic, p)).ToArray();
        _records = records;
        _ticksPerRecord = rate > 0 ? System.Diagnostics.Stopwatch.Frequency / rate : 0;
        _lingerTicks = PerfClock.MillisToTicks(settings.LingerMs);
        _stamps = settings.Mode == PerfMode.EndToEnd;
        _template = template;
        _seed = seed;
        int slots = _partitions.Length * (settings.MaxInFlight + 2);
        for (int i = 0; i < slots; i++)
        {
            var slot = new Slot { Buffer = template.NewBuffer() };
            slot.Callback = report => OnReport(slot, report);
            _free.Push(slot);
        }
    }

    public WorkerStats Stats { get; } = new();

    /// <summary>Latency of every acknowledged record, in nanoseconds. Read it after the thread ended.</summary>
    public LatencyHistogram Histogram { get; } = new();

    /// <summary>Records handed to the producer.</summary>
    public long Handed => Interlocked.Read(ref _handed);

    /// <summary>Stop handing out records; the worker ends once what it handed is answered.</summary>
    public void StopHanding() => _stopHanding = true;

    /// <summary>End now, whatever is in flight.</summary>
    public void Abort() => _abort = true;

    /// <summary>Thread body: connect and learn the partitions' leaders (then <see cref="WorkerStats.Ready"/>), wait
    /// for <paramref name="start"/>, run, close.</summary>
    public void Run(ManualResetEventSlim start, Func<long> startTicks)
    {
        try
        {
            var options = new KafkaClientOptions
            {
                ClientId = "detkafka-perf-producer",
                BootstrapServers = _settings.BootstrapServers,
                MaxInFlightRequestsPerConnection = _settings.MaxInFlight,
            };
            using var driver = new ClientDriver(options, _seed);
            _driver = driver;
            _producer = new Producer(driver.Client, new ProducerOptions
            {
                Acks = _settings.Acks,
                LingerMs = _settings.LingerMs,
                BatchBytesMax = Math.Max(_settings.BatchSize, _template.FullBytes),
                BufferedRecordsMax = int.MaxValue,
            });
            foreach (var tp in _partitions) driver.Client.AddTopic(tp.Topic);
            if (!driver.RunUntil(() => _abort || LeadersReady(driver.Client), _settings.TimeoutMs))
            {
                Stats.Fatal = "no connection to the partitions' leaders within --timeout-ms";
                return;
            }
            Stats.Ready = true;
            start.Wait();
            _startTicks = startTicks();
            Loop(driver);
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

    private bool LeadersReady(KafkaClient client)
    {
        foreach (var tp in _partitions)
        {
            int leader = client.Metadata.LeaderFor(tp);
            if (leader < 0)
            {
                client.RequestMetadataUpdate();
                return false;
            }
            if (!client.Ready(leader) && client.VersionFor(leader, ApiKey.Produce) is null) return false;
        }
        return true;
    }

    private void Loop(ClientDriver driver)
    {
        var producer = _producer!;
        while (!_abort)
        {
            long now = PerfClock.Now;
            // Handing a batch over is an input to the client like any other: poll, so it leaves now.
            if (!_stopHanding && Hand(now) > 0) driver.PollNow();
            bool handingOver = _stopHanding || _handed >= _records;
            if (handingOver && producer.PendingRecords == 0)
            {
                // acks=0 counts a batch once the client wrote it; what still waits for a full socket goes out first.
                long until = PerfClock.Now + PerfClock.MillisToTicks(_settings.TimeoutMs);
                while (driver.Network.PendingOutputBytes > 0 && PerfClock.Now < until && !_abort) driver.Step(10_000);
                return;
            }
            // Unthrottled with room to hand more (acks=0 frees a batch as soon as it is written): go round at once,
            // unless the sockets are backed up, then wait for them to drain.
            bool more = !handingOver && _ticksPerRecord == 0 && _free.Count > 0 && producer.QueuedBatches < _partitions.Length
                        && driver.Network.PendingOutputBytes < PendingOutputMax;
            long wakeTicks = handingOver ? long.MaxValue : more ? now : NextWakeTicks(now);
            long waitMicros = wakeTicks == long.MaxValue ? 50_000 : Math.Clamp((wakeTicks - now) * 1_000_000 / System.Diagnostics.Stopwatch.Frequency, 0, 50_000);
            driver.Step(waitMicros);
        }
    }

    private long Due(long record) => _startTicks + (long)(record * _ticksPerRecord);

    /// <summary>Hands the producer what is due; returns the number of batches handed.</summary>
    private int Hand(long now)
    {
        var producer = _producer!;
        int handed = 0;
        while (_handed < _records && _free.Count > 0)
        {
            int count;
            long first;
            double interval;
            if (_ticksPerRecord == 0)
            {
                if (producer.QueuedBatches >= _partitions.Length) return handed;
                count = (int)Math.Min(_template.Records, _records - _handed);
                first = now;
                interval = 0;
            }
            else
            {
                long due = Math.Min(_records, (long)((now - _startTicks) / _ticksPerRecord) + 1);
                long available = due - _handed;
                if (available <= 0) return handed;
                bool full = available >= _template.Records || due == _records;
                if (!full && (now < Due(_handed) + _lingerTicks || producer.QueuedBatches >= _partitions.Length)) return handed;
                count = (int)Math.Min(_template.Records, available);
                first = Due(_handed);
                interval = _ticksPerRecord;
            }
            var slot = _free.Pop();
            var batch = _template.Prepare(slot.Buffer, count, _driver!.Clock.WallClockMs, _stamps, first, interval);
            slot.Count = count;
            slot.FirstTicks = first;
            slot.IntervalTicks = interval;
            var tp = _partitions[_nextPartition];
            _nextPartition = (_nextPartition + 1) % _partitions.Length;
            if (!producer.SendBatch(tp, batch, count, slot.Callback))
            {
                _free.Push(slot);
                return handed;
            }
            Interlocked.Add(ref _handed, count);
            handed++;
        }
        return handed;
    }

    /// <summary>When the next batch may leave by the schedule (throttled only; otherwise inputs wake the worker).</summary>
    private long NextWakeTicks(long now)
    {
        if (_ticksPerRecord == 0 || _free.Count == 0) return long.MaxValue;
        long full = Due(Math.Min(_records, _handed + _template.Records) - 1);
        long linger = Due(_handed) + _lingerTicks;
        return Math.Max(now, Math.Min(full, linger));
    }

    private void OnReport(Slot slot, BatchDeliveryReport report)
    {
        long now = PerfClock.Now;
        bool ok = report.Outcome == DeliveryOutcome.Acked
                  || (_settings.Acks == 0 && report.Outcome == DeliveryOutcome.Unknown && report.Error == ErrorCode.None);
        if (ok)
        {
            if (slot.IntervalTicks == 0)
            {
                long nanos = PerfClock.TicksToNanos(now - slot.FirstTicks);
                Histogram.Record(nanos, slot.Count);
                Stats.Latency(nanos, slot.Count);
            }
            else
            {
                long sum = 0, max = 0;
                for (int i = 0; i < slot.Count; i++)
                {
                    long nanos = PerfClock.TicksToNanos(now - (slot.FirstTicks + (long)(i * slot.IntervalTicks)));
                    Histogram.Record(nanos);
                    sum += nanos;
                    max = Math.Max(max, nanos);
                }
                Stats.Latency(sum, slot.Count, max);
            }
            Stats.Count(slot.Count, (long)slot.Count * (_template.RecordSize + _template.KeySize), now);
        }
        else
        {
            Interlocked.Add(ref Stats.Failed, slot.Count);
            Stats.LastError = $"{report.Outcome}: {report.Error} {report.Message}";
        }
        _free.Push(slot);
    }
}
