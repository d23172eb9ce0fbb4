using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using Prometheus;

namespace DetKafka.Host.Runtime;

/// <summary>A partition's log as the metrics show it, read on the driver thread at scrape time.</summary>
public readonly record struct PartitionSnapshot(string Topic, int Partition, long LogStartOffset, long LogEndOffset, long HighWatermark, long SizeBytes);

/// <summary>A consumer group's committed offset of one partition and the lag behind the partition's high watermark.</summary>
public readonly record struct GroupOffsetSnapshot(string Group, string Topic, int Partition, long CommittedOffset, long Lag);

/// <summary>What a scrape reads from the running broker (on its driver thread).</summary>
public sealed record BrokerSnapshot(IReadOnlyList<PartitionSnapshot> Partitions, int Connections, int Topics,
    IReadOnlyList<GroupOffsetSnapshot>? GroupOffsets = null);

/// <summary>
/// The broker's Prometheus metrics (prometheus-net, its own registry), named as Kafka's JMX metrics come out of
/// the Prometheus JMX exporter (kafka_server_..., kafka_network_..., kafka_log_...), so Kafka dashboards and
/// alerts carry over. Request, byte and error counters are fed by Core through <see cref="IBrokerObserver"/> on
/// the driver thread: label children are looked up once and cached, so the produce and fetch paths allocate
/// nothing here either. Per-partition gauges and the connection count are read at scrape time.
/// </summary>
public sealed class BrokerMetrics
{
    private const int ApiKeySlots = 128;

    private readonly Counter _requests;
    private readonly Histogram _requestTime;
    private readonly Counter _errors;
    private readonly Counter _bytesIn;
    private readonly Counter _messagesIn;
    private readonly Counter _bytesOut;
    private readonly Gauge _logEndOffset;
    private readonly Gauge _logStartOffset;
    private readonly Gauge _highWatermark;
    private readonly Gauge _logSize;
    private readonly Gauge _partitions;
    private readonly Gauge _topics;
    private readonly Gauge _connections;
    private readonly Counter _connectionsCreated;
    private readonly Histogram _flushTime;
    private readonly Gauge _underReplicated;
    private readonly Gauge _leaderCount;
    private readonly Gauge _groupOffset;
    private readonly Gauge _groupLag;
    private HashSet<(string, string, int)> _groupLabels = new();

    private readonly Counter.Child?[] _requestChildren = new Counter.Child?[ApiKeySlots];
    private readonly Histogram.Child?[] _timeChildren = new Histogram.Child?[ApiKeySlots];
    private readonly Dictionary<int, Counter.Child> _errorChildren = new();
    private readonly ErrorCounter _errorVisitor;
    private ApiKey _errorsOf;
    private readonly Dictionary<string, TopicChildren> _topicChildren = new(StringComparer.Ordinal);
    private HashSet<(string, int)> _partitionLabels = new();

    private sealed record TopicChildren(Counter.Child BytesIn, Counter.Child MessagesIn, Counter.Child BytesOut);

