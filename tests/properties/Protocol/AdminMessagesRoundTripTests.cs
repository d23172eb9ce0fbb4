using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.AdminRoundTripHarness;
using FsCheckRunner = FsCheck.Check;

namespace DetKafka.Properties.Protocol;

/// <summary>
/// Admin API codecs: generated messages round-trip byte for byte at every version of the codec's range, strict
/// prefixes fail with ProtocolException only, and one hand-built layout per API pins the wire format so that an
/// encoder and decoder that agree with each other but not with Kafka cannot pass.
/// </summary>
public sealed class AdminMessagesRoundTripTests
{
    [Fact]
    public void Codec_ranges_cover_the_admin_versions()
    {
        Assert.Equal(((short)0, (short)7), MessageCodec.CodecRange(ApiKey.CreateTopics));
        Assert.Equal(((short)0, (short)6), MessageCodec.CodecRange(ApiKey.DeleteTopics));
        Assert.Equal(((short)0, (short)2), MessageCodec.CodecRange(ApiKey.DeleteRecords));
        Assert.Equal(((short)0, (short)4), MessageCodec.CodecRange(ApiKey.DescribeConfigs));
        Assert.Equal(((short)0, (short)2), MessageCodec.CodecRange(ApiKey.AlterConfigs));
        Assert.Equal(((short)0, (short)3), MessageCodec.CodecRange(ApiKey.CreatePartitions));
        Assert.Equal(((short)0, (short)1), MessageCodec.CodecRange(ApiKey.IncrementalAlterConfigs));
        Assert.Equal(((short)0, (short)1), MessageCodec.CodecRange(ApiKey.DescribeCluster));
    }

    // ---------------- CreateTopics ----------------

