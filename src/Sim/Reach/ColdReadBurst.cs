using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;

namespace DetKafka.Sim.Reach;

/// <summary>
/// "A cold read during a burst" (issue 16; SIMULATION.md): one node on a <see cref="SimDisk"/> whose page-cache model
/// is on (<see cref="SimDisk.NowUs"/>: a synchronous read of a cold range blocks the node, in virtual time, for a
/// read's latency, as a pread of an evicted page blocks the driver thread). A topic <c>cold</c> is written in small
/// segments, then left alone past <see cref="ColdAfterMs"/>; then, for <see cref="RunMs"/>, a consumer reads it from
/// offset 0 while four producers keep producing to the four partitions of <c>hot</c> (acks=1, one request in flight
/// each). The check: every produce is acknowledged within <see cref="ProduceLatencyBoundMs"/> of virtual time (a
/// produce waits for one fsync, at most <see cref="FsyncMaxMs"/>; a cold read costs at least
/// <see cref="ColdReadMinMs"/>), the consumer receives every record of <c>cold</c> once, in order, with the value
/// written, and the node really read cold data asynchronously. With <see cref="BrokerConfig.TestOnlySynchronousColdReads"/>
/// (the planted bug: cold segments read on the driver thread, as before issue 16) the produces stall behind the reads.
/// The driver is a one-millisecond step loop with its own disk completion queues (syncs and reads on separate lanes).
/// </summary>
public static class ColdReadBurst
{
    public const long ColdAfterMs = 1_000;
    public const long RunMs = 8_000;
    public const long FsyncMaxMs = 4;
    public const long ColdReadMinMs = 80;
    public const long ProduceLatencyBoundMs = 40;
    private const int HotPartitions = 4;
    private const int ColdBatches = 240;
    private const int RecordsPerBatch = 4;

    public sealed record Report(
        ulong Seed, long ProducesAcked, long MaxProduceLatencyMs, long ColdRecordsFetched, long ColdRecordsWritten,
        long ReadAheads, long BlockingColdReads, IReadOnlyList<string> Problems)
    {
        public override string ToString()
        {
            var inv = CultureInfo.InvariantCulture;
            return string.Create(inv, $"seed {Seed}: {ProducesAcked} produces acknowledged, slowest {MaxProduceLatencyMs} ms (bound {ProduceLatencyBoundMs}); ")
                + string.Create(inv, $"{ColdRecordsFetched}/{ColdRecordsWritten} cold records fetched; {ReadAheads} read-aheads, {BlockingColdReads} blocking cold reads; ")
                + (Problems.Count == 0 ? "ok" : string.Join("; ", Problems.Take(5)));
        }
    }

    private sealed class Driver
    {
        public readonly ManualClock Clock = new();
        public readonly SimDisk Disk = new();
        public readonly RecordingNetwork Network = new();
        public readonly SeededRandom Random;
        public BrokerNode Broker = null!;
        private readonly Queue<long> _syncsDue = new();
        private readonly Queue<long> _readsDue = new();
        private long _lastSyncDue, _lastReadDue;
        public long BusyUntilMs;
        private int _correlation = 1;

        public Driver(ulong seed) => Random = new SeededRandom(SimulationOptions.SubSeed(seed, 96));

        public long ReadLatencyMs() => ColdReadMinMs + Random.NextInt(0, 221);

        public void Send(ConnectionId connection, ApiKey key, short version, IKafkaMessage body)
        {
            Broker.OnReceive(connection, ClientCodec.EncodeRequest(key, version, _correlation++, "cold-burst", body));
            AfterInput();
        }

        /// <summary>After every input: schedule the disk requests it made, and charge a blocking cold read to the node.</summary>
        public void AfterInput()
        {
            long now = Clock.MonotonicMs;
            while (_syncsDue.Count < Disk.PendingSyncCount)
            {
                _lastSyncDue = Math.Max(now + Random.NextInt(1, (int)FsyncMaxMs + 1), _lastSyncDue);
                _syncsDue.Enqueue(_lastSyncDue);
            }
            while (_readsDue.Count < Disk.PendingReadCount)
            {
                _lastReadDue = Math.Max(now + ReadLatencyMs(), _lastReadDue);
                _readsDue.Enqueue(_lastReadDue);
            }
            long stallUs = Disk.TakeStallUs();
            if (stallUs > 0) BusyUntilMs = Math.Max(BusyUntilMs, now) + (stallUs + 999) / 1000;
        }

