using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Metadata;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Sim;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using FsCheckCheck = FsCheck.Check;

namespace DetKafka.Properties.Broker;

/// <summary>
/// Topic metadata as a log (issue 16 item 6): admin changes are proposed, answered only once durable, replayed at
/// start-up from the snapshot and the log, torn tails are cut, and the old topics file is migrated.
/// </summary>
public class MetadataLogTests
{
    private static CreateTopicsRequest Create(string name, int partitions, params (string Key, string Value)[] configs)
        => new()
        {
            Topics =
            {
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = name, NumPartitions = partitions, ReplicationFactor = 1,
                    Configs = configs.Select(c => new CreateTopicsRequest.CreatableTopicConfig { Name = c.Key, Value = c.Value }).ToList(),
                },
            },
        };

    private static IncrementalAlterConfigsRequest SetConfig(string topic, string key, string value)
        => new()
        {
            Resources =
            {
                new IncrementalAlterConfigsRequest.AlterConfigsResource
                {
                    ResourceType = ConfigResourceType.Topic, ResourceName = topic,
                    Configs = { new IncrementalAlterConfigsRequest.AlterableConfig { Name = key, ConfigOperation = AlterConfigOpType.Set, Value = value } },
                },
            },
        };

    private static CreatePartitionsRequest Grow(string topic, int count)
        => new() { Topics = { new CreatePartitionsRequest.CreatePartitionsTopic { Name = topic, Count = count, Assignments = null } }, TimeoutMs = 1000 };

    private static DeleteTopicsRequest Delete(string topic) => new() { TopicNames = { topic }, TimeoutMs = 1000 };

    /// <summary>The image as a comparable text: name, partitions, overrides (ids change across migrations of the model only).</summary>
    private static string Describe(IEnumerable<TopicInfo> topics)
        => string.Join(";", topics.OrderBy(t => t.Name, StringComparer.Ordinal)
            .Select(t => $"{t.Name}/{t.PartitionCount}/{string.Join(",", t.ConfigOverrides.Select(kv => kv.Key + "=" + kv.Value))}"));

    [Fact]
    public void CreateTopics_is_answered_only_once_the_metadata_record_is_durable_and_the_topic_appears_then()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Send(c, ApiKey.CreateTopics, 7, Create("t", 2, ("retention.ms", "1234")));
        Assert.Empty(h.Network.TakeFrames(c)); // proposed, not durable
        Assert.Null(h.Node.FindTopic("t")); // not published before it commits
        Assert.Equal(1, h.Disk.PendingSyncCount);
        Assert.Equal(1, h.CompleteSyncs());
        var response = Assert.Single(h.Responses<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7)).Body;
        Assert.Equal(ErrorCode.None, response.Topics[0].ErrorCode);
        Assert.Equal(2, response.Topics[0].NumPartitions);
        var topic = h.Node.FindTopic("t");
        Assert.NotNull(topic);
        Assert.Equal(response.Topics[0].TopicId, topic.TopicId);
        Assert.Equal(1234, h.Node.FindLog("t", 1)!.Config.RetentionMs);
    }

    [Fact]
    public void Metadata_auto_creation_answers_once_the_topic_is_durable_and_describes_it()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Send(c, ApiKey.Metadata, 9, BrokerTests.Metadata("auto", "bad name!"));
        Assert.Empty(h.Network.TakeFrames(c));
        Assert.Null(h.Node.FindTopic("auto"));
        Assert.Equal(1, h.CompleteSyncs());
        var m = Assert.Single(h.Responses<MetadataResponse>(c, ApiKey.Metadata, 9)).Body;
        Assert.Equal(ErrorCode.None, m.Topics[0].ErrorCode);
        Assert.Equal(h.Node.FindTopic("auto")!.PartitionCount, m.Topics[0].Partitions.Count);
        Assert.Equal(ErrorCode.InvalidTopicException, m.Topics[1].ErrorCode);
        // A topic that exists is described at once.
        h.Send(c, ApiKey.Metadata, 9, BrokerTests.Metadata("auto"));
        Assert.Single(h.Responses<MetadataResponse>(c, ApiKey.Metadata, 9));
    }

    [Fact]
    public void A_second_create_of_a_name_in_flight_is_refused_by_the_controller_view()
    {
        var h = new BrokerHarness();
        var a = h.Connect();
        var b = h.Connect();
        h.Send(a, ApiKey.CreateTopics, 7, Create("t", 1));
        h.Send(b, ApiKey.CreateTopics, 7, Create("t", 3));
        var second = Assert.Single(h.Responses<CreateTopicsResponse>(b, ApiKey.CreateTopics, 7)).Body;
        Assert.Equal(ErrorCode.TopicAlreadyExists, second.Topics[0].ErrorCode);
        h.CompleteSyncs();
        Assert.Equal(ErrorCode.None, Assert.Single(h.Responses<CreateTopicsResponse>(a, ApiKey.CreateTopics, 7)).Body.Topics[0].ErrorCode);
        Assert.Equal(1, h.Node.FindTopic("t")!.PartitionCount);
    }

    [Fact]
    public void A_failed_metadata_sync_answers_a_storage_error_and_changes_nothing()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        h.Disk.FaultHook = (op, path) => op == SimDiskOperation.SyncCompletion && path.EndsWith(MetadataLog.LogFileName, StringComparison.Ordinal)
            ? DiskStatus.IoError : DiskStatus.Ok;
        var failed = h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, Create("t", 1));
        Assert.Equal(ErrorCode.KafkaStorageError, failed.Topics[0].ErrorCode);
        Assert.Null(h.Node.FindTopic("t"));
        h.Disk.FaultHook = null;
        var ok = h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, Create("t", 1));
        Assert.Equal(ErrorCode.None, ok.Topics[0].ErrorCode);
        h.CrashAndRestart();
        Assert.Equal(1, h.Node.FindTopic("t")!.PartitionCount);
    }

    [Fact]
    public void Every_admin_change_replays_after_a_crash()
    {
        var h = new BrokerHarness();
        var c = h.Connect();
        Assert.Equal(ErrorCode.None, h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, Create("a", 1, ("cleanup.policy", "compact"))).Topics[0].ErrorCode);
        Assert.Equal(ErrorCode.None, h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, Create("b", 2)).Topics[0].ErrorCode);
        Assert.Equal(ErrorCode.None, h.Call<CreatePartitionsResponse>(c, ApiKey.CreatePartitions, 3, Grow("a", 4)).Results[0].ErrorCode);
        Assert.Equal(ErrorCode.None, h.Call<IncrementalAlterConfigsResponse>(c, ApiKey.IncrementalAlterConfigs, 1, SetConfig("b", "retention.ms", "777")).Responses[0].ErrorCode);
        Assert.Equal(ErrorCode.None, h.Call<DeleteTopicsResponse>(c, ApiKey.DeleteTopics, 4, Delete("a")).Responses[0].ErrorCode);
        Assert.Null(h.Node.FindLog("a", 0));
        string before = Describe(h.Node.Topics);
        var ids = h.Node.Topics.ToDictionary(t => t.Name, t => t.TopicId);
        h.CrashAndRestart();
        Assert.Equal(before, Describe(h.Node.Topics));
        Assert.Equal(ids, h.Node.Topics.ToDictionary(t => t.Name, t => t.TopicId));
        Assert.Equal(777, h.Node.FindLog("b", 1)!.Config.RetentionMs);
        Assert.Null(h.Node.FindLog("a", 0));
    }

    [Fact]
    public void A_torn_or_damaged_log_tail_is_cut_and_the_node_starts()
    {
        var h = new BrokerHarness();
        h.Node.CreateTopic("kept", 1, [], validateOnly: false, out _);
        string path = h.Config.DataDirectory + "/" + MetadataLog.LogFileName;
        long good = h.Disk.ReadDurable(path).Length;
        // A damaged frame after the synced batch (a length running past the end): it goes, the batch stays.
        using (var f = h.Disk.Open(path, create: false))
        {
            f.Write(f.Length, new byte[] { 0, 0, 0, 40, 1, 2, 3 });
            Assert.Equal(DiskStatus.Ok, f.SyncNow());
        }
        h.CrashAndRestart();
        Assert.NotNull(h.Node.FindTopic("kept"));
        Assert.Equal(good, h.Disk.ReadVolatile(path).Length);
        Assert.Contains(h.Logs, l => l.Contains("torn, damaged or out of sequence", StringComparison.Ordinal));
        // And it keeps working after the cut.
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("after", 1, [], validateOnly: false, out _).Error);
        h.CrashAndRestart();
        Assert.NotNull(h.Node.FindTopic("after"));
    }

    [Fact]
    public void The_log_is_compacted_into_a_snapshot_and_replay_uses_it()
    {
        var h = new BrokerHarness();
        h.Node.MetadataLog.SnapshotEveryBatches = 3;
        var c = h.Connect();
        for (int i = 0; i < 10; i++)
            Assert.Equal(ErrorCode.None, h.Call<CreateTopicsResponse>(c, ApiKey.CreateTopics, 7, Create("t" + i, 1 + i % 3)).Topics[0].ErrorCode);
        h.Call<DeleteTopicsResponse>(c, ApiKey.DeleteTopics, 4, Delete("t4"));
        string dir = h.Config.DataDirectory + "/";
        Assert.True(h.Disk.FileExists(dir + MetadataLog.SnapshotFileName));
        Assert.True(h.Node.MetadataLog.SnapshotOffset >= 0);
        Assert.True(h.Disk.ReadVolatile(dir + MetadataLog.LogFileName).Length < 200, "the log was emptied by the snapshot");
        string before = Describe(h.Node.Topics);
        h.CrashAndRestart();
        Assert.Equal(before, Describe(h.Node.Topics));
        Assert.Equal(9, h.Node.Topics.Count); // ten created, one deleted
    }

    [Fact]
    public void A_data_directory_with_the_old_topics_file_is_migrated_and_keeps_working()
    {
        var disk = new SimDisk();
        disk.CreateDirectory("data");
        var id = new Guid("00112233-4455-6677-8899-aabbccddeeff");
        using (var w = new KafkaWriter())
        {
            w.WriteRaw("DKT1"u8);
            w.WriteInt32(1);
            w.WriteString("old", false);
            w.WriteUuid(id);
            w.WriteInt32(3);
            w.WriteInt32(1);
            w.WriteString("retention.ms", false);
            w.WriteString("4321", false);
            w.WriteUInt32(Crc32C.Compute(w.WrittenSpan));
            using var f = disk.Open("data/__detkafka_topics", create: true);
            f.Write(0, w.WrittenSpan);
            f.SyncNow();
        }
        var h = new BrokerHarness(disk: disk);
        var topic = h.Node.FindTopic("old");
        Assert.NotNull(topic);
        Assert.Equal((id, 3, "4321"), (topic.TopicId, topic.PartitionCount, topic.ConfigOverrides["retention.ms"]));
        Assert.False(disk.FileExists("data/__detkafka_topics"));
        Assert.Equal(4321, h.Node.FindLog("old", 2)!.Config.RetentionMs);
        h.CrashAndRestart();
        Assert.Equal(id, h.Node.FindTopic("old")!.TopicId);
    }

    private enum OpKind { Create, Grow, Config, Delete }

    /// <summary>
    /// The property: admin changes proposed through the handlers, syncs completed a random number at a time, then a
    /// crash that keeps a random (possibly torn) part of what was not synced. After recovery the image is what the
    /// model shows after some prefix of the proposals, and that prefix covers every proposal that was answered OK.
    /// </summary>
    [Fact]
    public void Acknowledged_topic_changes_survive_a_crash_and_the_image_is_a_prefix_of_the_proposals()
    {
        var gen = from seed in Gen.Choose(1, int.MaxValue)
                  from ops in Gen.Choose(1, 25)
                  select (seed, ops);
        FsCheckCheck.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(Arb.From(gen), ((int Seed, int Ops) c) => RunCrashCase(c.Seed, c.Ops)));
    }

    private static void RunCrashCase(int seed, int opCount)
    {
        var random = new Random(seed);
        var h = new BrokerHarness(seed: (ulong)seed);
        h.Node.MetadataLog.SnapshotEveryBatches = 1 + random.Next(8);
        // model: name -> (partitions, retention.ms or null), one state per accepted proposal
        var model = new SortedDictionary<string, (int Partitions, string? Retention)>(StringComparer.Ordinal);
        var states = new List<string> { Render(model) };
        var pending = new List<(ConnectionId Connection, ApiKey Key, short Version, int StateIndex)>();
        int acknowledged = 0;
        int nextName = 0;
        for (int i = 0; i < opCount; i++)
        {
            var kind = model.Count == 0 ? OpKind.Create : (OpKind)random.Next(4);
            var c = h.Connect();
            string name = kind == OpKind.Create ? "t" + nextName++ : model.Keys.ElementAt(random.Next(model.Count));
            switch (kind)
            {
                case OpKind.Create:
                    int partitions = 1 + random.Next(3);
                    h.Send(c, ApiKey.CreateTopics, 7, Create(name, partitions));
                    model[name] = (partitions, null);
                    pending.Add((c, ApiKey.CreateTopics, 7, states.Count));
                    break;
                case OpKind.Grow:
                    h.Send(c, ApiKey.CreatePartitions, 3, Grow(name, model[name].Partitions + 1));
                    model[name] = (model[name].Partitions + 1, model[name].Retention);
                    pending.Add((c, ApiKey.CreatePartitions, 3, states.Count));
                    break;
                case OpKind.Config:
                    string value = (1000 + random.Next(100000)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    h.Send(c, ApiKey.IncrementalAlterConfigs, 1, SetConfig(name, "retention.ms", value));
                    model[name] = (model[name].Partitions, value);
                    pending.Add((c, ApiKey.IncrementalAlterConfigs, 1, states.Count));
                    break;
                case OpKind.Delete:
                    h.Send(c, ApiKey.DeleteTopics, 4, Delete(name));
                    model.Remove(name);
                    pending.Add((c, ApiKey.DeleteTopics, 4, states.Count));
                    break;
            }
            states.Add(Render(model));
            if (random.Next(3) == 0) h.CompleteSyncs(random.Next(3));
            foreach (var p in pending.Where(p => Answered(h, p.Connection, p.Key, p.Version)).ToList())
            {
                acknowledged = Math.Max(acknowledged, p.StateIndex);
                pending.Remove(p);
            }
        }
        h.CrashAndRestart(new SeededRandom((ulong)seed));
        string actual = Describe(h.Node.Topics, h);
        int found = states.LastIndexOf(actual);
        Assert.True(found >= 0, $"seed {seed}: recovered image {actual} is no prefix of the proposals");
        Assert.True(found >= acknowledged, $"seed {seed}: an acknowledged change was lost (image is state {found}, acked up to {acknowledged})");
        // Every partition of the image has its log, and no other topic left one behind.
        foreach (var t in h.Node.Topics)
            for (int p = 0; p < t.PartitionCount; p++) Assert.NotNull(h.Node.FindLog(t.Name, p));
    }

    private static string Render(SortedDictionary<string, (int Partitions, string? Retention)> model)
        => string.Join(";", model.Select(kv => $"{kv.Key}/{kv.Value.Partitions}/{(kv.Value.Retention is null ? "" : "retention.ms=" + kv.Value.Retention)}"));

    private static string Describe(IEnumerable<TopicInfo> topics, BrokerHarness _) => Describe(topics);

    private static bool Answered(BrokerHarness h, ConnectionId c, ApiKey key, short version)
    {
        var frames = h.Network.TakeFrames(c);
        if (frames.Count == 0) return false;
        var body = ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(frames[0]), out _);
        var error = body switch
        {
            CreateTopicsResponse r => r.Topics[0].ErrorCode,
            CreatePartitionsResponse r => r.Results[0].ErrorCode,
            IncrementalAlterConfigsResponse r => r.Responses[0].ErrorCode,
            DeleteTopicsResponse r => r.Responses[0].ErrorCode,
            _ => throw new InvalidOperationException(),
        };
        Assert.Equal(ErrorCode.None, error);
        return true;
    }
}