    private static Gen<CreateTopicsRequest> CreateTopicsRequestGen(short version) =>
        from topics in ListOf(
            from name in Str
            from numPartitions in I32
            from replicationFactor in I16
            from assignments in ListOf(
                from partition in I32
                from brokers in ListOf(I32, 4)
                select new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = partition, BrokerIds = brokers })
            from configs in ListOf(
                from n in Str
                from v in NullableStr
                select new CreateTopicsRequest.CreatableTopicConfig { Name = n, Value = v })
            select new CreateTopicsRequest.CreatableTopic
            {
                Name = name, NumPartitions = numPartitions, ReplicationFactor = replicationFactor,
                Assignments = assignments, Configs = configs,
            })
        from timeout in I32
        from validateOnly in Bool
        select new CreateTopicsRequest { Topics = topics, TimeoutMs = timeout, ValidateOnly = validateOnly };

    private static Gen<CreateTopicsResponse> CreateTopicsResponseGen(short version) =>
        from throttle in I32
        from topics in ListOf(
            from name in Str
            from id in Uuid
            from error in Error
            from message in NullableStr
            from configError in Error
            from numPartitions in I32
            from replicationFactor in I16
            from configs in NullableListOf(
                from n in Str
                from v in NullableStr
                from readOnly in Bool
                from source in I8
                from sensitive in Bool
                select new CreateTopicsResponse.CreatableTopicConfigs
                {
                    Name = n, Value = v, ReadOnly = readOnly, ConfigSource = (ConfigSource)source, IsSensitive = sensitive,
                })
            select new CreateTopicsResponse.CreatableTopicResult
            {
                Name = name, TopicId = id, ErrorCode = error, ErrorMessage = message, TopicConfigErrorCode = configError,
                NumPartitions = numPartitions, ReplicationFactor = replicationFactor, Configs = configs,
            })
        select new CreateTopicsResponse { ThrottleTimeMs = throttle, Topics = topics };

    [Fact]
    public void CreateTopics_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.CreateTopics, request: true, CreateTopicsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.Topics.Select(t => t.Name), decoded.Topics.Select(t => t.Name));
            Assert.Equal(original.Topics.Select(t => t.ReplicationFactor), decoded.Topics.Select(t => t.ReplicationFactor));
            Assert.Equal(original.Topics.SelectMany(t => t.Configs).Select(c => c.Value),
                decoded.Topics.SelectMany(t => t.Configs).Select(c => c.Value));
            Assert.Equal(original.TimeoutMs, decoded.TimeoutMs);
            Assert.Equal(v >= 1 && original.ValidateOnly, decoded.ValidateOnly);
        });
        CheckAllVersions(ApiKey.CreateTopics, request: false, CreateTopicsResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(v >= 2 ? original.ThrottleTimeMs : 0, decoded.ThrottleTimeMs);
            Assert.Equal(original.Topics.Select(t => t.Name), decoded.Topics.Select(t => t.Name));
            Assert.Equal(original.Topics.Select(t => t.ErrorCode), decoded.Topics.Select(t => t.ErrorCode));
            Assert.Equal(original.Topics.Select(t => v >= 1 ? t.ErrorMessage : null), decoded.Topics.Select(t => t.ErrorMessage));
            Assert.Equal(original.Topics.Select(t => v >= 7 ? t.TopicId : Guid.Empty), decoded.Topics.Select(t => t.TopicId));
            Assert.Equal(original.Topics.Select(t => v >= 5 ? t.TopicConfigErrorCode : ErrorCode.None),
                decoded.Topics.Select(t => t.TopicConfigErrorCode));
            if (v >= 5)
            {
                Assert.Equal(original.Topics.Select(t => t.NumPartitions), decoded.Topics.Select(t => t.NumPartitions));
                Assert.Equal(original.Topics.Select(t => t.Configs is null), decoded.Topics.Select(t => t.Configs is null));
                Assert.Equal(original.Topics.SelectMany(t => t.Configs ?? []).Select(c => c.ConfigSource),
                    decoded.Topics.SelectMany(t => t.Configs ?? []).Select(c => c.ConfigSource));
            }
        });
    }

    [Fact]
    public void CreateTopics_layouts_match_the_protocol()
    {
        // v1 request: validate_only follows timeout_ms; non-flexible, int16 string lengths, int32 array lengths.
        var request = new CreateTopicsRequest
        {
            Topics =
            {
                new()
                {
                    Name = "t", NumPartitions = 2, ReplicationFactor = 1,
                    Configs = { new() { Name = "a", Value = null } },
                },
            },
            TimeoutMs = 500,
            ValidateOnly = true,
        };
        byte[] expectedRequest =
        [
            0, 0, 0, 1, 0, 1, (byte)'t', 0, 0, 0, 2, 0, 1, // topics[1]: name, num_partitions, replication_factor
            0, 0, 0, 0, // assignments: empty
            0, 0, 0, 1, 0, 1, (byte)'a', 0xFF, 0xFF, // configs[1]: name "a", value null
            0, 0, 1, 0xF4, 1, // timeout 500, validate_only
        ];
        Assert.Equal(expectedRequest, Encode(request, 1));
        var decodedRequest = (CreateTopicsRequest)Decode(ApiKey.CreateTopics, true, expectedRequest, 1, out _);
        Assert.True(decodedRequest.ValidateOnly);
        Assert.Null(decodedRequest.Topics[0].Configs[0].Value);

        // v5 response (flexible): configs null, topic_config_error_code carried in tagged field 0.
        var response = new CreateTopicsResponse
        {
            ThrottleTimeMs = 5,
            Topics =
            {
                new()
                {
                    Name = "t", ErrorCode = ErrorCode.TopicAlreadyExists, ErrorMessage = null,
                    NumPartitions = 3, ReplicationFactor = 1, Configs = null,
                    TopicConfigErrorCode = ErrorCode.InvalidConfig,
                },
            },
        };
        byte[] expectedResponse =
        [
            0, 0, 0, 5, // throttle_time_ms
            2, 2, (byte)'t', 0, 36, 0, // topics[1]: name, error 36, error_message null
            0, 0, 0, 3, 0, 1, 0, // num_partitions, replication_factor, configs null
            1, 0, 2, 0, 40, // one tagged field: tag 0, size 2, INVALID_CONFIG
            0, // top-level tagged fields
        ];
        Assert.Equal(expectedResponse, Encode(response, 5));
        var decodedResponse = (CreateTopicsResponse)Decode(ApiKey.CreateTopics, false, expectedResponse, 5, out _);
        Assert.Equal(ErrorCode.InvalidConfig, decodedResponse.Topics[0].TopicConfigErrorCode);
        Assert.Null(decodedResponse.Topics[0].Configs);
    }

    // ---------------- DeleteTopics ----------------

    private static Gen<DeleteTopicsRequest> DeleteTopicsRequestGen(short version) =>
        from topics in ListOf(
            from name in NullableStr
            from id in Uuid
            select new DeleteTopicsRequest.DeleteTopicState { Name = name, TopicId = id })
        from names in ListOf(Str, 4)
        from timeout in I32
        select new DeleteTopicsRequest { Topics = topics, TopicNames = names, TimeoutMs = timeout };

    private static Gen<DeleteTopicsResponse> DeleteTopicsResponseGen(short version) =>
        from throttle in I32
        from responses in ListOf(
            from name in version >= 6 ? NullableStr : Str.Select(s => (string?)s)
            from id in Uuid
            from error in Error
            from message in NullableStr
            select new DeleteTopicsResponse.DeletableTopicResult { Name = name, TopicId = id, ErrorCode = error, ErrorMessage = message })
        select new DeleteTopicsResponse { ThrottleTimeMs = throttle, Responses = responses };

    [Fact]
    public void DeleteTopics_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.DeleteTopics, request: true, DeleteTopicsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.TimeoutMs, decoded.TimeoutMs);
            if (v >= 6)
            {
                Assert.Empty(decoded.TopicNames);
                Assert.Equal(original.Topics.Select(t => (t.Name, t.TopicId)), decoded.Topics.Select(t => (t.Name, t.TopicId)));
            }
            else
            {
                Assert.Empty(decoded.Topics);
                Assert.Equal(original.TopicNames, decoded.TopicNames);
            }
        });
        CheckAllVersions(ApiKey.DeleteTopics, request: false, DeleteTopicsResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(v >= 1 ? original.ThrottleTimeMs : 0, decoded.ThrottleTimeMs);
            Assert.Equal(original.Responses.Select(r => r.Name), decoded.Responses.Select(r => r.Name));
            Assert.Equal(original.Responses.Select(r => r.ErrorCode), decoded.Responses.Select(r => r.ErrorCode));
            Assert.Equal(original.Responses.Select(r => v >= 5 ? r.ErrorMessage : null), decoded.Responses.Select(r => r.ErrorMessage));
            Assert.Equal(original.Responses.Select(r => v >= 6 ? r.TopicId : Guid.Empty), decoded.Responses.Select(r => r.TopicId));
        });
    }

    [Fact]
    public void DeleteTopics_layouts_match_the_protocol()
    {
        var v0 = new DeleteTopicsRequest { TopicNames = { "ab" }, TimeoutMs = 1000 };
        byte[] expectedV0 = [0, 0, 0, 1, 0, 2, (byte)'a', (byte)'b', 0, 0, 0x03, 0xE8];
        Assert.Equal(expectedV0, Encode(v0, 0));
        Assert.Equal(["ab"], ((DeleteTopicsRequest)Decode(ApiKey.DeleteTopics, true, expectedV0, 0, out _)).TopicNames);

        // v6: topics by id, name null (compact null string is a single 0).
        var id = new Guid(Enumerable.Range(1, 16).Select(b => (byte)b).ToArray());
        var v6 = new DeleteTopicsRequest { Topics = { new() { Name = null, TopicId = id } }, TimeoutMs = 1000 };
        byte[] expectedV6 =
        [
            2, 0, .. id.ToByteArray(bigEndian: true), 0, // topics[1]: name null, topic_id, tagged fields
            0, 0, 0x03, 0xE8, 0, // timeout, tagged fields
        ];
        Assert.Equal(expectedV6, Encode(v6, 6));
        var decoded = (DeleteTopicsRequest)Decode(ApiKey.DeleteTopics, true, expectedV6, 6, out _);
        Assert.Null(decoded.Topics[0].Name);
        Assert.Equal(id, decoded.Topics[0].TopicId);
    }

    // ---------------- CreatePartitions ----------------

    private static Gen<CreatePartitionsRequest> CreatePartitionsRequestGen(short version) =>
        from topics in ListOf(
            from name in Str
            from count in I32
            from assignments in NullableListOf(
                ListOf(I32, 4).Select(b => new CreatePartitionsRequest.CreatePartitionsAssignment { BrokerIds = b }))
            select new CreatePartitionsRequest.CreatePartitionsTopic { Name = name, Count = count, Assignments = assignments })
        from timeout in I32
        from validateOnly in Bool
        select new CreatePartitionsRequest { Topics = topics, TimeoutMs = timeout, ValidateOnly = validateOnly };

    private static Gen<CreatePartitionsResponse> CreatePartitionsResponseGen(short version) =>
        from throttle in I32
        from results in ListOf(
            from name in Str
            from error in Error
            from message in NullableStr
            select new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = name, ErrorCode = error, ErrorMessage = message })
        select new CreatePartitionsResponse { ThrottleTimeMs = throttle, Results = results };

    [Fact]
    public void CreatePartitions_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.CreatePartitions, request: true, CreatePartitionsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.Topics.Select(t => (t.Name, t.Count)), decoded.Topics.Select(t => (t.Name, t.Count)));
            Assert.Equal(original.Topics.Select(t => t.Assignments?.Count), decoded.Topics.Select(t => t.Assignments?.Count));
            Assert.Equal(original.ValidateOnly, decoded.ValidateOnly);
        });
        CheckAllVersions(ApiKey.CreatePartitions, request: false, CreatePartitionsResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(original.ThrottleTimeMs, decoded.ThrottleTimeMs);
            Assert.Equal(original.Results.Select(r => (r.Name, r.ErrorCode, r.ErrorMessage)),
                decoded.Results.Select(r => (r.Name, r.ErrorCode, r.ErrorMessage)));
        });
    }

    [Fact]
    public void CreatePartitions_layouts_match_the_protocol()
    {
        var v0 = new CreatePartitionsRequest
        {
            Topics = { new() { Name = "t", Count = 3, Assignments = null } },
            TimeoutMs = 100,
            ValidateOnly = true,
        };
        byte[] expectedV0 = [0, 0, 0, 1, 0, 1, (byte)'t', 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 100, 1];
        Assert.Equal(expectedV0, Encode(v0, 0));
        Assert.Null(((CreatePartitionsRequest)Decode(ApiKey.CreatePartitions, true, expectedV0, 0, out _)).Topics[0].Assignments);

        // v2 (flexible): assignments [[1, 2]] as compact arrays, each struct closed by its tagged fields.
        var v2 = new CreatePartitionsRequest
        {
            Topics = { new() { Name = "t", Count = 3, Assignments = [new() { BrokerIds = { 1, 2 } }] } },
            TimeoutMs = 100,
        };
        byte[] expectedV2 =
        [
            2, 2, (byte)'t', 0, 0, 0, 3, // topics[1]: name, count
            2, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, // assignments[1]: broker_ids [1, 2], tagged fields
            0, // topic tagged fields
            0, 0, 0, 100, 0, 0, // timeout, validate_only false, tagged fields
        ];
        Assert.Equal(expectedV2, Encode(v2, 2));
    }

    // ---------------- DescribeConfigs ----------------

    private static Gen<DescribeConfigsRequest> DescribeConfigsRequestGen(short version) =>
        from resources in ListOf(
            from type in I8
            from name in Str
            from keys in NullableListOf(Str, 4)
            select new DescribeConfigsRequest.DescribeConfigsResource
            {
                ResourceType = (ConfigResourceType)type, ResourceName = name, ConfigurationKeys = keys,
            })
        from synonyms in Bool
        from documentation in Bool
        select new DescribeConfigsRequest { Resources = resources, IncludeSynonyms = synonyms, IncludeDocumentation = documentation };

    private static Gen<DescribeConfigsResponse> DescribeConfigsResponseGen(short version) =>
        from throttle in I32
        from results in ListOf(
            from error in Error
            from message in NullableStr
            from type in I8
            from name in Str
            from configs in ListOf(
                from n in Str
                from v in NullableStr
                from readOnly in Bool
                from isDefault in Bool
                from source in I8
                from sensitive in Bool
                from synonyms in ListOf(
                    from sn in Str
                    from sv in NullableStr
                    from ss in I8
                    select new DescribeConfigsResponse.DescribeConfigsSynonym { Name = sn, Value = sv, Source = (ConfigSource)ss })
                from configType in I8
                from doc in NullableStr
                select new DescribeConfigsResponse.DescribeConfigsResourceResult
                {
                    Name = n, Value = v, ReadOnly = readOnly, IsDefault = isDefault, ConfigSource = (ConfigSource)source,
                    IsSensitive = sensitive, Synonyms = synonyms, ConfigType = (ConfigType)configType, Documentation = doc,
                }, 3)
            select new DescribeConfigsResponse.DescribeConfigsResult
            {
                ErrorCode = error, ErrorMessage = message, ResourceType = (ConfigResourceType)type, ResourceName = name, Configs = configs,
            }, 2)
        select new DescribeConfigsResponse { ThrottleTimeMs = throttle, Results = results };

    [Fact]
    public void DescribeConfigs_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.DescribeConfigs, request: true, DescribeConfigsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.Resources.Select(r => (r.ResourceType, r.ResourceName)),
                decoded.Resources.Select(r => (r.ResourceType, r.ResourceName)));
            Assert.Equal(original.Resources.Select(r => r.ConfigurationKeys is null ? null : string.Join("|", r.ConfigurationKeys)),
                decoded.Resources.Select(r => r.ConfigurationKeys is null ? null : string.Join("|", r.ConfigurationKeys)));
            Assert.Equal(v >= 1 && original.IncludeSynonyms, decoded.IncludeSynonyms);
            Assert.Equal(v >= 3 && original.IncludeDocumentation, decoded.IncludeDocumentation);
        });
        CheckAllVersions(ApiKey.DescribeConfigs, request: false, DescribeConfigsResponseGen, (original, decoded, v) =>
        {
            var o = original.Results.SelectMany(r => r.Configs).ToList();
            var d = decoded.Results.SelectMany(r => r.Configs).ToList();
            Assert.Equal(o.Select(c => (c.Name, c.Value, c.ReadOnly, c.IsSensitive)), d.Select(c => (c.Name, c.Value, c.ReadOnly, c.IsSensitive)));
            Assert.Equal(o.Select(c => v == 0 && c.IsDefault), d.Select(c => c.IsDefault));
            Assert.Equal(o.Select(c => v >= 1 ? c.ConfigSource : (ConfigSource)(-1)), d.Select(c => c.ConfigSource));
            Assert.Equal(o.Select(c => v >= 1 ? c.Synonyms.Count : 0), d.Select(c => c.Synonyms.Count));
            Assert.Equal(o.Select(c => v >= 3 ? c.Documentation : null), d.Select(c => c.Documentation));
            Assert.Equal(o.Select(c => v >= 3 ? c.ConfigType : ConfigType.Unknown), d.Select(c => c.ConfigType));
        });
    }

    [Fact]
    public void DescribeConfigs_layouts_match_the_protocol()
    {
        // v4 request (flexible): one topic resource asking for key "a".
        var request = new DescribeConfigsRequest
        {
            Resources = { new() { ResourceType = ConfigResourceType.Topic, ResourceName = "t", ConfigurationKeys = ["a"] } },
            IncludeSynonyms = true,
        };
        byte[] expectedRequest = [2, 2, 2, (byte)'t', 2, 2, (byte)'a', 0, 1, 0, 0];
        Assert.Equal(expectedRequest, Encode(request, 4));

        // v0 response: is_default sits between read_only and is_sensitive; no config_source, no synonyms.
        var response = new DescribeConfigsResponse
        {
            Results =
            {
                new()
                {
                    ResourceType = ConfigResourceType.Topic, ResourceName = "t",
                    Configs = { new() { Name = "a", Value = "b", ReadOnly = false, IsDefault = true, IsSensitive = false } },
                },
            },
        };
        byte[] expectedResponse =
        [
            0, 0, 0, 0, 0, 0, 0, 1, // throttle, results[1]
            0, 0, 0xFF, 0xFF, 2, 0, 1, (byte)'t', // error, error_message null, resource_type, resource_name
            0, 0, 0, 1, 0, 1, (byte)'a', 0, 1, (byte)'b', // configs[1]: name, value
            0, 1, 0, // read_only, is_default, is_sensitive
        ];
        Assert.Equal(expectedResponse, Encode(response, 0));
        var decoded = (DescribeConfigsResponse)Decode(ApiKey.DescribeConfigs, false, expectedResponse, 0, out _);
        Assert.True(decoded.Results[0].Configs[0].IsDefault);
        Assert.False(decoded.Results[0].Configs[0].IsSensitive);
    }

    // ---------------- AlterConfigs ----------------

    private static Gen<AlterConfigsRequest> AlterConfigsRequestGen(short version) =>
        from resources in ListOf(
            from type in I8
            from name in Str
            from configs in ListOf(
                from n in Str
                from v in NullableStr
                select new AlterConfigsRequest.AlterableConfig { Name = n, Value = v })
            select new AlterConfigsRequest.AlterConfigsResource { ResourceType = (ConfigResourceType)type, ResourceName = name, Configs = configs })
        from validateOnly in Bool
        select new AlterConfigsRequest { Resources = resources, ValidateOnly = validateOnly };

    private static Gen<AlterConfigsResponse> AlterConfigsResponseGen(short version) =>
        from throttle in I32
        from responses in ListOf(
            from error in Error
            from message in NullableStr
            from type in I8
            from name in Str
            select new AlterConfigsResponse.AlterConfigsResourceResponse
            {
                ErrorCode = error, ErrorMessage = message, ResourceType = (ConfigResourceType)type, ResourceName = name,
            })
        select new AlterConfigsResponse { ThrottleTimeMs = throttle, Responses = responses };

    [Fact]
    public void AlterConfigs_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.AlterConfigs, request: true, AlterConfigsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.Resources.Select(r => (r.ResourceType, r.ResourceName)),
                decoded.Resources.Select(r => (r.ResourceType, r.ResourceName)));
            Assert.Equal(original.Resources.SelectMany(r => r.Configs).Select(c => (c.Name, c.Value)),
                decoded.Resources.SelectMany(r => r.Configs).Select(c => (c.Name, c.Value)));
            Assert.Equal(original.ValidateOnly, decoded.ValidateOnly);
        });
        CheckAllVersions(ApiKey.AlterConfigs, request: false, AlterConfigsResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(original.ThrottleTimeMs, decoded.ThrottleTimeMs);
            Assert.Equal(original.Responses.Select(r => (r.ErrorCode, r.ErrorMessage, r.ResourceType, r.ResourceName)),
                decoded.Responses.Select(r => (r.ErrorCode, r.ErrorMessage, r.ResourceType, r.ResourceName)));
        });
    }

    [Fact]
    public void AlterConfigs_layouts_match_the_protocol()
    {
        var request = new AlterConfigsRequest
        {
            Resources = { new() { ResourceType = ConfigResourceType.Topic, ResourceName = "t", Configs = { new() { Name = "a", Value = null } } } },
        };
        byte[] expected = [0, 0, 0, 1, 2, 0, 1, (byte)'t', 0, 0, 0, 1, 0, 1, (byte)'a', 0xFF, 0xFF, 0];
        Assert.Equal(expected, Encode(request, 0));
        var decoded = (AlterConfigsRequest)Decode(ApiKey.AlterConfigs, true, expected, 0, out _);
        Assert.Equal(ConfigResourceType.Topic, decoded.Resources[0].ResourceType);
        Assert.Null(decoded.Resources[0].Configs[0].Value);

        var response = new AlterConfigsResponse
        {
            ThrottleTimeMs = 1,
            Responses = { new() { ErrorCode = ErrorCode.InvalidConfig, ErrorMessage = "x", ResourceType = ConfigResourceType.Broker, ResourceName = "" } },
        };
        byte[] expectedResponse = [0, 0, 0, 1, 2, 0, 40, 2, (byte)'x', 4, 1, 0, 0];
        Assert.Equal(expectedResponse, Encode(response, 2));
    }

    // ---------------- IncrementalAlterConfigs ----------------

    private static Gen<IncrementalAlterConfigsRequest> IncrementalAlterConfigsRequestGen(short version) =>
        from resources in ListOf(
            from type in I8
            from name in Str
            from configs in ListOf(
                from n in Str
                from op in I8
                from v in NullableStr
                select new IncrementalAlterConfigsRequest.AlterableConfig { Name = n, ConfigOperation = (AlterConfigOpType)op, Value = v })
            select new IncrementalAlterConfigsRequest.AlterConfigsResource
            {
                ResourceType = (ConfigResourceType)type, ResourceName = name, Configs = configs,
            })
        from validateOnly in Bool
        select new IncrementalAlterConfigsRequest { Resources = resources, ValidateOnly = validateOnly };

    private static Gen<IncrementalAlterConfigsResponse> IncrementalAlterConfigsResponseGen(short version) =>
        from throttle in I32
        from responses in ListOf(
            from error in Error
            from message in NullableStr
            from type in I8
            from name in Str
            select new AlterConfigsResponse.AlterConfigsResourceResponse
            {
                ErrorCode = error, ErrorMessage = message, ResourceType = (ConfigResourceType)type, ResourceName = name,
            })
        select new IncrementalAlterConfigsResponse { ThrottleTimeMs = throttle, Responses = responses };

    [Fact]
    public void IncrementalAlterConfigs_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.IncrementalAlterConfigs, request: true, IncrementalAlterConfigsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.Resources.SelectMany(r => r.Configs).Select(c => (c.Name, c.ConfigOperation, c.Value)),
                decoded.Resources.SelectMany(r => r.Configs).Select(c => (c.Name, c.ConfigOperation, c.Value)));
            Assert.Equal(original.ValidateOnly, decoded.ValidateOnly);
        });
        CheckAllVersions(ApiKey.IncrementalAlterConfigs, request: false, IncrementalAlterConfigsResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(original.ThrottleTimeMs, decoded.ThrottleTimeMs);
            Assert.Equal(original.Responses.Select(r => (r.ErrorCode, r.ErrorMessage, r.ResourceType, r.ResourceName)),
                decoded.Responses.Select(r => (r.ErrorCode, r.ErrorMessage, r.ResourceType, r.ResourceName)));
        });
    }

    [Fact]
    public void IncrementalAlterConfigs_layouts_match_the_protocol()
    {
        // v1 (flexible): the operation sits between name and value.
        var request = new IncrementalAlterConfigsRequest
        {
            Resources =
            {
                new()
                {
                    ResourceType = ConfigResourceType.Topic, ResourceName = "t",
                    Configs = { new() { Name = "a", ConfigOperation = AlterConfigOpType.Delete, Value = null } },
                },
            },
        };
        byte[] expected =
        [
            2, 2, 2, (byte)'t', // resources[1]: resource_type, resource_name
            2, 2, (byte)'a', 1, 0, 0, // configs[1]: name, DELETE, value null, tagged fields
            0, 0, 0, // resource tagged fields, validate_only, tagged fields
        ];
        Assert.Equal(expected, Encode(request, 1));
        var decoded = (IncrementalAlterConfigsRequest)Decode(ApiKey.IncrementalAlterConfigs, true, expected, 1, out _);
        Assert.Equal(AlterConfigOpType.Delete, decoded.Resources[0].Configs[0].ConfigOperation);
    }

    // ---------------- DeleteRecords ----------------

    private static Gen<DeleteRecordsRequest> DeleteRecordsRequestGen(short version) =>
        from topics in ListOf(
            from name in Str
            from partitions in ListOf(
                from p in I32
                from offset in I64
                select new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = p, Offset = offset }, 4)
            select new DeleteRecordsRequest.DeleteRecordsTopic { Name = name, Partitions = partitions })
        from timeout in I32
        select new DeleteRecordsRequest { Topics = topics, TimeoutMs = timeout };

    private static Gen<DeleteRecordsResponse> DeleteRecordsResponseGen(short version) =>
        from throttle in I32
        from topics in ListOf(
            from name in Str
            from partitions in ListOf(
                from p in I32
                from low in I64
                from error in Error
                select new DeleteRecordsResponse.DeleteRecordsPartitionResult { PartitionIndex = p, LowWatermark = low, ErrorCode = error }, 4)
            select new DeleteRecordsResponse.DeleteRecordsTopicResult { Name = name, Partitions = partitions })
        select new DeleteRecordsResponse { ThrottleTimeMs = throttle, Topics = topics };

    [Fact]
    public void DeleteRecords_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.DeleteRecords, request: true, DeleteRecordsRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name, p.PartitionIndex, p.Offset))),
                decoded.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name, p.PartitionIndex, p.Offset))));
            Assert.Equal(original.TimeoutMs, decoded.TimeoutMs);
        });
        CheckAllVersions(ApiKey.DeleteRecords, request: false, DeleteRecordsResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(original.ThrottleTimeMs, decoded.ThrottleTimeMs);
            Assert.Equal(original.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name, p.PartitionIndex, p.LowWatermark, p.ErrorCode))),
                decoded.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name, p.PartitionIndex, p.LowWatermark, p.ErrorCode))));
        });
    }

    [Fact]
    public void DeleteRecords_layouts_match_the_protocol()
    {
        var request = new DeleteRecordsRequest
        {
            Topics = { new() { Name = "t", Partitions = { new() { PartitionIndex = 1, Offset = -1 } } } },
            TimeoutMs = 30,
        };
        byte[] expectedRequest =
        [
            0, 0, 0, 1, 0, 1, (byte)'t', 0, 0, 0, 1, // topics[1]: name, partitions[1]
            0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // partition 1, offset -1
            0, 0, 0, 30, // timeout
        ];
        Assert.Equal(expectedRequest, Encode(request, 0));

        // v2 response (flexible): partition_index, low_watermark, error_code.
        var response = new DeleteRecordsResponse
        {
            Topics = { new() { Name = "t", Partitions = { new() { PartitionIndex = 0, LowWatermark = 10, ErrorCode = ErrorCode.OffsetOutOfRange } } } },
        };
        byte[] expectedResponse =
        [
            0, 0, 0, 0, 2, 2, (byte)'t', 2, // throttle, topics[1], name, partitions[1]
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 1, 0, // partition 0, low_watermark 10, error 1, tagged
            0, 0, // topic tagged fields, top-level tagged fields
        ];
        Assert.Equal(expectedResponse, Encode(response, 2));
        var decoded = (DeleteRecordsResponse)Decode(ApiKey.DeleteRecords, false, expectedResponse, 2, out _);
        Assert.Equal(10, decoded.Topics[0].Partitions[0].LowWatermark);
        Assert.Equal(ErrorCode.OffsetOutOfRange, decoded.Topics[0].Partitions[0].ErrorCode);
    }

    // ---------------- DescribeCluster ----------------

    private static Gen<DescribeClusterRequest> DescribeClusterRequestGen(short version) =>
        from include in Bool
        from endpoint in I8
        select new DescribeClusterRequest { IncludeClusterAuthorizedOperations = include, EndpointType = endpoint };

    private static Gen<DescribeClusterResponse> DescribeClusterResponseGen(short version) =>
        from throttle in I32
        from error in Error
        from message in NullableStr
        from endpoint in I8
        from clusterId in Str
        from controller in I32
        from brokers in ListOf(
            from id in I32
            from host in Str
            from port in I32
            from rack in NullableStr
            select new DescribeClusterResponse.DescribeClusterBroker { BrokerId = id, Host = host, Port = port, Rack = rack }, 4)
        from ops in I32
        select new DescribeClusterResponse
        {
            ThrottleTimeMs = throttle, ErrorCode = error, ErrorMessage = message, EndpointType = endpoint, ClusterId = clusterId,
            ControllerId = controller, Brokers = brokers, ClusterAuthorizedOperations = ops,
        };

    [Fact]
    public void DescribeCluster_round_trips_at_every_version()
    {
        CheckAllVersions(ApiKey.DescribeCluster, request: true, DescribeClusterRequestGen, (original, decoded, v) =>
        {
            Assert.Equal(original.IncludeClusterAuthorizedOperations, decoded.IncludeClusterAuthorizedOperations);
            Assert.Equal(v >= 1 ? original.EndpointType : DescribeClusterRequest.EndpointTypeBrokers, decoded.EndpointType);
        });
        CheckAllVersions(ApiKey.DescribeCluster, request: false, DescribeClusterResponseGen, (original, decoded, v) =>
        {
            Assert.Equal((original.ErrorMessage, original.ClusterId, original.ControllerId, original.ClusterAuthorizedOperations),
                (decoded.ErrorMessage, decoded.ClusterId, decoded.ControllerId, decoded.ClusterAuthorizedOperations));
            Assert.Equal(v >= 1 ? original.EndpointType : DescribeClusterRequest.EndpointTypeBrokers, decoded.EndpointType);
            Assert.Equal(original.Brokers.Select(b => (b.BrokerId, b.Host, b.Port, b.Rack)),
                decoded.Brokers.Select(b => (b.BrokerId, b.Host, b.Port, b.Rack)));
        });
    }

    [Fact]
    public void DescribeCluster_layouts_match_the_protocol()
    {
        var request = new DescribeClusterRequest { IncludeClusterAuthorizedOperations = true, EndpointType = 2 };
        Assert.Equal(new byte[] { 1, 0 }, Encode(request, 0));
        Assert.Equal(new byte[] { 1, 2, 0 }, Encode(request, 1));

        var response = new DescribeClusterResponse
        {
            ClusterId = "c",
            ControllerId = 1,
            Brokers = { new() { BrokerId = 1, Host = "h", Port = 9092, Rack = null } },
        };
        byte[] expected =
        [
            0, 0, 0, 0, 0, 0, 0, // throttle, error, error_message null
            1, 2, (byte)'c', 0, 0, 0, 1, // endpoint_type brokers, cluster_id, controller_id
            2, 0, 0, 0, 1, 2, (byte)'h', 0, 0, 0x23, 0x84, 0, 0, // brokers[1]: id, host, port 9092, rack null, tagged
            0x80, 0, 0, 0, 0, // cluster_authorized_operations omitted, tagged fields
        ];
        Assert.Equal(expected, Encode(response, 1));
        var decoded = (DescribeClusterResponse)Decode(ApiKey.DescribeCluster, false, expected, 1, out _);
        Assert.Equal(9092, decoded.Brokers[0].Port);
        Assert.Null(decoded.Brokers[0].Rack);
        Assert.Equal(DescribeClusterResponse.AuthorizedOperationsOmitted, decoded.ClusterAuthorizedOperations);
    }

    // ---------------- hostile bytes ----------------

    private static readonly ApiKey[] AdminKeys =
    [
        ApiKey.CreateTopics, ApiKey.DeleteTopics, ApiKey.DeleteRecords, ApiKey.DescribeConfigs, ApiKey.AlterConfigs,
        ApiKey.CreatePartitions, ApiKey.IncrementalAlterConfigs, ApiKey.DescribeCluster,
    ];

    /// <summary>Arbitrary bytes either decode or fail with ProtocolException: an overflow, index or argument
    /// exception from a hostile length would escape the connection's error handling.</summary>
    [Fact]
    public void Arbitrary_bytes_decode_or_throw_ProtocolException()
    {
        var biasedByte = Gen.Frequency(
            (3, Gen.Choose(0, 255).Select(b => (byte)b)),
            (1, Gen.Elements<byte>(0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF)));
        var gen =
            from key in Gen.Elements(AdminKeys)
            from request in Bool
            from version in Gen.Choose(MessageCodec.CodecRange(key)!.Value.Min, MessageCodec.CodecRange(key)!.Value.Max)
            from bytes in Gen.Choose(0, 48).SelectMany(n => Gen.ArrayOf(biasedByte, n))
            select (key, request, version: (short)version, bytes);
        var property = Prop.ForAll(gen.ToArbitrary(), input =>
        {
            var ex = Record.Exception(() => Decode(input.key, input.request, input.bytes, input.version, out _));
            Assert.True(ex is null or ProtocolException,
                $"{input.key} v{input.version} {Convert.ToHexString(input.bytes)}: {ex?.GetType().Name}: {ex?.Message}");
        });
        FsCheckRunner.One(Config.QuickThrowOnFailure.WithMaxTest(3000), property);
    }
}