        /// <summary>Delivers the disk completions and the deadline due now; false while the node is blocked.</summary>
        public bool Step()
        {
            long now = Clock.MonotonicMs;
            if (now < BusyUntilMs) return false;
            while (_syncsDue.Count > 0 && _syncsDue.Peek() <= now)
            {
                _syncsDue.Dequeue();
                var (token, status) = Disk.CompletePendingSyncs(1)[0];
                Broker.OnSyncCompleted(token, status);
                AfterInput();
                if (Clock.MonotonicMs < BusyUntilMs) return false;
            }
            while (_readsDue.Count > 0 && _readsDue.Peek() <= now)
            {
                _readsDue.Dequeue();
                var (token, status) = Disk.CompletePendingReads(1)[0];
                Broker.OnSyncCompleted(token, status);
                AfterInput();
                if (Clock.MonotonicMs < BusyUntilMs) return false;
            }
            if (Broker.NextDeadlineMs <= now)
            {
                Broker.Poll();
                AfterInput();
            }
            return Clock.MonotonicMs >= BusyUntilMs;
        }

        /// <summary>Set-up only: every sync completes at once.</summary>
        public void Settle()
        {
            for (int round = 0; round < 100 && Disk.PendingSyncCount > 0; round++)
                foreach (var (token, status) in Disk.CompletePendingSyncs()) Broker.OnSyncCompleted(token, status);
            _syncsDue.Clear();
        }

