using System.Globalization;
using DetKafka.Core.Records;

namespace DetKafka.Core.Storage;

/// <summary>
/// A partition log's topic-level settings (Kafka's names and defaults, with one deliberate difference:
/// durability). By default every acknowledged write is synced before the ack; setting flush.messages above 1
/// or flush.ms to anything but its default makes the log <see cref="IsRelaxedDurability">relaxed</see>:
/// acks follow the write and syncs follow the count or the timer, as in Kafka.
/// </summary>
public sealed record LogConfig
{
    public const string SegmentBytesName = "segment.bytes";
    public const string SegmentMsName = "segment.ms";
    public const string SegmentIndexBytesName = "segment.index.bytes";
    public const string IndexIntervalBytesName = "index.interval.bytes";
    public const string FlushMessagesName = "flush.messages";
    public const string FlushMsName = "flush.ms";
    public const string MessageTimestampTypeName = "message.timestamp.type";
    public const string MaxMessageBytesName = "max.message.bytes";
    public const string RetentionMsName = "retention.ms";
    public const string RetentionBytesName = "retention.bytes";
    public const string CleanupPolicyName = "cleanup.policy";
    public const string CompressionTypeName = "compression.type";

    /// <summary>compression.type's values, as Kafka lists them.</summary>
    public static IReadOnlyList<string> CompressionTypes { get; } = ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

    public const string DeleteRetentionMsName = "delete.retention.ms";
    public const string MinCompactionLagMsName = "min.compaction.lag.ms";
    public const string MaxCompactionLagMsName = "max.compaction.lag.ms";
    public const string MinCleanableDirtyRatioName = "min.cleanable.dirty.ratio";

    public int SegmentBytes { get; init; } = 1 << 30;
    public long SegmentMs { get; init; } = 7L * 24 * 60 * 60 * 1000;
    public int SegmentIndexBytes { get; init; } = 10 * 1024 * 1024;
    public int IndexIntervalBytes { get; init; } = 4096;
    public long FlushMessages { get; init; } = 1;
    public long FlushMs { get; init; } = long.MaxValue;
    public TimestampType MessageTimestampType { get; init; } = TimestampType.CreateTime;
    public int MaxMessageBytes { get; init; } = 1048588;
    public long RetentionMs { get; init; } = 7L * 24 * 60 * 60 * 1000;
    public long RetentionBytes { get; init; } = -1;
    public string CleanupPolicy { get; init; } = "delete";

    /// <summary>compression.type: "producer" keeps each batch's codec; any other value is the codec the broker
    /// stores batches in, recompressing those that came in another ("uncompressed" stores them plain).</summary>
    public string CompressionType { get; init; } = "producer";

    /// <summary>The codec batches are stored in; null for "producer" (whatever the producer used).</summary>
    public CompressionCodec? TargetCodec => CompressionType switch
    {
        "producer" => null,
        "uncompressed" => CompressionCodec.None,
        "gzip" => CompressionCodec.Gzip,
        "snappy" => CompressionCodec.Snappy,
        "lz4" => CompressionCodec.Lz4,
        "zstd" => CompressionCodec.Zstd,
        _ => throw new InvalidOperationException($"compression.type {CompressionType} was not validated"),
    };

    // Log compaction (cleanup.policy=compact), Kafka's defaults.
    public long DeleteRetentionMs { get; init; } = 24L * 60 * 60 * 1000;
    public long MinCompactionLagMs { get; init; }
    public long MaxCompactionLagMs { get; init; } = long.MaxValue;
    public double MinCleanableDirtyRatio { get; init; } = 0.5;

