using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using Xunit;

namespace DetKafka.Properties.Broker;

public class BrokerTests
{
    internal static byte[] Batch(long timestamp, params string[] values)
        => RecordBatchBuilder.Build(values.Select((v, i) => new SimpleRecord(Encoding.UTF8.GetBytes("k" + i), Encoding.UTF8.GetBytes(v), timestamp + i)).ToList());

    internal static ProduceRequest Produce(string topic, int partition, byte[] records, short acks = -1, int timeoutMs = 30_000)
        => new()
        {
            Acks = acks,
            TimeoutMs = timeoutMs,
            TopicData = { new ProduceRequest.TopicProduceData { Name = topic, PartitionData = { new ProduceRequest.PartitionProduceData { Index = partition, Records = records } } } },
        };

    internal static FetchRequest Fetch(string topic, int partition, long offset, int maxWaitMs = 0, int minBytes = 1)
        => new()
        {
            MaxWaitMs = maxWaitMs,
            MinBytes = minBytes,
            MaxBytes = 50 * 1024 * 1024,
            IsolationLevel = 1,
            Topics = { new FetchRequest.FetchTopic { Topic = topic, Partitions = { new FetchRequest.FetchPartition { Partition = partition, FetchOffset = offset, PartitionMaxBytes = 1024 * 1024 } } } },
        };

