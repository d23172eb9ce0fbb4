using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Requests at the versions the broker serves and the simulated KafkaClient does not speak (SIMULATION.md, "Raw
/// requests and malformed input"), so every served version's codec path is exercised: Metadata v0 and above the
/// client's v9, ListOffsets v0 (the old-style offsets list), OffsetCommit and OffsetFetch at their newest versions
/// (v9: KIP-848's member epoch fields). Each answer is judged as its newer-version sibling is.
/// </summary>
public sealed partial class AdminWorkload
{
    private string? RawVersions(RawConnections raw, int node)
    {
        if (_host?.Client?.BrokerApiVersions(node) is not { } served) return null;
        var candidates = new List<(ApiKey Key, short Version)>();
        foreach (var key in new[] { ApiKey.Metadata, ApiKey.ListOffsets, ApiKey.OffsetCommit })
        {
            if (!served.TryGetValue(key, out var range) || KafkaClient.SupportedVersions(key) is not { } mine) continue;
            for (short v = range.Min; v <= range.Max; v++)
                if (v < mine.Min || v > mine.Max) candidates.Add((key, v));
        }
        if (candidates.Count == 0) return null;
        var (k, version) = candidates[_random.NextInt(0, candidates.Count)];
        return k switch
        {
            ApiKey.Metadata => RawMetadata(raw, version),
            ApiKey.ListOffsets => RawListOffsets(raw, version),
            _ => RawCommitAndFetch(raw, version, served),
        };
    }

    /// <summary>Metadata of the queue topic: listed, with its partitions 0..n-1 (model-metadata).</summary>
    private string? RawMetadata(RawConnections raw, short version)
    {
        if (raw.Open() is not { } id) return null;
        string topic = _world.Options.Workload.Topic;
        int partitions = _world.Options.Workload.Partitions;
        var request = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }], AllowAutoTopicCreation = false };
        raw.Request(id, ApiKey.Metadata, version, request, o =>
        {
            raw.Close(id);
            if (Judge(o, $"Metadata v{version}") is not MetadataResponse r) return;
            Model.Count("Metadata.v" + version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var t = r.Topics.FirstOrDefault(x => x.Name == topic);
            if (t is null || t.ErrorCode != ErrorCode.None || !t.Partitions.Select(p => p.PartitionIndex).Order().SequenceEqual(Enumerable.Range(0, partitions)))
                Model.Violation("model-metadata", $"Metadata v{version} of the queue topic {topic} answered {t?.ErrorCode.ToString() ?? "not listed"} with partitions [{string.Join(",", t?.Partitions.Select(p => p.PartitionIndex) ?? [])}]; it has {partitions}");
        });
        return $"raw metadata v{version}";
    }

    /// <summary>ListOffsets v0 (latest or earliest, the old-style list) of an admin partition, judged against the same
    /// bounds as v1+ (model-list-offsets-latest / -earliest).</summary>
    private string? RawListOffsets(RawConnections raw, short version)
    {
        if (PickPartition() is not var (t, p) || raw.Open() is not { } id) return null;
        bool latest = _random.NextBool(0.5);
        long ts = latest ? ListOffsetsRequest.LatestTimestamp : ListOffsetsRequest.EarliestTimestamp;
        var request = new ListOffsetsRequest();
        request.Topics.Add(new ListOffsetsRequest.ListOffsetsTopic
        {
            Name = t.Name,
            Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p.Index, Timestamp = ts, MaxNumOffsets = 1 }],
        });
        long hwLow = p.HwLow, lsoLow = p.LsoLow;
        var finish = DataOp(t);
        raw.Request(id, ApiKey.ListOffsets, version, request, o => finish(() =>
        {
            raw.Close(id);
            if (Judge(o, $"ListOffsets v{version}") is not ListOffsetsResponse r) return;
            var x = r.Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
            string where = $"ListOffsets v{version} of {t.Name}-{p.Index} for {(latest ? "latest" : "earliest")}";
            if (x is null || x.ErrorCode != ErrorCode.None)
            {
                if (x is null || !IsAmbiguousError(x.ErrorCode)) Model.Violation("model-list-offsets", $"{where} answered {x?.ErrorCode.ToString() ?? "no partition"}");
                return;
            }
            Model.Count("ListOffsets.v" + version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            long offset = version == 0 ? (x.OldStyleOffsets.Count == 1 ? x.OldStyleOffsets[0] : long.MinValue) : x.Offset;
            if (latest ? offset < hwLow || offset > p.MaybeWritten : offset < lsoLow || offset > p.LsoHigh)
                Model.Violation(latest ? "model-list-offsets-latest" : "model-list-offsets-earliest",
                    $"{where} answered [{string.Join(",", x.OldStyleOffsets)}]; expected one offset between {(latest ? hwLow : lsoLow)} and {(latest ? p.MaybeWritten : p.LsoHigh)}");
        }));
        return $"raw list-offsets v{version} {t.Name}-{p.Index}";
    }

    /// <summary>A standalone commit at the given version to a group of its own, read back with OffsetFetch at its
    /// newest served version (model-offset-commit, model-offset-fetch).</summary>
    private string? RawCommitAndFetch(RawConnections raw, short version, IReadOnlyDictionary<ApiKey, (short Min, short Max)> served)
    {
        if (!served.TryGetValue(ApiKey.OffsetFetch, out var fetchRange) || raw.Open() is not { } id) return null;
        string group = RawName("adm-v-");
        string topic = _world.Options.Workload.Topic;
        int partition = _random.NextInt(0, _world.Options.Workload.Partitions);
        long value = _random.NextInt(0, 1_000_000);
        var commit = new OffsetCommitRequest { GroupId = group, GenerationId = -1, MemberId = "" };
        commit.Topics.Add(new OffsetCommitRequest.OffsetCommitRequestTopic
        {
            Name = topic,
            Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = partition, CommittedOffset = value }],
        });
        raw.Request(id, ApiKey.OffsetCommit, version, commit, o =>
        {
            if (Judge(o, $"OffsetCommit v{version}") is not OffsetCommitResponse r) return;
            var e = r.Topics.FirstOrDefault()?.Partitions.FirstOrDefault()?.ErrorCode ?? ErrorCode.UnknownServerError;
            if (IsAmbiguousError(e) || IsCoordinatorError(e)) { raw.Close(id); return; }
            Model.Count("OffsetCommit.v" + version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (e != ErrorCode.None)
            {
                Model.Violation("model-offset-commit", $"OffsetCommit v{version} of {group} {topic}-{partition} answered {e} to a standalone commit");
                raw.Close(id);
                return;
            }
            short fv = fetchRange.Max;
            var fetch = new OffsetFetchRequest { GroupId = group, RequireStable = true };
            fetch.Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = topic, PartitionIndexes = [partition] }];
            fetch.Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = topic, PartitionIndexes = [partition] }] }];
            raw.Request(id, ApiKey.OffsetFetch, fv, fetch, f =>
            {
                raw.Close(id);
                if (Judge(f, $"OffsetFetch v{fv}") is not OffsetFetchResponse body) return;
                var g = fv >= 8 ? body.Groups.FirstOrDefault() : null;
                var p = fv >= 8 ? g?.Topics.FirstOrDefault()?.Partitions.FirstOrDefault() : null;
                var old = fv < 8 ? body.Topics.FirstOrDefault()?.Partitions.FirstOrDefault() : null;
                var error = g?.ErrorCode is { } ge && ge != ErrorCode.None ? ge : p?.ErrorCode ?? old?.ErrorCode ?? ErrorCode.UnknownServerError;
                long? committed = p?.CommittedOffset ?? old?.CommittedOffset;
                if (IsAmbiguousError(error) || IsCoordinatorError(error)) return;
                Model.Count("OffsetFetch.v" + fv.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (error != ErrorCode.None || committed != value)
                    Model.Violation("model-offset-fetch", $"OffsetFetch v{fv} of {group} {topic}-{partition} after a commit of {value} (OffsetCommit v{version}) answered {committed} ({error})");
            });
        });
        return $"raw offset-commit v{version} {group}";
    }
}