    /// <summary>Kafka topic configs accepted and reported back but not acted on, by name.</summary>
    public IReadOnlyDictionary<string, string> Passthrough { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    public static LogConfig Default { get; } = new();

    /// <summary>Acks do not wait for a sync; the high watermark is the log end offset.</summary>
    public bool IsRelaxedDurability => FlushMessages > 1 || FlushMs != long.MaxValue;

    public bool DeletesByRetention => HasPolicy("delete");

    /// <summary>cleanup.policy names compact: the cleaner keeps the latest record per key, and produce needs keys.</summary>
    public bool Compacts => HasPolicy("compact");

    /// <summary>Whether the cleanup.policy list names <paramref name="policy"/>; allocates nothing (the produce path asks).</summary>
    private bool HasPolicy(string policy)
    {
        var rest = CleanupPolicy.AsSpan();
        while (true)
        {
            int comma = rest.IndexOf(',');
            var item = (comma < 0 ? rest : rest[..comma]).Trim();
            if (item.SequenceEqual(policy)) return true;
            if (comma < 0) return false;
            rest = rest[(comma + 1)..];
        }
    }

    /// <summary>The configs this class owns, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = new[]
    {
        CleanupPolicyName, CompressionTypeName, DeleteRetentionMsName, FlushMessagesName, FlushMsName, IndexIntervalBytesName,
        MaxCompactionLagMsName, MaxMessageBytesName, MessageTimestampTypeName, MinCleanableDirtyRatioName,
        MinCompactionLagMsName, RetentionBytesName, RetentionMsName, SegmentBytesName, SegmentIndexBytesName,
        SegmentMsName,
    };

    /// <summary>The broker config that supplies each topic config's default (DescribeConfigs synonyms), as in Kafka.</summary>
    public static IReadOnlyDictionary<string, string> BrokerSynonyms { get; } = new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        [CleanupPolicyName] = "log.cleanup.policy",
        [CompressionTypeName] = "compression.type",
        [DeleteRetentionMsName] = "log.cleaner.delete.retention.ms",
        [FlushMessagesName] = "log.flush.interval.messages",
        [FlushMsName] = "log.flush.interval.ms",
        [IndexIntervalBytesName] = "log.index.interval.bytes",
        [MaxCompactionLagMsName] = "log.cleaner.max.compaction.lag.ms",
        [MaxMessageBytesName] = "message.max.bytes",
        [MessageTimestampTypeName] = "log.message.timestamp.type",
        [MinCleanableDirtyRatioName] = "log.cleaner.min.cleanable.ratio",
        [MinCompactionLagMsName] = "log.cleaner.min.compaction.lag.ms",
        [RetentionBytesName] = "log.retention.bytes",
        [RetentionMsName] = "log.retention.ms",
        [SegmentBytesName] = "log.segment.bytes",
        [SegmentIndexBytesName] = "log.index.size.max.bytes",
        [SegmentMsName] = "log.roll.ms",
    };

    /// <summary>Kafka topic configs that clients commonly send and that we accept without effect.</summary>
    public static IReadOnlySet<string> PassthroughNames { get; } = new SortedSet<string>(StringComparer.Ordinal)
    {
        "file.delete.delay.ms", "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
        "message.downconversion.enable", "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms", "min.insync.replicas", "preallocate", "remote.storage.enable", "segment.jitter.ms",
        "unclean.leader.election.enable",
    };

    public static bool IsKnownName(string name) => Names.Contains(name) || PassthroughNames.Contains(name);

    /// <summary>Defaults overridden by <paramref name="values"/>; see <see cref="TryWith"/>.</summary>
    /// <summary>Test-only, never a topic config: the partition's producer state accepts every sequence, so
    /// retried batches are written again (the planted bug the simulator's idempotence check must catch).
    /// Set through <see cref="Broker.BrokerConfig.TestOnlyIgnoreProducerSequences"/>.</summary>
    internal bool TestOnlyIgnoreProducerSequences { get; init; }

    /// <summary>Test-only: DeleteRecords moves the log start in memory without its checkpoint
    /// (<see cref="Broker.BrokerConfig.TestOnlySkipLogStartCheckpoint"/>).</summary>
    public bool TestOnlySkipLogStartCheckpoint { get; init; }

    /// <summary>Test-only: a produced batch's CRC is not checked (<see cref="Broker.BrokerConfig.TestOnlySkipBatchCrc"/>).</summary>
    internal bool TestOnlySkipBatchCrc { get; init; }

    /// <summary>producer.id.expiration.ms, a broker setting carried here for the log (<see cref="Broker.BrokerConfig.ProducerIdExpirationMs"/>).</summary>
    internal long ProducerIdExpirationMs { get; init; } = 86_400_000;

    public static bool TryParse(IEnumerable<KeyValuePair<string, string?>> values, out LogConfig config, out string? error)
        => Default.TryWith(values, out config, out error);