    internal static MetadataRequest Metadata(params string[] topics)
        => new() { Topics = topics.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t }).ToList(), AllowAutoTopicCreation = true };

    internal static List<string> Values(ReadOnlyMemory<byte>? records)
    {
        var decoded = new List<DecodedRecord>();
        Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(records!.Value.Span, decoded));
        return decoded.Select(r => Encoding.UTF8.GetString(r.Value!)).ToList();
    }

    [Fact]
    public void ApiVersions_lists_every_handler_and_answers_unknown_versions_in_the_v0_layout()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        var v3 = h.Call<ApiVersionsResponse>(c, ApiKey.ApiVersions, 3, new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" });
        Assert.Equal(ErrorCode.None, v3.ErrorCode);
        var keys = v3.ApiKeys.ToDictionary(k => k.ApiKey);
        Assert.Equal((0, 9), ((int)keys[ApiKey.Produce].MinVersion, (int)keys[ApiKey.Produce].MaxVersion));
        Assert.Equal((4, 12), ((int)keys[ApiKey.Fetch].MinVersion, (int)keys[ApiKey.Fetch].MaxVersion));
        Assert.Equal((0, 12), ((int)keys[ApiKey.Metadata].MinVersion, (int)keys[ApiKey.Metadata].MaxVersion));
        Assert.Equal((0, 1), ((int)keys[ApiKey.ConsumerGroupHeartbeat].MinVersion, (int)keys[ApiKey.ConsumerGroupHeartbeat].MaxVersion));
        Assert.Equal((0, 4), ((int)keys[ApiKey.FindCoordinator].MinVersion, (int)keys[ApiKey.FindCoordinator].MaxVersion)); // librdkafka needs 0 for groups
        Assert.Equal(40, keys.Count); // 25 + the seven transaction APIs (24-28, 65, 66) + KIP-848's 68 and 69 + OffsetForLeaderEpoch (23) + KRaft's 52-55 + KIP-730's 67
        Assert.Equal((0, 2), ((int)keys[ApiKey.Vote].MinVersion, (int)keys[ApiKey.Vote].MaxVersion));
        Assert.Equal((0, 2), ((int)keys[ApiKey.DescribeQuorum].MinVersion, (int)keys[ApiKey.DescribeQuorum].MaxVersion));
        Assert.Equal((0, 4), ((int)keys[ApiKey.OffsetForLeaderEpoch].MinVersion, (int)keys[ApiKey.OffsetForLeaderEpoch].MaxVersion));

        // v99: the body cannot be parsed, so the answer is error 35 in the v0 layout with header v0.
        h.Node.OnReceive(c, ClientCodec.EncodeRequest(ApiKey.ApiVersions, 99, 777, "t", new ApiVersionsRequest()));
        var frame = Assert.Single(h.Network.TakeFrames(c));
        var reader = new KafkaReader(frame);
        Assert.Equal(777, reader.ReadInt32());
        var body = ApiVersionsResponse.Read(ref reader, 0);
        Assert.True(reader.IsAtEnd);
        Assert.Equal(ErrorCode.UnsupportedVersion, body.ErrorCode);
        Assert.Contains(body.ApiKeys, k => k.ApiKey == ApiKey.ApiVersions && k.MaxVersion == 3);
        Assert.DoesNotContain(c, h.Network.Closed);
    }

    [Fact]
    public void Metadata_auto_creates_topics_with_num_partitions_and_describes_the_single_broker()
    {
        var h = new BrokerHarness(new BrokerConfig { NodeId = 7, NumPartitions = 3, AdvertisedHost = "h", AdvertisedPort = 1234 });
        var c = h.Connect();
        var m = h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("orders"));
        Assert.Equal(7, m.ControllerId);
        Assert.False(string.IsNullOrEmpty(m.ClusterId));
        var b = Assert.Single(m.Brokers);
        Assert.Equal((7, "h", 1234), (b.NodeId, b.Host, b.Port));
        var t = Assert.Single(m.Topics);
        Assert.Equal(ErrorCode.None, t.ErrorCode);
        Assert.Equal(3, t.Partitions.Count);
        Assert.All(t.Partitions, p => Assert.Equal(7, p.LeaderId));

        // v0: empty list means all topics; an invalid name gets an error, not a topic.
        var all = h.Call<MetadataResponse>(c, ApiKey.Metadata, 0, new MetadataRequest { Topics = null });
        Assert.Equal("orders", Assert.Single(all.Topics).Name);
        var bad = h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("bad/name"));
        Assert.Equal(ErrorCode.InvalidTopicException, Assert.Single(bad.Topics).ErrorCode);
    }

    [Fact]
    public void Metadata_does_not_create_when_auto_create_is_off()
    {
        var h = new BrokerHarness(new BrokerConfig { AutoCreateTopicsEnable = false });
        var c = h.Connect();
        var m = h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("nope"));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, Assert.Single(m.Topics).ErrorCode);
        Assert.Null(h.Node.FindTopic("nope"));
    }

    [Fact]
    public void Produce_with_acks_all_is_answered_only_after_the_sync_and_one_sync_covers_waiting_requests()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(1000, "a", "b")));
        Assert.Empty(h.Network.TakeFrames(c)); // waiting for the sync
        Assert.Equal(1, h.Disk.PendingSyncCount);
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(1000, "c")));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(1000, "d")));
        Assert.Equal(1, h.Disk.PendingSyncCount); // one sync in flight per log
        Assert.Equal(1, h.CompleteSyncs());
        var first = h.Responses<ProduceResponse>(c, ApiKey.Produce, 9);
        Assert.Single(first); // the first sync covered only the first request
        Assert.Equal(0, first[0].Body.Responses[0].PartitionResponses[0].BaseOffset);
        Assert.Equal(1, h.Disk.PendingSyncCount); // the next sync covers both later requests (group commit)
        Assert.Equal(1, h.CompleteSyncs());
        var rest = h.Responses<ProduceResponse>(c, ApiKey.Produce, 9);
        Assert.Equal(new long[] { 2, 3 }, rest.Select(r => r.Body.Responses[0].PartitionResponses[0].BaseOffset));
        Assert.Equal(0, h.CompleteSyncs());
    }

    [Fact]
    public void Acks_zero_gets_no_response_and_acks_one_waits_for_the_sync()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        h.Send(c, ApiKey.Produce, 7, Produce("t", 0, Batch(1, "x"), acks: 0));
        h.CompleteSyncs();
        Assert.Empty(h.Network.TakeFrames(c));
        var r = h.Call<ProduceResponse>(c, ApiKey.Produce, 7, Produce("t", 0, Batch(1, "y"), acks: 1));
        Assert.Equal(1, r.Responses[0].PartitionResponses[0].BaseOffset);
        var bad = h.Call<ProduceResponse>(c, ApiKey.Produce, 7, Produce("t", 0, Batch(1, "z"), acks: 2));
        Assert.Equal(ErrorCode.InvalidRequiredAcks, bad.Responses[0].PartitionResponses[0].ErrorCode);
    }

    [Fact]
    public void Produce_v0_to_v2_is_answered_with_unsupported_version()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        var r = h.Call<ProduceResponse>(c, ApiKey.Produce, 2, Produce("t", 0, Batch(1, "x")));
        Assert.Equal(ErrorCode.UnsupportedVersion, r.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal(0, h.Node.FindLog("t", 0)!.LogEndOffset);
    }

    [Fact]
    public void A_corrupt_batch_gets_corrupt_message_and_is_never_written()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        var batch = Batch(1, "hello");
        batch[^1] ^= 0x40; // a flipped bit under the CRC
        var r = h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("t", 0, batch));
        Assert.Equal(ErrorCode.CorruptMessage, r.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal(0, h.Node.FindLog("t", 0)!.LogEndOffset);
        Assert.Contains(h.Logs, l => l.StartsWith("Warning Rejected a produce", StringComparison.Ordinal) && l.Contains("CorruptMessage"));
        var unknown = h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("missing", 0, Batch(1, "x")));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, unknown.Responses[0].PartitionResponses[0].ErrorCode);
    }

    [Fact]
    public void Fetch_returns_what_was_produced_and_waits_for_min_bytes_until_max_wait()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("t", 0, Batch(100, "a", "b", "c")));
        var f = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch("t", 0, 0));
        var p = f.Responses[0].Partitions[0];
        Assert.Equal(ErrorCode.None, p.ErrorCode);
        Assert.Equal(3, p.HighWatermark);
        Assert.Equal(3, p.LastStableOffset);
        Assert.NotNull(p.AbortedTransactions);
        Assert.Equal(new[] { "a", "b", "c" }, Values(p.Records));

        // Nothing at offset 3 yet: the fetch waits; a produce on another connection wakes it.
        var consumer = h.Connect();
        h.Send(consumer, ApiKey.Fetch, 4, Fetch("t", 0, 3, maxWaitMs: 500));
        Assert.Empty(h.Network.TakeFrames(consumer));
        var producer = h.Connect();
        h.Send(producer, ApiKey.Produce, 9, Produce("t", 0, Batch(200, "d")));
        Assert.Empty(h.Network.TakeFrames(consumer)); // not visible before the sync
        h.CompleteSyncs();
        var woken = Assert.Single(h.Responses<FetchResponse>(consumer, ApiKey.Fetch, 4));
        Assert.Equal(new[] { "d" }, Values(woken.Body.Responses[0].Partitions[0].Records));

        // And with nothing arriving, max_wait_ms answers empty.
        h.Send(consumer, ApiKey.Fetch, 4, Fetch("t", 0, 4, maxWaitMs: 500));
        h.AdvanceTime(499);
        Assert.Empty(h.Network.TakeFrames(consumer));
        h.AdvanceTime(1);
        var empty = Assert.Single(h.Responses<FetchResponse>(consumer, ApiKey.Fetch, 4));
        Assert.Equal(0, empty.Body.Responses[0].Partitions[0].Records!.Value.Length);

        var outOfRange = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch("t", 0, 99));
        Assert.Equal(ErrorCode.OffsetOutOfRange, outOfRange.Responses[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public void Responses_leave_in_request_order_even_when_a_later_request_finishes_first()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        int produceId = h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(1, "x")));
        int metadataId = h.Send(c, ApiKey.Metadata, 9, Metadata("t"));
        Assert.Empty(h.Network.TakeFrames(c)); // metadata is done but queued behind the produce
        h.CompleteSyncs();
        var frames = h.Network.TakeFrames(c);
        Assert.Equal(2, frames.Count);
        var r0 = new KafkaReader(frames[0]);
        var r1 = new KafkaReader(frames[1]);
        Assert.Equal(produceId, r0.ReadInt32());
        Assert.Equal(metadataId, r1.ReadInt32());
    }

    [Fact]
    public void ListOffsets_finds_earliest_latest_and_by_timestamp()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("t", 0, Batch(1_000, "a", "b")));   // ts 1000, 1001
        h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("t", 0, Batch(5_000, "c", "d")));   // ts 5000, 5001
        long Query(long ts, short version = 7)
        {
            var req = new ListOffsetsRequest { Topics = { new ListOffsetsRequest.ListOffsetsTopic { Name = "t", Partitions = { new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = 0, Timestamp = ts } } } } };
            var r = h.Call<ListOffsetsResponse>(c, ApiKey.ListOffsets, version, req).Topics[0].Partitions[0];
            Assert.Equal(ErrorCode.None, r.ErrorCode);
            return version == 0 ? r.OldStyleOffsets[0] : r.Offset;
        }
        Assert.Equal(0, Query(-2));
        Assert.Equal(4, Query(-1));
        Assert.Equal(4, Query(-1, 0));
        Assert.Equal(1, Query(1_001));
        Assert.Equal(2, Query(1_002));
        Assert.Equal(3, Query(5_001));
        Assert.Equal(-1, Query(9_999));
        Assert.Equal(3, Query(-3));
    }

    [Fact]
    public void Acknowledged_writes_survive_a_crash_and_offsets_continue_without_reuse()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        for (int i = 0; i < 5; i++) h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("t", 0, Batch(i, "v" + i)));
        h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(9, "unacked"))); // never synced
        h.CrashAndRestart(new SeededRandom(7));
        c = h.Connect();
        var f = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch("t", 0, 0));
        Assert.True(f.Responses[0].Partitions[0].HighWatermark >= 5, string.Join("\n", h.Logs) + " hw=" + f.Responses[0].Partitions[0].HighWatermark + " err=" + f.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal(new[] { "v0", "v1", "v2", "v3", "v4" }, Values(f.Responses[0].Partitions[0].Records).Take(5));
        long next = h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("t", 0, Batch(10, "after"))).Responses[0].PartitionResponses[0].BaseOffset;
        Assert.InRange(next, 5, 6); // 6 only if the unacknowledged batch happened to survive whole
        var all = Values(h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch("t", 0, 0)).Responses[0].Partitions[0].Records);
        Assert.Equal("after", all[^1]);
        Assert.Equal(next + 1, all.Count);
    }

    [Fact]
    public void Topics_and_their_configs_survive_a_restart()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        var created = h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, new CreateTopicsRequest
        {
            Topics = { new CreateTopicsRequest.CreatableTopic { Name = "kept", NumPartitions = 2, ReplicationFactor = 1, Configs = { new CreateTopicsRequest.CreatableTopicConfig { Name = "retention.ms", Value = "1234" } } } },
        });
        Assert.Equal(ErrorCode.None, created.Topics[0].ErrorCode);
        string clusterId = h.Node.ClusterId;
        h.CrashAndRestart();
        Assert.Equal(clusterId, h.Node.ClusterId);
        var topic = h.Node.FindTopic("kept");
        Assert.NotNull(topic);
        Assert.Equal(2, topic.PartitionCount);
        Assert.Equal("1234", topic.ConfigOverrides["retention.ms"]);
        Assert.Equal(1234, h.Node.FindLog("kept", 1)!.Config.RetentionMs);
    }

    [Fact]
    public void A_full_disk_fails_topic_changes_with_an_error_code_and_the_broker_keeps_serving()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("existing"));
        h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("existing", 0, Batch(1, "before")));
        h.Disk.CapacityBytes = h.Disk.UsedBytes; // ENOSPC on every further write
        var create = h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, new CreateTopicsRequest
        {
            Topics = { new CreateTopicsRequest.CreatableTopic { Name = "new", NumPartitions = 1, ReplicationFactor = 1 } },
        });
        Assert.Equal(ErrorCode.KafkaStorageError, create.Topics[0].ErrorCode);
        Assert.Null(h.Node.FindTopic("new"));
        var produce = h.Call<ProduceResponse>(c, ApiKey.Produce, 9, Produce("existing", 0, Batch(2, "full")));
        Assert.Equal(ErrorCode.KafkaStorageError, produce.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal(new[] { "before" }, Values(h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch("existing", 0, 0)).Responses[0].Partitions[0].Records));

        h.Disk.CapacityBytes = long.MaxValue; // space again: everything works, nothing was half-created
        create = h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, new CreateTopicsRequest
        {
            Topics = { new CreateTopicsRequest.CreatableTopic { Name = "new", NumPartitions = 1, ReplicationFactor = 1 } },
        });
        Assert.Equal(ErrorCode.None, create.Topics[0].ErrorCode);
        h.CrashAndRestart();
        Assert.NotNull(h.Node.FindTopic("new"));
    }

    [Fact]
    public void Bad_frames_close_only_their_connection()
    {
        var h = new BrokerHarness();
        var good = h.Connect();
        var unknownKey = h.Connect();
        var negative = h.Connect();
        var oversized = h.Connect();
        var garbage = h.Connect();
        var badVersion = h.Connect();

        h.Node.OnReceive(unknownKey, ClientCodec.EncodeRequest((ApiKey)999, 0, 1, "x", new ApiVersionsRequest()));
        h.Node.OnReceive(negative, new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 1, 2 });
        h.Node.OnReceive(oversized, new byte[] { 0x7F, 0x00, 0x00, 0x00 });
        // A well-sized frame whose Metadata body is nonsense (array length past the frame).
        var bogus = new byte[] { 0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 5, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF };
        h.Node.OnReceive(garbage, bogus);
        h.Node.OnReceive(badVersion, ClientCodec.EncodeRequest(ApiKey.Metadata, 9, 1, "x", Metadata()) is var m ? PatchVersion(m, 42) : m);

        Assert.Contains(unknownKey, h.Network.Closed);
        Assert.Contains(negative, h.Network.Closed);
        Assert.Contains(oversized, h.Network.Closed);
        Assert.Contains(garbage, h.Network.Closed);
        Assert.Contains(badVersion, h.Network.Closed);
        Assert.True(h.Logs.Count(l => l.StartsWith("Warning Closing", StringComparison.Ordinal)) >= 5);

        var r = h.Call<MetadataResponse>(good, ApiKey.Metadata, 9, Metadata("still-serving"));
        Assert.Equal(ErrorCode.None, r.Topics[0].ErrorCode);
        Assert.DoesNotContain(good, h.Network.Closed);
    }

    private static byte[] PatchVersion(byte[] frame, short version)
    {
        frame[6] = (byte)(version >> 8);
        frame[7] = (byte)version;
        return frame;
    }

    [Fact]
    public void A_truncated_frame_waits_for_the_rest_and_bytes_may_arrive_one_at_a_time()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        var frame = ClientCodec.EncodeRequest(ApiKey.Metadata, 1, 5, "x", Metadata());
        foreach (var b in frame[..^1]) h.Node.OnReceive(c, new[] { b });
        Assert.Empty(h.Network.TakeFrames(c));
        h.Node.OnReceive(c, frame[^1..]);
        Assert.Single(h.Network.TakeFrames(c));
    }

    [Fact]
    public void Too_many_in_flight_requests_pause_reading_until_they_complete()
    {
        var h = new BrokerHarness(new BrokerConfig { MaxInFlightRequestsPerConnection = 4 });
        var c = h.Connect();
        h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("t"));
        for (int i = 0; i < 6; i++) h.Send(c, ApiKey.Produce, 9, Produce("t", 0, Batch(i, "v" + i)));
        Assert.False(h.Network.ReceiveEnabled[c]);
        Assert.Equal(4, h.Node.FindLog("t", 0)!.LogEndOffset); // two requests stay buffered, unparsed
        while (h.CompleteSyncs() > 0) { }
        Assert.True(h.Network.ReceiveEnabled[c]);
        Assert.Equal(6, h.Responses<ProduceResponse>(c, ApiKey.Produce, 9).Count);
        Assert.Equal(6, h.Node.FindLog("t", 0)!.LogEndOffset);
    }

    [Fact]
    public void CreateTopics_refuses_every_entry_of_a_name_given_twice_and_creates_none_of_them()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        var created = h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, new CreateTopicsRequest
        {
            Topics =
            {
                new CreateTopicsRequest.CreatableTopic { Name = "twice", NumPartitions = 1, ReplicationFactor = 1 },
                new CreateTopicsRequest.CreatableTopic { Name = "once", NumPartitions = 1, ReplicationFactor = 1 },
                new CreateTopicsRequest.CreatableTopic { Name = "twice", NumPartitions = 3, ReplicationFactor = 1 },
            },
        });
        Assert.Equal([ErrorCode.InvalidRequest, ErrorCode.None, ErrorCode.InvalidRequest], created.Topics.Select(t => t.ErrorCode));
        Assert.Null(h.Node.FindTopic("twice"));
        Assert.NotNull(h.Node.FindTopic("once"));
    }

    [Theory]
    [InlineData(1, ErrorCode.None)]
    [InlineData(2, ErrorCode.MismatchedEndpointType)]
    [InlineData(7, ErrorCode.UnsupportedEndpointType)]
    public void DescribeCluster_answers_each_endpoint_type_as_Kafka_does(int endpointType, ErrorCode expected)
    {
        var h = new BrokerHarness(seed: 7);
        var c = h.Connect();
        var r = h.Call<DescribeClusterResponse>(c, ApiKey.DescribeCluster, 1, new DescribeClusterRequest { EndpointType = (sbyte)endpointType });
        Assert.Equal(expected, r.ErrorCode);
        Assert.Equal(expected == ErrorCode.None ? 1 : 0, r.Brokers.Count);
        // v0 cannot name a type: it always describes the brokers.
        var v0 = h.Call<DescribeClusterResponse>(c, ApiKey.DescribeCluster, 0, new DescribeClusterRequest { EndpointType = (sbyte)endpointType });
        Assert.Equal(ErrorCode.None, v0.ErrorCode);
        Assert.Single(v0.Brokers);
    }

    [Fact]
    public void The_same_inputs_give_byte_identical_outputs()
    {
        static List<(ConnectionId, byte[])> Run()
        {
            var h = new BrokerHarness(seed: 1234);
            var c = h.Connect();
            h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, Metadata("a", "b"));
            for (int i = 0; i < 20; i++)
            {
                h.Send(c, ApiKey.Produce, 9, Produce(i % 2 == 0 ? "a" : "b", 0, Batch(i * 10, "v" + i)));
                if (i % 3 == 0) h.CompleteSyncs();
                h.AdvanceTime(7);
            }
            while (h.CompleteSyncs() > 0) { }
            Assert.Equal(20, h.Responses<ProduceResponse>(c, ApiKey.Produce, 9).Count);
            h.Call<FetchResponse>(c, ApiKey.Fetch, 12, Fetch("a", 0, 0));
            h.Call<DescribeClusterResponse>(c, ApiKey.DescribeCluster, 1, new DescribeClusterRequest());
            return h.Network.Log;
        }
        var first = Run();
        var second = Run();
        Assert.Equal(first.Count, second.Count);
        for (int i = 0; i < first.Count; i++)
        {
            Assert.Equal(first[i].Item1, second[i].Item1);
            Assert.Equal(first[i].Item2, second[i].Item2);
        }
    }
}