        public T? TakeResponse<T>(ConnectionId connection, ApiKey key, short version) where T : class, IKafkaMessage
        {
            var frames = Network.TakeFrames(connection);
            if (frames.Count == 0) return null;
            if (frames.Count > 1) throw new InvalidOperationException($"{frames.Count} responses on a connection with one request in flight");
            return (T)ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(frames[0]), out _);
        }
    }

    private static byte[] Value(string topic, long sequence) => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{topic}-{sequence}"));

    private static ProduceRequest Produce(string topic, int partition, byte[] batch)
    {
        var request = new ProduceRequest { Acks = 1, TimeoutMs = 30_000 };
        request.TopicData.Add(new ProduceRequest.TopicProduceData { Name = topic });
        request.TopicData[0].PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = partition, Records = batch });
        return request;
    }

    private static byte[] Batch(ManualClock clock, string topic, long firstSequence)
    {
        var values = new byte[RecordsPerBatch][];
        for (int i = 0; i < RecordsPerBatch; i++) values[i] = Value(topic, firstSequence + i);
        return RecordBatchBuilder.Build(clock.WallClockMs, CompressionCodec.None, values);
    }

    public static Report Run(ulong seed, bool plantedSynchronousReads = false)
    {
        var d = new Driver(seed);
        var problems = new List<string>();
        d.Disk.NowUs = () => d.Clock.MonotonicMs * 1000;
        d.Disk.ColdAfterUs = ColdAfterMs * 1000;
        d.Disk.ColdReadStallUs = () => d.ReadLatencyMs() * 1000;
        var config = new BrokerConfig
        {
            NodeId = 1, DataDirectory = "data", AutoCreateTopicsEnable = false,
            ColdReadAfterMs = ColdAfterMs, TestOnlySynchronousColdReads = plantedSynchronousReads,
        };
        d.Broker = new BrokerNode(config, d.Clock, d.Disk, d.Network, new SeededRandom(SimulationOptions.SubSeed(seed, 97)), NullBrokerLog.Instance);
        d.Broker.Start();
        var cold = d.Broker.CreateTopic("cold", 1, [new("segment.bytes", "4096")], validateOnly: false, out _);
        var hot = d.Broker.CreateTopic("hot", HotPartitions, [], validateOnly: false, out _);
        if (cold.Error != ErrorCode.None || hot.Error != ErrorCode.None) throw new InvalidOperationException("set-up topics");
        d.Settle();

        // Set-up: the cold topic's data, every produce synced at once.
        var writer = new ConnectionId(1);
        d.Broker.OnConnectionOpened(writer);
        for (int b = 0; b < ColdBatches; b++)
        {
            d.Send(writer, ApiKey.Produce, 9, Produce("cold", 0, Batch(d.Clock, "cold", (long)b * RecordsPerBatch)));
            d.Settle();
            var r = d.TakeResponse<ProduceResponse>(writer, ApiKey.Produce, 9) ?? throw new InvalidOperationException("set-up produce unanswered");
            if (r.Responses[0].PartitionResponses[0].ErrorCode != ErrorCode.None) throw new InvalidOperationException("set-up produce failed");
            d.Clock.Advance(1);
        }
        long coldWritten = (long)ColdBatches * RecordsPerBatch;
        // Long enough for every cached range to go cold; nothing blocks the node while it idles.
        d.Clock.Advance(5 * ColdAfterMs);
        if (d.Broker.NextDeadlineMs <= d.Clock.MonotonicMs) d.Broker.Poll();
        d.Settle();
        d.Disk.TakeStallUs();
        d.BusyUntilMs = 0;
        long readAheadsBefore = d.Broker.ColdReads.Requested;
        long blockingBefore = d.Disk.ColdSyncReads;

        // The burst: four producers (one partition each, one request in flight) and one consumer of the cold topic.
        var producers = new ConnectionId[HotPartitions];
        var sentAt = new long[HotPartitions];
        var nextSequence = new long[HotPartitions];
        for (int p = 0; p < HotPartitions; p++)
        {
            producers[p] = new ConnectionId(10 + p);
            d.Broker.OnConnectionOpened(producers[p]);
            sentAt[p] = -1;
        }
        var consumer = new ConnectionId(20);
        d.Broker.OnConnectionOpened(consumer);
        bool fetching = false;
        long nextOffset = 0, acked = 0, maxLatency = 0;
        var decoded = new List<DecodedRecord>();
        long start = d.Clock.MonotonicMs;
        while (d.Clock.MonotonicMs < start + RunMs)
        {
            d.Clock.Advance(1);
            long now = d.Clock.MonotonicMs;
            if (!d.Step()) continue;
            for (int p = 0; p < HotPartitions; p++)
            {
                if (sentAt[p] >= 0 && d.TakeResponse<ProduceResponse>(producers[p], ApiKey.Produce, 9) is { } r)
                {
                    var e = r.Responses[0].PartitionResponses[0].ErrorCode;
                    if (e != ErrorCode.None) problems.Add($"produce to hot-{p} answered {e}");
                    long latency = now - sentAt[p];
                    maxLatency = Math.Max(maxLatency, latency);
                    if (latency > ProduceLatencyBoundMs && problems.Count < 20)
                        problems.Add(string.Create(CultureInfo.InvariantCulture, $"produce to hot-{p} sent at {sentAt[p] - start} ms acknowledged after {latency} ms (bound {ProduceLatencyBoundMs})"));
                    acked++;
                    sentAt[p] = -1;
                }
                if (sentAt[p] < 0 && d.Clock.MonotonicMs >= d.BusyUntilMs)
                {
                    sentAt[p] = now;
                    d.Send(producers[p], ApiKey.Produce, 9, Produce("hot", p, Batch(d.Clock, "hot", nextSequence[p])));
                    nextSequence[p] += RecordsPerBatch;
                }
            }
            if (fetching && d.TakeResponse<FetchResponse>(consumer, ApiKey.Fetch, 12) is { } f)
            {
                fetching = false;
                var part = f.Responses[0].Partitions[0];
                if (part.ErrorCode != ErrorCode.None) problems.Add($"fetch of cold-0 at {nextOffset} answered {part.ErrorCode}");
                decoded.Clear();
                var error = RecordBatchDecoder.Decode((part.Records ?? ReadOnlyMemory<byte>.Empty).Span, decoded, allowPartialTrailingBatch: true);
                if (error != ErrorCode.None) problems.Add($"fetch of cold-0 at {nextOffset}: records do not decode ({error})");
                foreach (var record in decoded)
                {
                    if (record.Offset < nextOffset) continue; // the batch holding the fetch offset may start before it
                    if (record.Offset != nextOffset)
                    {
                        problems.Add($"fetch of cold-0 skipped from offset {nextOffset} to {record.Offset}");
                        break;
                    }
                    if (record.Value is null || !record.Value.AsSpan().SequenceEqual(Value("cold", record.Offset)))
                    {
                        problems.Add($"cold-0 offset {record.Offset} holds the wrong value");
                        break;
                    }
                    nextOffset++;
                }
            }
            if (!fetching && nextOffset < coldWritten && d.Clock.MonotonicMs >= d.BusyUntilMs)
            {
                var fetch = new FetchRequest { ReplicaId = -1, MaxWaitMs = 500, MinBytes = 1, MaxBytes = 1 << 20, IsolationLevel = 0 };
                fetch.Topics.Add(new FetchRequest.FetchTopic { Topic = "cold", Partitions = { new FetchRequest.FetchPartition { Partition = 0, FetchOffset = nextOffset, PartitionMaxBytes = 1024 } } });
                fetching = true;
                d.Send(consumer, ApiKey.Fetch, 12, fetch);
            }
        }
        long readAheads = d.Broker.ColdReads.Requested - readAheadsBefore;
        long blocking = d.Disk.ColdSyncReads - blockingBefore;
        if (nextOffset != coldWritten)
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"the consumer read {nextOffset} of {coldWritten} cold records in {RunMs} ms"));
        if (acked < RunMs / 10) problems.Add($"only {acked} produces were acknowledged: the burst did too little");
        if (!plantedSynchronousReads && readAheads < 5) problems.Add($"only {readAheads} read-aheads: the scenario read too little cold data");
        if (!plantedSynchronousReads && blocking > 0) problems.Add($"{blocking} reads blocked the node on cold data: Core's model of the cache disagrees with the disk's");
        return new Report(seed, acked, maxLatency, nextOffset, coldWritten, readAheads, blocking, problems);
    }
}