    /// <summary>
    /// This config with <paramref name="overrides"/> applied in order. A null value resets the key to its
    /// default (AlterConfigs' DELETE). An unknown name or a bad value fails the whole call with a message fit
    /// for an INVALID_CONFIG response, and <paramref name="config"/> is then this config unchanged.
    /// </summary>
    public bool TryWith(IEnumerable<KeyValuePair<string, string?>> overrides, out LogConfig config, out string? error)
    {
        var c = this;
        foreach (var (name, raw) in overrides)
        {
            if (!TryApply(c, name, raw, out var next, out error))
            {
                config = this;
                return false;
            }
            c = next;
        }
        if (c.MinCompactionLagMs > c.MaxCompactionLagMs)
        {
            // Kafka's cross-check: a record could never be both old enough and young enough to be compacted.
            config = this;
            error = $"Invalid value {c.MaxCompactionLagMs} for configuration {MaxCompactionLagMsName}: conflict with "
                + $"{MinCompactionLagMsName} {c.MinCompactionLagMs}; {MaxCompactionLagMsName} must not be smaller";
            return false;
        }
        config = c;
        error = null;
        return true;
    }

    private static bool TryApply(LogConfig c, string name, string? raw, out LogConfig next, out string? error)
    {
        next = c;
        error = null;
        if (PassthroughNames.Contains(name))
        {
            var extra = new SortedDictionary<string, string>(c.Passthrough.ToDictionary(), StringComparer.Ordinal);
            if (raw is null) extra.Remove(name);
            else extra[name] = raw.Trim();
            next = c with { Passthrough = extra };
            return true;
        }
        var d = Default;
        string? value = raw?.Trim();
        switch (name)
        {
            case SegmentBytesName:
                if (!TryInt(name, value, d.SegmentBytes, 14, out int segmentBytes, out error)) return false;
                next = c with { SegmentBytes = segmentBytes };
                return true;
            case SegmentMsName:
                if (!TryLong(name, value, d.SegmentMs, 1, out long segmentMs, out error)) return false;
                next = c with { SegmentMs = segmentMs };
                return true;
            case SegmentIndexBytesName:
                if (!TryInt(name, value, d.SegmentIndexBytes, 4, out int indexBytes, out error)) return false;
                next = c with { SegmentIndexBytes = indexBytes };
                return true;
            case IndexIntervalBytesName:
                if (!TryInt(name, value, d.IndexIntervalBytes, 0, out int interval, out error)) return false;
                next = c with { IndexIntervalBytes = interval };
                return true;
            case FlushMessagesName:
                if (!TryLong(name, value, d.FlushMessages, 1, out long flushMessages, out error)) return false;
                next = c with { FlushMessages = flushMessages };
                return true;
            case FlushMsName:
                if (!TryLong(name, value, d.FlushMs, 0, out long flushMs, out error)) return false;
                next = c with { FlushMs = flushMs };
                return true;
            case MaxMessageBytesName:
                if (!TryInt(name, value, d.MaxMessageBytes, 0, out int maxMessageBytes, out error)) return false;
                next = c with { MaxMessageBytes = maxMessageBytes };
                return true;
            case RetentionMsName:
                if (!TryLong(name, value, d.RetentionMs, -1, out long retentionMs, out error)) return false;
                next = c with { RetentionMs = retentionMs };
                return true;
            case RetentionBytesName:
                if (!TryLong(name, value, d.RetentionBytes, long.MinValue, out long retentionBytes, out error)) return false;
                next = c with { RetentionBytes = retentionBytes };
                return true;
            case DeleteRetentionMsName:
                if (!TryLong(name, value, d.DeleteRetentionMs, 0, out long deleteRetentionMs, out error)) return false;
                next = c with { DeleteRetentionMs = deleteRetentionMs };
                return true;
            case MinCompactionLagMsName:
                if (!TryLong(name, value, d.MinCompactionLagMs, 0, out long minLag, out error)) return false;
                next = c with { MinCompactionLagMs = minLag };
                return true;
            case MaxCompactionLagMsName:
                if (!TryLong(name, value, d.MaxCompactionLagMs, 1, out long maxLag, out error)) return false;
                next = c with { MaxCompactionLagMs = maxLag };
                return true;
            case MinCleanableDirtyRatioName:
                if (value is null)
                {
                    next = c with { MinCleanableDirtyRatio = d.MinCleanableDirtyRatio };
                    return true;
                }
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double ratio)
                    || double.IsNaN(ratio))
                {
                    error = $"Invalid value {value} for configuration {name}: Not a number of type DOUBLE";
                    return false;
                }
                if (ratio < 0 || ratio > 1)
                {
                    error = $"Invalid value {value} for configuration {name}: Value must be between 0 and 1";
                    return false;
                }
                next = c with { MinCleanableDirtyRatio = ratio };
                return true;
            case MessageTimestampTypeName:
                switch (value)
                {
                    case null: next = c with { MessageTimestampType = d.MessageTimestampType }; return true;
                    case "CreateTime": next = c with { MessageTimestampType = TimestampType.CreateTime }; return true;
                    case "LogAppendTime": next = c with { MessageTimestampType = TimestampType.LogAppendTime }; return true;
                    default:
                        error = $"Invalid value {value} for configuration {name}: String must be one of: CreateTime, LogAppendTime";
                        return false;
                }
            case CompressionTypeName:
                if (value is null)
                {
                    next = c with { CompressionType = d.CompressionType };
                    return true;
                }
                // Kafka compares case-insensitively (ConfigDef.CaseInsensitiveValidString) and reports lower case.
                string lower = value.ToLowerInvariant();
                if (!CompressionTypes.Contains(lower))
                {
                    error = $"Invalid value {value} for configuration {name}: String must be one of: {string.Join(", ", CompressionTypes)}";
                    return false;
                }
                next = c with { CompressionType = lower };
                return true;
            case CleanupPolicyName:
                if (value is null)
                {
                    next = c with { CleanupPolicy = d.CleanupPolicy };
                    return true;
                }
                var parts = value.Split(',').Select(p => p.Trim()).ToArray();
                if (parts.Length == 0 || parts.Any(p => p is not ("delete" or "compact")))
                {
                    error = $"Invalid value {value} for configuration {name}: String must be one of: compact, delete";
                    return false;
                }
                next = c with { CleanupPolicy = string.Join(",", parts) };
                return true;
            default:
                error = $"Unknown topic config name: {name}";
                return false;
        }
    }

    /// <summary>The value of a config as DescribeConfigs reports it; null for an unknown name.</summary>
    public string? ValueOf(string name) => name switch
    {
        SegmentBytesName => Format(SegmentBytes),
        SegmentMsName => Format(SegmentMs),
        SegmentIndexBytesName => Format(SegmentIndexBytes),
        IndexIntervalBytesName => Format(IndexIntervalBytes),
        FlushMessagesName => Format(FlushMessages),
        FlushMsName => Format(FlushMs),
        MessageTimestampTypeName => MessageTimestampType.ToString(),
        MaxMessageBytesName => Format(MaxMessageBytes),
        RetentionMsName => Format(RetentionMs),
        RetentionBytesName => Format(RetentionBytes),
        CleanupPolicyName => CleanupPolicy,
        CompressionTypeName => CompressionType,
        DeleteRetentionMsName => Format(DeleteRetentionMs),
        MinCompactionLagMsName => Format(MinCompactionLagMs),
        MaxCompactionLagMsName => Format(MaxCompactionLagMs),
        MinCleanableDirtyRatioName => MinCleanableDirtyRatio.ToString("R", CultureInfo.InvariantCulture),
        _ => Passthrough.TryGetValue(name, out var v) ? v : null,
    };

    /// <summary>True when <paramref name="name"/> has its default value (DescribeConfigs' isDefault/source).</summary>
    public bool IsDefault(string name) => PassthroughNames.Contains(name)
        ? !Passthrough.ContainsKey(name)
        : ValueOf(name) == Default.ValueOf(name);

    private static string Format(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static bool TryInt(string name, string? value, int fallback, int min, out int result, out string? error)
    {
        error = null;
        result = fallback;
        if (value is null) return true;
        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result))
        {
            error = $"Invalid value {value} for configuration {name}: Not a number of type INT";
            return false;
        }
        if (result < min)
        {
            error = $"Invalid value {value} for configuration {name}: Value must be at least {min}";
            return false;
        }
        return true;
    }

    private static bool TryLong(string name, string? value, long fallback, long min, out long result, out string? error)
    {
        error = null;
        result = fallback;
        if (value is null) return true;
        if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result))
        {
            error = $"Invalid value {value} for configuration {name}: Not a number of type LONG";
            return false;
        }
        if (result < min)
        {
            error = $"Invalid value {value} for configuration {name}: Value must be at least {min}";
            return false;
        }
        return true;
    }
}
