using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DetKafka.Core.Client;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Log compaction in the swarm (SIMULATION.md, "Compaction in the swarm"): the admin process keeps one compacted
/// topic, <see cref="CompactedTopic"/> (small segments, a low dirty ratio, so the broker's cleaner runs during the
/// safety phase, under every fault the seed drew), writes keyed records to it (a few tombstones) with acks=all, and
/// reads it back from the start. Every answer is judged against what was acknowledged:
/// <list type="bullet">
/// <item><c>model-compaction-invented</c>: a record no write of that key produced;</item>
/// <item><c>model-compaction-offset</c>: an acknowledged record at another offset, or offsets not increasing;</item>
/// <item><c>model-compaction-latest</c>: a key whose writes all ended (acknowledged or refused) lost its latest
/// acknowledged record although the read went past it (the cleaner may drop only records a later one of the same
/// key supersedes).</item>
/// </list>
/// </summary>
public sealed partial class AdminWorkload
{
    /// <summary>The compacted topic's name; recovered-logs-valid allows offset gaps between its batches.</summary>
    public const string CompactedTopic = "adm-compact";

    private sealed class CompactWrite(string key, long id, bool tombstone)
    {
        public readonly string Key = key;
        public readonly long Id = id;
        public readonly bool Tombstone = tombstone;
        /// <summary>null: in flight or unknown; the acknowledged offset otherwise.</summary>
        public long? Offset;
        public bool Ended;
    }

    private bool _compactCreated, _compactCreating;
    private int _compactKeys;
    private readonly List<CompactWrite> _compactWrites = new();
    private readonly Dictionary<long, CompactWrite> _compactById = new();

    private string? CompactionOperation(KafkaClient client, int node)
    {
        if (!_compactCreated) return CreateCompacted(client, node);
        return _random.NextBool(0.6) ? ProduceCompacted(client, node) : FetchCompacted(client, node);
    }

