using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Protocol;

public class MetadataCodecTests
{
    internal static Gen<MetadataRequest> RequestGen(short v)
    {
        // v10+ carries topic ids; v10+ lets the name be null (a lookup by id).
        var topic = from n in v >= 10 ? NullableText() : Text().Select(s => (string?)s)
                    from id in Since(v, 10, AnyInt64.Select(x => new Guid(BitConverter.GetBytes(x).Concat(BitConverter.GetBytes(~x)).ToArray())), Guid.Empty)
                    select new MetadataRequest.MetadataRequestTopic { Name = n, TopicId = id };
        // v0 cannot say "no topics": its empty array is read back as null (all topics).
        var topics = v >= 1
            ? NullableListOf(topic)
            : Gen.Frequency((1, Gen.Constant<List<MetadataRequest.MetadataRequestTopic>?>(null)),
                            (3, Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(topic, n)).Select(a => (List<MetadataRequest.MetadataRequestTopic>?)a.ToList())));
        return from t in topics
               from auto in Since(v, 4, AnyBool, true)
               from cluster in v <= 10 ? Since(v, 8, AnyBool, false) : Gen.Constant(false)
               from topicOps in Since(v, 8, AnyBool, false)
               select new MetadataRequest
               {
                   Topics = t,
                   AllowAutoTopicCreation = auto,
                   IncludeClusterAuthorizedOperations = cluster,
                   IncludeTopicAuthorizedOperations = topicOps,
               };
    }

    internal static Gen<MetadataResponse> ResponseGen(short v)
    {
        var broker = from id in AnyInt32
                     from host in Text()
                     from port in AnyInt32
                     from rack in Since(v, 1, NullableText(), null)
                     select new MetadataResponse.MetadataResponseBroker { NodeId = id, Host = host, Port = port, Rack = rack };
        var partition = from error in AnyError
                        from index in AnyInt32
                        from leader in AnyInt32
                        from epoch in Since(v, 7, AnyInt32, -1)
                        from replicas in ListOf(AnyInt32, 4)
                        from isr in ListOf(AnyInt32, 4)
                        from offline in Since(v, 5, ListOf(AnyInt32, 4), new List<int>())
                        select new MetadataResponse.MetadataResponsePartition
                        {
                            ErrorCode = error, PartitionIndex = index, LeaderId = leader, LeaderEpoch = epoch,
                            ReplicaNodes = replicas, IsrNodes = isr, OfflineReplicas = offline,
                        };
        var topic = from error in AnyError
                    from name in v >= 12 ? NullableText() : Text().Select(s => (string?)s)
                    from id in Since(v, 10, AnyInt64.Select(x => new Guid(BitConverter.GetBytes(x).Concat(BitConverter.GetBytes(~x)).ToArray())), Guid.Empty)
                    from isInternal in Since(v, 1, AnyBool, false)
                    from partitions in ListOf(partition)
                    from ops in Since(v, 8, AnyInt32, MetadataResponse.AuthorizedOperationsOmitted)
                    select new MetadataResponse.MetadataResponseTopic
                    {
                        ErrorCode = error, Name = name, TopicId = id, IsInternal = isInternal, Partitions = partitions,
                        TopicAuthorizedOperations = ops,
                    };
        return from throttle in Since(v, 3, AnyInt32, 0)
               from brokers in ListOf(broker)
               from clusterId in Since(v, 2, NullableText(), null)
               from controller in Since(v, 1, AnyInt32, -1)
               from topics in ListOf(topic)
               from ops in v <= 10 ? Since(v, 8, AnyInt32, MetadataResponse.AuthorizedOperationsOmitted) : Gen.Constant(MetadataResponse.AuthorizedOperationsOmitted)
               select new MetadataResponse
               {
                   ThrottleTimeMs = throttle, Brokers = brokers, ClusterId = clusterId, ControllerId = controller,
                   Topics = topics, ClusterAuthorizedOperations = ops,
               };
    }

    [Fact]
    public void Requests_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.Metadata))
            ForAll(RequestGen(v), m =>
            {
                var d = (MetadataRequest)Check(ApiKey.Metadata, v, m, isRequest: true);
                Assert.Equal(m.Topics is null, d.Topics is null);
                if (m.Topics is not null) Assert.Equal(m.Topics.Select(t => t.Name), d.Topics!.Select(t => t.Name));
            });
    }

    [Fact]
    public void Responses_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.Metadata))
            ForAll(ResponseGen(v), m =>
            {
                var d = (MetadataResponse)Check(ApiKey.Metadata, v, m, isRequest: false);
                Assert.Equal(m.Brokers.Select(b => (b.NodeId, b.Host, b.Port)), d.Brokers.Select(b => (b.NodeId, b.Host, b.Port)));
                Assert.Equal(m.Topics.SelectMany(t => t.Partitions).Select(p => p.LeaderId),
                             d.Topics.SelectMany(t => t.Partitions).Select(p => p.LeaderId));
            });
    }

    [Fact]
    public void Every_prefix_of_a_large_response_is_rejected()
    {
        foreach (short v in new short[] { 0, 5, 9, 12 })
            ForAll(ResponseGen(v).Where(m => m.Topics.Count > 0), m =>
                CheckTruncations(ApiKey.Metadata, v, Encode(m, v), isRequest: false, samples: int.MaxValue), maxTest: 5);
    }

    [Fact]
    public void V0_request_with_one_topic_has_the_classic_layout()
    {
        var m = new MetadataRequest { Topics = [new() { Name = "ab" }] };
        Assert.Equal(new byte[] { 0, 0, 0, 1, 0, 2, (byte)'a', (byte)'b' }, Encode(m, 0));
    }

    [Fact]
    public void All_topics_is_an_empty_array_in_v0_and_a_null_array_from_v1()
    {
        var all = new MetadataRequest { Topics = null };
        Assert.Equal(new byte[] { 0, 0, 0, 0 }, Encode(all, 0));
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, Encode(all, 1));
        // v9: compact null array (0), allow auto creation, two include flags, empty tagged fields.
        Assert.Equal(new byte[] { 0x00, 0x01, 0x00, 0x00, 0x00 }, Encode(all, 9));

        Assert.Null(((MetadataRequest)Decode(ApiKey.Metadata, 0, [0, 0, 0, 0], isRequest: true)).Topics);
        var none = (MetadataRequest)Decode(ApiKey.Metadata, 1, [0, 0, 0, 0], isRequest: true);
        Assert.NotNull(none.Topics);
        Assert.Empty(none.Topics);
        Assert.Throws<ProtocolException>(() => Decode(ApiKey.Metadata, 0, [0xFF, 0xFF, 0xFF, 0xFF], isRequest: true));
    }

    [Fact]
    public void V9_request_uses_compact_strings_and_tagged_fields()
    {
        var m = new MetadataRequest
        {
            Topics = [new() { Name = "t" }],
            AllowAutoTopicCreation = false,
            IncludeClusterAuthorizedOperations = true,
            IncludeTopicAuthorizedOperations = false,
        };
        Assert.Equal(new byte[] { 0x02, 0x02, (byte)'t', 0x00, 0x00, 0x01, 0x00, 0x00 }, Encode(m, 9));
    }

    [Fact]
    public void V1_response_has_the_known_layout()
    {
        byte[] bytes =
        [
            0, 0, 0, 1,                     // brokers: 1
            0, 0, 0, 7,                     //   node id 7
            0, 1, (byte)'h',                //   host "h"
            0, 0, 0x23, 0x84,               //   port 9092
            0xFF, 0xFF,                     //   rack null
            0, 0, 0, 7,                     // controller id 7
            0, 0, 0, 1,                     // topics: 1
            0, 3,                           //   error UNKNOWN_TOPIC_OR_PARTITION
            0, 1, (byte)'t',                //   name "t"
            1,                              //   is internal
            0, 0, 0, 1,                     //   partitions: 1
            0, 0,                           //     error none
            0, 0, 0, 2,                     //     partition 2
            0, 0, 0, 7,                     //     leader 7
            0, 0, 0, 1, 0, 0, 0, 7,         //     replicas [7]
            0, 0, 0, 0,                     //     isr []
        ];
        var m = (MetadataResponse)Decode(ApiKey.Metadata, 1, bytes, isRequest: false);
        Assert.Equal(7, m.Brokers.Single().NodeId);
        Assert.Equal("h", m.Brokers[0].Host);
        Assert.Equal(9092, m.Brokers[0].Port);
        Assert.Null(m.Brokers[0].Rack);
        Assert.Equal(7, m.ControllerId);
        var t = m.Topics.Single();
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, t.ErrorCode);
        Assert.True(t.IsInternal);
        var p = t.Partitions.Single();
        Assert.Equal(2, p.PartitionIndex);
        Assert.Equal(7, p.LeaderId);
        Assert.Equal([7], p.ReplicaNodes);
        Assert.Empty(p.IsrNodes);
        Assert.Equal(bytes, Encode(m, 1));
    }
}
