using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Client;

/// <summary>
/// The pure client against one in-process broker, wired back to back with no simulated faults: bytes go
/// through a queue so neither side is re-entered, syncs complete when the test says so.
/// </summary>
internal sealed class Loopback : IClientNetwork, INetwork
{
    private readonly Queue<Action> _pending = new();
    private long _nextId = 1;

    public Loopback(BrokerConfig? config = null)
    {
        Config = config ?? new BrokerConfig { NodeId = 1, AdvertisedHost = "broker", AdvertisedPort = 9092, DataDirectory = "data" };
        Broker = new BrokerNode(Config, Clock, Disk, this, new SeededRandom(1), NullBrokerLog.Instance);
        Broker.Start();
    }

    public BrokerConfig Config { get; }
    public ManualClock Clock { get; } = new();
    public SimDisk Disk { get; } = new();
    public BrokerNode Broker { get; }
    public KafkaClient? Client { get; private set; }
    public bool SyncsEnabled { get; set; } = true;

    /// <summary>The api key of every request the client sent, in order.</summary>
    public List<ApiKey> RequestsSent { get; } = new();

    public KafkaClient NewClient(KafkaClientOptions? options = null)
    {
        Client = new KafkaClient(options ?? new KafkaClientOptions { BootstrapServers = [new BrokerAddress("broker", 9092)], RequestTimeoutMs = 5_000 },
            Clock, this, new SeededRandom(2));
        return Client;
    }

    // client -> broker
    ConnectionId IClientNetwork.Connect(BrokerAddress address)
    {
        var id = new ConnectionId(_nextId++);
        _pending.Enqueue(() =>
        {
            Broker.OnConnectionOpened(id);
            Client!.OnConnected(id);
        });
        return id;
    }

    void IClientNetwork.Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        // Frames are size-prefixed: the api key follows the 4-byte size.
        if (copy.Length >= 6) RequestsSent.Add((ApiKey)BinaryPrimitives.ReadInt16BigEndian(copy.AsSpan(4)));
        _pending.Enqueue(() => Broker.OnReceive(connection, copy));
    }

    void IClientNetwork.Close(ConnectionId connection) => _pending.Enqueue(() => Broker.OnConnectionClosed(connection));

    // broker -> client
    void INetwork.Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        _pending.Enqueue(() => Client!.OnReceive(connection, copy));
    }

    void INetwork.Close(ConnectionId connection) => _pending.Enqueue(() => Client!.OnClosed(connection));
    void INetwork.SetReceiveEnabled(ConnectionId connection, bool enabled) { }
    ConnectionId INetwork.Connect(string host, int port) => throw new NotSupportedException();

    /// <summary>Delivers everything queued, completes syncs, polls; advances the clock a millisecond per round.</summary>
    public void Run(int rounds = 200)
    {
        for (int round = 0; round < rounds; round++)
        {
            for (int delivered = 0; _pending.Count > 0; delivered++)
            {
                Assert.True(delivered < 100_000, "client and broker keep talking without time passing");
                _pending.Dequeue()();
                Client?.Poll();
            }
            if (SyncsEnabled)
                foreach (var (token, status) in Disk.CompletePendingSyncs()) Broker.OnSyncCompleted(token, status);
            Clock.Advance(1);
            if (Broker.NextDeadlineMs <= Clock.MonotonicMs) Broker.Poll();
            Client?.Poll();
        }
    }

    public void CreateTopic(string name, int partitions)
        => Assert.Equal(ErrorCode.None, Broker.CreateTopic(name, partitions, [], validateOnly: false, out _).Error);

    public static byte[] Long(long v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, v);
        return b;
    }
}

