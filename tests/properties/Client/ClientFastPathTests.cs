using System.Buffers.Binary;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using Xunit;

namespace DetKafka.Properties.Client;

/// <summary>The load generator's paths through the pure client: pre-built batches in, raw batches out,
/// responses decoded in place, topics created with CreateTopics.</summary>
public class ClientFastPathTests
{
    private static byte[] Batch(int first, int count)
        => RecordBatchBuilder.Build(Enumerable.Range(first, count).Select(i => new SimpleRecord(null, Loopback.Long(i), 1_000 + i)).ToList());

    [Fact]
    public void Prebuilt_batches_are_acknowledged_once_each_at_consecutive_offsets_and_mix_with_single_records()
    {
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var producer = new Producer(net.NewClient(), new ProducerOptions { Acks = -1, LingerMs = 3 });
        var reports = new List<BatchDeliveryReport>();
        var records = new List<DeliveryReport>();
        var tp = new TopicPartition("t", 1);
        Assert.True(producer.SendBatch(tp, Batch(0, 5), 5, reports.Add));
        Assert.True(producer.Send(new ProducerRecord("t", 1, null, Loopback.Long(5)), records.Add));
        Assert.True(producer.SendBatch(tp, Batch(6, 3), 3, reports.Add));
        Assert.Equal(9, producer.PendingRecords);
        Assert.Equal(3, producer.QueuedBatches);
        net.Run();
        Assert.Equal([(5, 0L), (3, 6L)], reports.Select(r => (r.RecordCount, r.BaseOffset)));
        Assert.All(reports, r => Assert.Equal(DeliveryOutcome.Acked, r.Outcome));
        Assert.Equal(5, Assert.Single(records).Offset);
        Assert.Equal(0, producer.PendingRecords);
        Assert.Equal(0, producer.QueuedBatches);
        Assert.Equal(9, net.Broker.FindLog("t", 1)!.HighWatermark);
    }

    [Fact]
    public void A_prebuilt_batch_respects_the_buffer_bound_and_fails_as_a_whole()
    {
        var net = new Loopback();
        var producer = new Producer(net.NewClient(), new ProducerOptions { Acks = 1, BufferedRecordsMax = 6, DeliveryTimeoutMs = 50 });
        var reports = new List<BatchDeliveryReport>();
        Assert.True(producer.SendBatch(new TopicPartition("missing", 0), Batch(0, 4), 4, reports.Add));
        Assert.False(producer.SendBatch(new TopicPartition("missing", 0), Batch(0, 4), 4, reports.Add));
        net.Run(100);
        var report = Assert.Single(reports);
        Assert.Equal(4, report.RecordCount);
        Assert.NotEqual(DeliveryOutcome.Acked, report.Outcome);
        Assert.Equal(-1, report.BaseOffset);
        Assert.Equal(0, producer.PendingRecords);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Raw_batches_cover_every_record_once_from_the_position_whether_decoded_in_place_or_not(bool inPlace)
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var client = net.NewClient(new KafkaClientOptions
        {
            BootstrapServers = [new BrokerAddress("broker", 9092)],
            DecodeResponsesInPlace = inPlace,
            ReceiveBufferKeepBytes = 1 << 20,
        });
        var producer = new Producer(client, new ProducerOptions { Acks = -1 });
        var tp = new TopicPartition("t", 0);
        for (int b = 0; b < 10; b++) producer.SendBatch(tp, Batch(b * 7, 7), 7, _ => { });
        net.Run();
        var consumer = new Consumer(client, new ConsumerOptions { FetchMaxWaitMs = 5, MaxPartitionFetchBytes = 300 });
        var seen = new List<long>();
        var positions = new List<long>();
        consumer.RawBatches = (partition, batch, position) =>
        {
            Assert.Equal(tp, partition);
            positions.Add(position);
            var decoded = new List<DecodedRecord>();
            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(batch, decoded));
            foreach (var r in decoded.Where(r => r.Offset >= position))
            {
                Assert.Equal(r.Offset, BinaryPrimitives.ReadInt64BigEndian(r.Value));
                seen.Add(r.Offset);
            }
        };
        // Start inside the third batch: the batch holding offset 17 arrives whole, its records before 17 are not new.
        consumer.Assign([tp], new Dictionary<TopicPartition, long> { [tp] = 17 });
        net.Run(300);
        Assert.Equal(Enumerable.Range(17, 70 - 17).Select(i => (long)i), seen);
        Assert.Equal(17, positions[0]);
        Assert.Equal(70, consumer.Position(tp));
        Assert.Equal(0, consumer.BufferedRecords);
    }

    [Fact]
    public void A_corrupt_fetched_batch_is_reported_and_not_delivered_raw()
    {
        var net = new Loopback();
        net.CreateTopic("t", 1);
        var client = net.NewClient();
        var producer = new Producer(client, new ProducerOptions { Acks = -1 });
        var tp = new TopicPartition("t", 0);
        producer.SendBatch(tp, Batch(0, 3), 3, _ => { });
        net.Run();
        // Flip a byte of the stored record on disk, behind the broker's back.
        var file = net.Disk.List("data/t-0").Single(f => f.EndsWith(".log", StringComparison.Ordinal));
        using (var log = net.Disk.Open("data/t-0/" + file, create: false))
        {
            var one = new byte[1];
            log.Read(RecordBatch.RecordsOffset + 3, one);
            one[0] ^= 0xFF;
            log.Write(RecordBatch.RecordsOffset + 3, one);
        }
        var consumer = new Consumer(client, new ConsumerOptions { FetchMaxWaitMs = 5 });
        var errors = new List<ErrorCode>();
        int delivered = 0;
        consumer.PartitionError = (_, e, _) => errors.Add(e);
        consumer.RawBatches = (_, _, _) => delivered++;
        consumer.Assign([tp], new Dictionary<TopicPartition, long> { [tp] = 0 });
        net.Run(50);
        Assert.Equal(0, delivered);
        Assert.Contains(ErrorCode.CorruptMessage, errors);
        Assert.Equal(0, consumer.Position(tp));
    }

    [Fact]
    public void CreateTopics_goes_through_the_client()
    {
        var net = new Loopback();
        var client = net.NewClient();
        client.AddTopic("new");
        net.Run(5);
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, client.Metadata.TopicError("new"));
        CreateTopicsResponse? response = null;
        client.Ready(1); // connects
        net.Run(5);
        Assert.True(client.Ready(1));
        client.Send(1, ApiKey.CreateTopics,
            new CreateTopicsRequest { Topics = [new CreateTopicsRequest.CreatableTopic { Name = "new", NumPartitions = 4, ReplicationFactor = -1 }] },
            r => response = (CreateTopicsResponse)r.Body!);
        net.Run(300);
        Assert.Equal(ErrorCode.None, Assert.Single(response!.Topics).ErrorCode);
        Assert.Equal(4, client.Metadata.PartitionCount("new"));
    }
}