    private string? CreateCompacted(KafkaClient client, int node)
    {
        if (_compactCreating) return null;
        _compactCreating = true;
        _compactKeys = _random.NextInt(3, 21);
        var configs = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["cleanup.policy"] = "compact",
            ["segment.bytes"] = _random.NextInt(1_024, 4_097).ToString(CultureInfo.InvariantCulture),
            ["segment.ms"] = _random.NextInt(200, 2_001).ToString(CultureInfo.InvariantCulture),
            ["min.cleanable.dirty.ratio"] = "0.01",
        };
        var request = new CreateTopicsRequest { TimeoutMs = 5_000 };
        request.Topics.Add(new CreateTopicsRequest.CreatableTopic
        {
            Name = CompactedTopic, NumPartitions = 1, ReplicationFactor = -1,
            Configs = configs.Select(kv => new CreateTopicsRequest.CreatableTopicConfig { Name = kv.Key, Value = kv.Value }).ToList(),
        });
        bool sent = Send(client, node, ApiKey.CreateTopics, request, response =>
        {
            _compactCreating = false;
            var e = (response.Body as CreateTopicsResponse)?.Topics.FirstOrDefault()?.ErrorCode;
            // An ambiguous answer is retried: TOPIC_ALREADY_EXISTS then says it was created (with the same configs).
            if (e is ErrorCode.None or ErrorCode.TopicAlreadyExists) _compactCreated = true;
            else if (e is { } error && !IsAmbiguousError(error)) Model.Violation("model-create-topics", $"CreateTopics of {CompactedTopic} answered {error}");
        });
        if (!sent) _compactCreating = false;
        return "create " + CompactedTopic;
    }

    private string? ProduceCompacted(KafkaClient client, int node)
    {
        int n = _random.NextInt(1, 4);
        var writes = new List<CompactWrite>();
        var records = new List<SimpleRecord>();
        long ts = _host!.Clock.WallClockMs;
        for (int i = 0; i < n; i++)
        {
            string key = "k" + _random.NextInt(0, _compactKeys).ToString(CultureInfo.InvariantCulture);
            var w = new CompactWrite(key, ++_nextRecordId, _random.NextBool(0.1));
            writes.Add(w);
            _compactWrites.Add(w);
            _compactById[w.Id] = w;
            byte[]? value = null;
            if (!w.Tombstone)
            {
                value = new byte[8];
                BinaryPrimitives.WriteInt64BigEndian(value, w.Id);
            }
            // A tombstone carries its id in a header, so a read can tell which write it was.
            var headers = new List<RecordHeader> { new("id", BitConverter.GetBytes(w.Id)) };
            records.Add(new SimpleRecord(Encoding.UTF8.GetBytes(key), value, ts, headers));
        }
        var request = new ProduceRequest { Acks = -1, TimeoutMs = Math.Max(1, _options.RequestTimeoutMs / 2) };
        request.TopicData.Add(new ProduceRequest.TopicProduceData { Name = CompactedTopic });
        request.TopicData[0].PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = RecordBatchBuilder.Build(records) });
        bool sent = Send(client, node, ApiKey.Produce, request, response =>
        {
            var r = (response.Body as ProduceResponse)?.Responses.FirstOrDefault()?.PartitionResponses.FirstOrDefault();
            if (response.Status != ResponseStatus.Ok || r is null) return; // unknown: the writes stay open for ever
            if (r.ErrorCode != ErrorCode.None)
            {
                // A definite refusal ends the writes; an ambiguous error leaves them open.
                if (!IsAmbiguousError(r.ErrorCode) && r.ErrorCode is not (ErrorCode.NotLeaderOrFollower or ErrorCode.UnknownTopicOrPartition))
                    Model.Violation("model-compaction-produce", $"Produce v{response.Version} to {CompactedTopic} answered {r.ErrorCode}");
                if (r.ErrorCode is ErrorCode.UnknownTopicOrPartition or ErrorCode.NotLeaderOrFollower)
                    foreach (var w in writes) w.Ended = true;
                return;
            }
            Model.Count("compaction.produce");
            for (int i = 0; i < writes.Count; i++)
            {
                writes[i].Offset = r.BaseOffset + i;
                writes[i].Ended = true;
            }
        });
        if (!sent)
            foreach (var w in writes) w.Ended = true;
        return $"produce {CompactedTopic} {n} records";
    }

    private string? FetchCompacted(KafkaClient client, int node)
    {
        long from = _random.NextBool(0.7) ? 0 : _random.NextInt(0, Math.Max(1, _compactWrites.Count));
        var request = new FetchRequest { MaxWaitMs = 0, MinBytes = 1, MaxBytes = 1 << 20, IsolationLevel = 0, SessionId = 0, SessionEpoch = -1 };
        request.Topics.Add(new FetchRequest.FetchTopic { Topic = CompactedTopic });
        request.Topics[0].Partitions.Add(new FetchRequest.FetchPartition { Partition = 0, FetchOffset = from, PartitionMaxBytes = 1 << 20 });
        // Keys whose writes had all ended when the read was sent (acknowledged or refused): their latest acknowledged
        // record must be there. A write without a known outcome (in flight, or ended ambiguously) may land after it
        // and supersede it, so its key is not judged.
        var open = new HashSet<string>(StringComparer.Ordinal);
        var latest = new Dictionary<string, CompactWrite>(StringComparer.Ordinal);
        foreach (var w in _compactWrites)
        {
            if (!w.Ended) open.Add(w.Key);
            else if (w.Offset is { } o && (!latest.TryGetValue(w.Key, out var best) || best.Offset < o)) latest[w.Key] = w;
        }
        var settled = latest.Where(kv => !open.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => (CompactWrite?)kv.Value, StringComparer.Ordinal);
        bool sent = Send(client, node, ApiKey.Fetch, request, response =>
        {
            if (response.Status != ResponseStatus.Ok) return;
            var r = (response.Body as FetchResponse)?.Responses.FirstOrDefault()?.Partitions.FirstOrDefault();
            if (r is null || r.ErrorCode != ErrorCode.None) return;
            Model.Count("compaction.fetch");
            CheckCompactedRead(from, r, settled, response.Version);
        });
        return $"fetch {CompactedTopic}@{from}";
    }

    private void CheckCompactedRead(long from, FetchResponse.PartitionData r, Dictionary<string, CompactWrite?> settled, short version)
    {
        string where = $"Fetch v{version} of {CompactedTopic} at {from}";
        var decoded = new List<DecodedRecord>();
        var error = RecordBatchDecoder.Decode((r.Records ?? ReadOnlyMemory<byte>.Empty).Span, decoded, allowPartialTrailingBatch: true);
        if (error != ErrorCode.None)
        {
            Model.Violation("model-compaction-invented", $"{where} returned undecodable records ({error})");
            return;
        }
        long last = -1;
        var seenIds = new HashSet<long>();
        foreach (var d in decoded)
        {
            if (d.Offset < from) continue;
            if (d.Offset <= last)
            {
                Model.Violation("model-compaction-offset", $"{where} returned offset {d.Offset} after {last}");
                return;
            }
            last = d.Offset;
            var idHeader = d.Headers.FirstOrDefault(h => h.Key == "id")?.Value;
            string key = d.Key is null ? "" : Encoding.UTF8.GetString(d.Key);
            if (idHeader is not { Length: 8 } || !_compactById.TryGetValue(BitConverter.ToInt64(idHeader), out var w) || w.Key != key
                || w.Tombstone != (d.Value is null) || d.Value is { } v && (v.Length != 8 || BinaryPrimitives.ReadInt64BigEndian(v) != w.Id))
            {
                Model.Violation("model-compaction-invented", $"{where} returned at offset {d.Offset} key '{key}' with a record no write of that key produced");
                return;
            }
            if (w.Offset is { } o && o != d.Offset)
            {
                Model.Violation("model-compaction-offset", $"{where} returned write {w.Id} of key {key} at offset {d.Offset}; it was acknowledged at {o}");
                return;
            }
            seenIds.Add(w.Id);
        }
        foreach (var (key, latest) in settled)
        {
            if (latest?.Offset is not { } o || o < from || o >= last) continue;
            if (!seenIds.Contains(latest.Id))
                Model.Violation("model-compaction-latest", $"{where} read up to offset {last} without key {key}'s latest acknowledged record (write {latest.Id}{(latest.Tombstone ? ", a tombstone" : "")} at offset {o})");
        }
    }
}