public class ClientTests
{
    [Fact]
    public void A_producer_with_acks_all_reports_consecutive_offsets_in_order()
    {
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var producer = new Producer(net.NewClient(), new ProducerOptions { Acks = -1, LingerMs = 2, BatchRecordsMax = 3 });
        var reports = new List<DeliveryReport>();
        for (int i = 0; i < 10; i++) Assert.True(producer.Send(new ProducerRecord("t", 1, null, Loopback.Long(i)), reports.Add));
        net.Run();
        Assert.Equal(10, reports.Count);
        Assert.All(reports, r => Assert.Equal(DeliveryOutcome.Acked, r.Outcome));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), reports.Select(r => r.Offset));
        Assert.Equal(0, producer.PendingRecords);
        Assert.Equal(10, net.Broker.FindLog("t", 1)!.HighWatermark);
    }

    [Fact]
    public void Acks_zero_reports_unknown_without_an_offset_and_the_records_still_land()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var producer = new Producer(net.NewClient(), new ProducerOptions { Acks = 0, LingerMs = 0 });
        var reports = new List<DeliveryReport>();
        for (int i = 0; i < 5; i++) producer.Send(new ProducerRecord("t", 0, null, Loopback.Long(i)), reports.Add);
        net.Run();
        Assert.All(reports, r => Assert.Equal((DeliveryOutcome.Unknown, -1L, ErrorCode.None), (r.Outcome, r.Offset, r.Error)));
        Assert.Equal(5, net.Broker.FindLog("t", 0)!.LogEndOffset);
    }

    [Fact]
    public void A_send_to_a_missing_partition_fails_definitely_after_its_delivery_timeout()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var producer = new Producer(net.NewClient(), new ProducerOptions { Acks = 1, DeliveryTimeoutMs = 100, RetryBackoffMs = 10 });
        var reports = new List<DeliveryReport>();
        producer.Send(new ProducerRecord("t", 7, null, Loopback.Long(1)), reports.Add);
        net.Run(300);
        var report = Assert.Single(reports);
        Assert.Equal(DeliveryOutcome.Failed, report.Outcome);
    }

    [Fact]
    public void A_request_the_broker_never_answers_times_out_as_unknown()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        net.SyncsEnabled = false; // the append happens, its ack never comes
        var client = net.NewClient(new KafkaClientOptions { BootstrapServers = [new BrokerAddress("broker", 9092)], RequestTimeoutMs = 50 });
        var producer = new Producer(client, new ProducerOptions { Acks = -1, Retries = 0, AckTimeoutMs = 1_000 });
        var reports = new List<DeliveryReport>();
        producer.Send(new ProducerRecord("t", 0, null, Loopback.Long(1)), reports.Add);
        net.Run(200);
        var report = Assert.Single(reports);
        Assert.Equal(DeliveryOutcome.Unknown, report.Outcome);
        Assert.Equal(ErrorCode.NetworkException, report.Error);
    }

    [Fact]
    public void A_consumer_past_the_end_resets_to_the_earliest_offset_and_reads_in_order()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var client = net.NewClient();
        var producer = new Producer(client, new ProducerOptions { Acks = 1, LingerMs = 0, BatchRecordsMax = 4 });
        for (int i = 0; i < 20; i++) producer.Send(new ProducerRecord("t", 0, null, Loopback.Long(100 + i)), _ => { });
        net.Run();
        var consumer = new Consumer(client, new ConsumerOptions { FetchMaxWaitMs = 5, MaxPartitionFetchBytes = 200 });
        var errors = new List<ErrorCode>();
        consumer.PartitionError = (_, e, _) => errors.Add(e);
        var tp = new TopicPartition("t", 0);
        consumer.Assign([tp], new Dictionary<TopicPartition, long> { [tp] = 500 });
        net.Run(300);
        Assert.Contains(ErrorCode.OffsetOutOfRange, errors);
        var records = consumer.TakeRecords(100);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), records.Select(r => r.Offset));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => 100L + i), records.Select(r => BinaryPrimitives.ReadInt64BigEndian(r.Value)));
        Assert.Equal(20, consumer.Position(tp));
        Assert.Equal(20, consumer.HighWatermark(tp));
    }

    [Fact]
    public void Old_api_versions_negotiate_and_still_work()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var caps = new Dictionary<ApiKey, short> { [ApiKey.ApiVersions] = 0, [ApiKey.Produce] = 3, [ApiKey.Fetch] = 4, [ApiKey.Metadata] = 1, [ApiKey.ListOffsets] = 1 };
        var client = net.NewClient(new KafkaClientOptions { BootstrapServers = [new BrokerAddress("broker", 9092)], MaxVersions = caps });
        var producer = new Producer(client, new ProducerOptions { Acks = -1, LingerMs = 0 });
        var consumer = new Consumer(client, new ConsumerOptions { FetchMaxWaitMs = 5 });
        var reports = new List<DeliveryReport>();
        producer.Send(new ProducerRecord("t", 0, null, Loopback.Long(9)), reports.Add);
        consumer.Assign([new TopicPartition("t", 0)]);
        net.Run();
        Assert.Equal(DeliveryOutcome.Acked, Assert.Single(reports).Outcome);
        Assert.Equal((short?)3, client.VersionFor(1, ApiKey.Produce));
        Assert.Equal((short?)4, client.VersionFor(1, ApiKey.Fetch));
        Assert.Equal(9, BinaryPrimitives.ReadInt64BigEndian(Assert.Single(consumer.TakeRecords(10)).Value));
    }
}