    public BrokerMetrics()
    {
        _errorVisitor = new ErrorCounter(this);
        Registry = Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        // Request latency from 100 us to about 26 s.
        var latencyBuckets = Histogram.ExponentialBuckets(0.0001, 2, 19);
        _requests = f.CreateCounter("kafka_network_requestmetrics_requests_total", "Requests handled, by API (Kafka: RequestsPerSec).",
            new CounterConfiguration { LabelNames = ["request"] });
        _requestTime = f.CreateHistogram("kafka_network_requestmetrics_totaltime_seconds",
            "Time from a request's arrival to its response, by API (Kafka: TotalTimeMs).",
            new HistogramConfiguration { LabelNames = ["request"], Buckets = latencyBuckets });
        _errors = f.CreateCounter("kafka_network_requestmetrics_errors_total",
            "Error codes returned, by API and error name, counted per partition/topic/resource result (Kafka: ErrorsPerSec).",
            new CounterConfiguration { LabelNames = ["request", "error"] });
        _bytesIn = f.CreateCounter("kafka_server_brokertopicmetrics_bytesin_total", "Record bytes appended by produce requests (Kafka: BytesInPerSec).",
            new CounterConfiguration { LabelNames = ["topic"] });
        _messagesIn = f.CreateCounter("kafka_server_brokertopicmetrics_messagesin_total", "Records appended by produce requests (Kafka: MessagesInPerSec).",
            new CounterConfiguration { LabelNames = ["topic"] });
        _bytesOut = f.CreateCounter("kafka_server_brokertopicmetrics_bytesout_total", "Record bytes returned by fetch responses (Kafka: BytesOutPerSec).",
            new CounterConfiguration { LabelNames = ["topic"] });
        // Consumer lag, named as kafka_exporter names it (the usual source of these on Grafana dashboards).
        _groupOffset = f.CreateGauge("kafka_consumergroup_current_offset", "A consumer group's committed offset of a partition.",
            new GaugeConfiguration { LabelNames = ["consumergroup", "topic", "partition"] });
        _groupLag = f.CreateGauge("kafka_consumergroup_lag", "How far a consumer group's committed offset is behind the partition's high watermark.",
            new GaugeConfiguration { LabelNames = ["consumergroup", "topic", "partition"] });
        _logEndOffset = f.CreateGauge("kafka_log_log_logendoffset", "Offset the next record will get (Kafka: Log LogEndOffset).",
            new GaugeConfiguration { LabelNames = ["topic", "partition"] });
        _logStartOffset = f.CreateGauge("kafka_log_log_logstartoffset", "First offset still in the log (Kafka: Log LogStartOffset).",
            new GaugeConfiguration { LabelNames = ["topic", "partition"] });
        _highWatermark = f.CreateGauge("kafka_cluster_partition_highwatermark", "Offset below which records are durable and visible to consumers.",
            new GaugeConfiguration { LabelNames = ["topic", "partition"] });
        _logSize = f.CreateGauge("kafka_log_log_size", "Bytes of the partition's segments (Kafka: Log Size).",
            new GaugeConfiguration { LabelNames = ["topic", "partition"] });
        _partitions = f.CreateGauge("kafka_server_replicamanager_partitioncount", "Partitions on this broker (Kafka: ReplicaManager PartitionCount).");
        _leaderCount = f.CreateGauge("kafka_server_replicamanager_leadercount", "Partitions this broker leads (Kafka: ReplicaManager LeaderCount); a single node leads all.");
        _underReplicated = f.CreateGauge("kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions with fewer in-sync replicas than replicas (Kafka: UnderReplicatedPartitions); 0 until replication exists.");
        _topics = f.CreateGauge("kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster (Kafka: GlobalTopicCount).");
        _connections = f.CreateGauge("kafka_server_socketservermetrics_connection_count", "Open client connections (Kafka: connection-count).");
        _connectionsCreated = f.CreateCounter("kafka_server_socketservermetrics_connection_creation_total", "Client connections accepted (Kafka: connection-creation-total).");
        _flushTime = f.CreateHistogram("kafka_log_logflushstats_logflushrateandtime_seconds",
            "fsync latency of a partition's log file (Kafka: LogFlushRateAndTimeMs).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.00005, 2, 18) });
        _underReplicated.Set(0);
        Registry.AddBeforeCollectCallback(Refresh);
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Reads the broker at scrape time; set by the host once the broker runs. Null: gauges stay as they were.</summary>
    public Func<BrokerSnapshot?>? Snapshot { get; set; }

    /// <summary>Accepted connections so far, read at scrape time.</summary>
    public Func<long>? ConnectionsAccepted { get; set; }

    // ---- fed by HostObserver on the driver thread -------------------------------------------------------

    public void RequestCompleted(ApiKey key, double seconds, IKafkaMessage? response)
    {
        int slot = (ushort)key % ApiKeySlots;
        var name = ApiName(key);
        (_requestChildren[slot] ??= _requests.WithLabels(name)).Inc();
        (_timeChildren[slot] ??= _requestTime.WithLabels(name)).Observe(seconds);
        if (response is null) return;
        // Every error code the response carries (generated from the specs, so every API is covered).
        _errorsOf = key;
        response.VisitErrorCodes(_errorVisitor);
        if (response is FetchResponse fetch)
        {
            foreach (var t in fetch.Responses)
            {
                long bytes = 0;
                foreach (var p in t.Partitions) bytes += p.RecordsFrom?.Length ?? p.Records?.Length ?? 0;
                if (bytes > 0) Topic(t.Topic).BytesOut.Inc(bytes);
            }
        }
    }

    /// <summary>Counts the visited error codes under the API in <see cref="_errorsOf"/> (one instance: no allocation
    /// per response).</summary>
    private sealed class ErrorCounter(BrokerMetrics metrics) : IErrorCodeVisitor
    {
        public void Visit(ErrorCode code) => metrics.Error(metrics._errorsOf, code);
    }

    public void RecordsAppended(string topic, int partition, int bytes, int records)
    {
        var t = Topic(topic);
        t.BytesIn.Inc(bytes);
        t.MessagesIn.Inc(records);
    }

    // ---- host side -----------------------------------------------------------------------------------------

    /// <summary>One fsync took this long (a sync thread).</summary>
    public void ObserveFlush(TimeSpan elapsed) => _flushTime.Observe(elapsed.TotalSeconds);

    private static readonly string[] ApiNames = BuildApiNames();

    private static string[] BuildApiNames()
    {
        var names = new string[ApiKeySlots];
        for (int i = 0; i < ApiKeySlots; i++)
            names[i] = Enum.IsDefined((ApiKey)(short)i) ? ((ApiKey)(short)i).ToString() : "Unknown" + i;
        return names;
    }

    private static string ApiName(ApiKey key) => ApiNames[(ushort)key % ApiKeySlots];

    private void Error(ApiKey key, ErrorCode code)
    {
        if (code == ErrorCode.None) return;
        int k = ((ushort)key << 16) | (ushort)code;
        if (!_errorChildren.TryGetValue(k, out var child))
        {
            child = _errors.WithLabels(ApiName(key), Tools.CliSession.ErrorName(code));
            _errorChildren.Add(k, child);
        }
        child.Inc();
    }

    private TopicChildren Topic(string topic)
    {
        if (_topicChildren.TryGetValue(topic, out var children)) return children;
        children = new TopicChildren(_bytesIn.WithLabels(topic), _messagesIn.WithLabels(topic), _bytesOut.WithLabels(topic));
        _topicChildren.Add(topic, children);
        return children;
    }

    /// <summary>Before each scrape: per-partition gauges from the broker, removing partitions that are gone.</summary>
    private void Refresh()
    {
        if (ConnectionsAccepted is { } accepted) _connectionsCreated.IncTo(accepted());
        if (Snapshot?.Invoke() is not { } snapshot) return;
        _connections.Set(snapshot.Connections);
        _topics.Set(snapshot.Topics);
        _partitions.Set(snapshot.Partitions.Count);
        _leaderCount.Set(snapshot.Partitions.Count);
        var seen = new HashSet<(string, int)>();
        foreach (var p in snapshot.Partitions)
        {
            var partition = p.Partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _logEndOffset.WithLabels(p.Topic, partition).Set(p.LogEndOffset);
            _logStartOffset.WithLabels(p.Topic, partition).Set(p.LogStartOffset);
            _highWatermark.WithLabels(p.Topic, partition).Set(p.HighWatermark);
            _logSize.WithLabels(p.Topic, partition).Set(p.SizeBytes);
            seen.Add((p.Topic, p.Partition));
        }
        foreach (var (topic, partition) in _partitionLabels)
        {
            if (seen.Contains((topic, partition))) continue;
            var label = partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _logEndOffset.RemoveLabelled(topic, label);
            _logStartOffset.RemoveLabelled(topic, label);
            _highWatermark.RemoveLabelled(topic, label);
            _logSize.RemoveLabelled(topic, label);
        }
        _partitionLabels = seen;

        var groupsSeen = new HashSet<(string, string, int)>();
        foreach (var g in snapshot.GroupOffsets ?? [])
        {
            var partition = g.Partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _groupOffset.WithLabels(g.Group, g.Topic, partition).Set(g.CommittedOffset);
            _groupLag.WithLabels(g.Group, g.Topic, partition).Set(g.Lag);
            groupsSeen.Add((g.Group, g.Topic, g.Partition));
        }
        foreach (var (group, topic, partition) in _groupLabels)
        {
            if (groupsSeen.Contains((group, topic, partition))) continue;
            var label = partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _groupOffset.RemoveLabelled(group, topic, label);
            _groupLag.RemoveLabelled(group, topic, label);
        }
        _groupLabels = groupsSeen;
    }
}
