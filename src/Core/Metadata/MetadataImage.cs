using DetKafka.Core.Broker;
using DetKafka.Core.Util;

namespace DetKafka.Core.Metadata;

/// <summary>
/// What applying metadata records in order leaves (Kafka's MetadataImage): the topics, and the producer-id blocks
/// taken so far (Kafka's ProducerIdsImage: the first id no block holds). Two
/// instances live on a node: the published image (committed records only: what every handler, the partition
/// layer and Metadata see) and the controller's view (published plus proposals not yet durable: what the next
/// proposal is validated against, so two creates of one name cannot both pass). Applying a record that does not
/// fit the image (a partition of an unknown topic) is a broken log, not bad input: it fails an assertion.
/// </summary>
public sealed class MetadataImage
{
    private readonly Dictionary<Guid, TopicInfo> _byId = new();

    public MetadataImage(SortedDictionary<string, TopicInfo> byName)
    {
        ByName = byName;
        foreach (var t in byName.Values) _byId.Add(t.TopicId, t);
    }

    /// <summary>Topics by name, ordinal order (every listing is deterministic).</summary>
    public SortedDictionary<string, TopicInfo> ByName { get; }

    public TopicInfo? FindById(Guid id) => _byId.GetValueOrDefault(id);

    /// <summary>The first producer id no recorded block holds (0 before any block).</summary>
    public long NextProducerId { get; private set; }

    /// <summary>A deep copy (the controller's view starts as a copy of the published image).</summary>
    public MetadataImage Copy()
    {
        var copy = new SortedDictionary<string, TopicInfo>(StringComparer.Ordinal);
        foreach (var (name, t) in ByName)
        {
            var c = new TopicInfo(t.Name, t.TopicId, t.PartitionCount, new SortedDictionary<string, string>(t.ConfigOverrides, StringComparer.Ordinal));
            c.Replicas.AddRange(t.Replicas);
            copy.Add(name, c);
        }
        return new MetadataImage(copy) { NextProducerId = NextProducerId };
    }

    /// <summary>Replace this image's content with <paramref name="source"/>'s (deep).</summary>
    public void ResetTo(MetadataImage source)
    {
        ByName.Clear();
        _byId.Clear();
        NextProducerId = source.NextProducerId;
        foreach (var t in source.Copy().ByName.Values)
        {
            ByName.Add(t.Name, t);
            _byId.Add(t.TopicId, t);
        }
    }

    /// <summary>Applies one record; returns the topic it touched (removed topics included), or null.</summary>
    public TopicInfo? Apply(MetadataRecord record)
    {
        switch (record)
        {
            case TopicRecord t:
            {
                Check.That(!ByName.ContainsKey(t.Name) && !_byId.ContainsKey(t.TopicId), "a TopicRecord names a new topic");
                var info = new TopicInfo(t.Name, t.TopicId, 0, new SortedDictionary<string, string>(StringComparer.Ordinal));
                ByName.Add(t.Name, info);
                _byId.Add(t.TopicId, info);
                return info;
            }
            case PartitionRecord p:
            {
                var info = _byId.GetValueOrDefault(p.TopicId);
                Check.That(info is not null, "a PartitionRecord names a known topic");
                // Partitions are added densely: 0..n-1 at creation, n.. by CreatePartitions.
                Check.That(p.PartitionId == info!.PartitionCount, "partitions are added in order");
                info.PartitionCount = p.PartitionId + 1;
                if (info.Replicas.Count == p.PartitionId) info.Replicas.Add(p.Replicas.ToArray());
                return info;
            }
            case ConfigRecord c:
            {
                if (c.ResourceType != ConfigRecord.TopicResource) return null;
                var info = ByName.GetValueOrDefault(c.ResourceName);
                Check.That(info is not null, "a topic ConfigRecord names a known topic");
                if (c.Value is null) info!.ConfigOverrides.Remove(c.Name);
                else info!.ConfigOverrides[c.Name] = c.Value;
                return info;
            }
            case RemoveTopicRecord r:
            {
                Check.That(_byId.Remove(r.TopicId, out var info), "a RemoveTopicRecord names a known topic");
                ByName.Remove(info!.Name);
                return info;
            }
            case ProducerIdsRecord ids:
                // Blocks only grow: a smaller value (never written) would hand out ids twice.
                Check.That(ids.NextProducerId >= NextProducerId, "producer id blocks only grow");
                NextProducerId = ids.NextProducerId;
                return null;
            default:
                throw new InvariantViolationException("unknown metadata record " + record.GetType().Name);
        }
    }

    /// <summary>The records that rebuild this image from nothing (a snapshot of it).</summary>
    public List<MetadataRecord> ToRecords(int nodeId)
    {
        var records = new List<MetadataRecord>();
        foreach (var t in ByName.Values)
        {
            records.Add(new TopicRecord(t.Name, t.TopicId));
            for (int p = 0; p < t.PartitionCount; p++)
                records.Add(p < t.Replicas.Count && t.Replicas[p].Length > 0
                    ? new PartitionRecord(t.TopicId, p, t.Replicas[p][0], 0, t.Replicas[p])
                    : new PartitionRecord(t.TopicId, p, nodeId, 0, [nodeId]));
            foreach (var (k, v) in t.ConfigOverrides) records.Add(new ConfigRecord(ConfigRecord.TopicResource, t.Name, k, v));
        }
        if (NextProducerId > 0) records.Add(new ProducerIdsRecord(nodeId, NextProducerId));
        return records;
    }
}
