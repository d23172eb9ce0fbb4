using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// The node's own small durable file, <c>meta.properties</c> (cluster id and node id, the same text format as
/// Kafka's), replaced atomically: write a temporary file, sync it, rename over the old one. Topics and producer-id
/// blocks live in the metadata log (<see cref="Metadata.MetadataLog"/>); this class still reads the two side files
/// that held them before the log existed, once, to migrate a data directory: <c>__detkafka_topics</c> (magic
/// "DKT1", int32 count, per topic (string name, uuid id, int32 partitions, int32 config count, string key/value
/// pairs), then the CRC-32C of everything before it) and <c>__detkafka_producer_ids</c> (below).
/// </summary>
internal sealed class MetadataStore(IDisk disk, string dataDirectory, IBrokerLog log)
{
    private const string TopicsFile = "__detkafka_topics";
    private const string MetaPropertiesFile = "meta.properties";
    private static readonly byte[] TopicsMagic = "DKT1"u8.ToArray();
    private const string ProducerIdsFile = "__detkafka_producer_ids";
    private static readonly byte[] ProducerIdsMagic = "DKP1"u8.ToArray();

    private string PathOf(string name) => dataDirectory.Length == 0 ? name : dataDirectory + "/" + name;

    public void EnsureDataDirectory()
    {
        if (dataDirectory.Length > 0 && !disk.DirectoryExists(dataDirectory)) disk.CreateDirectory(dataDirectory);
    }

    /// <summary>Reads cluster.id from meta.properties, or creates the file with a fresh id.</summary>
    public string LoadOrCreateClusterId(int nodeId, IRandom random)
    {
        string path = PathOf(MetaPropertiesFile);
        if (disk.FileExists(path))
        {
            string text = Encoding.UTF8.GetString(ReadAll(path));
            foreach (var rawLine in text.Split('\n'))
            {
                var line = rawLine.Trim();
                if (line.StartsWith("cluster.id=", StringComparison.Ordinal)) return line["cluster.id=".Length..];
            }
            log.Warn("meta.properties has no cluster.id; writing a new one");
        }
        // Kafka's cluster ids are a UUID in URL-safe base64 without padding (22 characters).
        var bytes = random.NextUuid().ToByteArray(bigEndian: true);
        string clusterId = Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string content = "#DetKafka\nversion=1\ncluster.id=" + clusterId + "\nnode.id="
            + nodeId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n";
        ReplaceAtomically(path, Encoding.UTF8.GetBytes(content));
        return clusterId;
    }

    public bool LegacyTopicsFileExists => disk.FileExists(PathOf(TopicsFile));

    /// <summary>Removes the old topics file once its content is durable in the metadata log.</summary>
    public void DeleteLegacyTopicsFile() => DeleteDurably(TopicsFile);

    public bool LegacyProducerIdsFileExists => disk.FileExists(PathOf(ProducerIdsFile));

    /// <summary>Removes the old producer-ids file once its block is durable in the metadata log.</summary>
    public void DeleteLegacyProducerIdsFile() => DeleteDurably(ProducerIdsFile);

    private void DeleteDurably(string name)
    {
        disk.DeleteFile(PathOf(name));
        var synced = disk.SyncDirectory(dataDirectory);
        if (synced != DiskStatus.Ok) throw new StorageException($"syncing the directory after removing {name}: {synced}", synced);
    }

    /// <summary>The topics of the old topics file (migration only).</summary>
    public List<TopicInfo> LoadLegacyTopics()
    {
        var topics = new List<TopicInfo>();
        string path = PathOf(TopicsFile);
        if (!disk.FileExists(path)) return topics;
        byte[] bytes = ReadAll(path);
        if (bytes.Length < TopicsMagic.Length + 8 || !bytes.AsSpan(0, 4).SequenceEqual(TopicsMagic))
            throw new InvariantViolationException($"{path} is not a DetKafka topics file");
        int bodyLength = bytes.Length - 4;
        uint stored = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(bodyLength));
        if (Crc32C.Compute(bytes.AsSpan(0, bodyLength)) != stored)
            throw new InvariantViolationException($"{path} fails its CRC: refusing to start on corrupt metadata");
        var r = new KafkaReader(bytes, 4, bodyLength - 4);
        int count = r.ReadInt32();
        for (int i = 0; i < count; i++)
        {
            string name = r.ReadString(compact: false);
            Guid id = r.ReadUuid();
            int partitions = r.ReadInt32();
            int configCount = r.ReadInt32();
            var configs = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int c = 0; c < configCount; c++) configs[r.ReadString(false)] = r.ReadString(false);
            topics.Add(new TopicInfo(name, id, partitions, configs));
        }
        return topics;
    }

    /// <summary>
    /// The old producer-ids file's value (migration only): the first producer id not yet handed out in any block,
    /// <c>__detkafka_producer_ids</c>, magic "DKP1", int64, CRC-32C. Zero when the file does not exist, null when it
    /// is damaged.
    /// </summary>
    public long? LoadLegacyNextProducerId()
    {
        string path = PathOf(ProducerIdsFile);
        if (!disk.FileExists(path)) return 0;
        byte[] bytes = ReadAll(path);
        if (bytes.Length != 16 || !bytes.AsSpan(0, 4).SequenceEqual(ProducerIdsMagic)
            || Crc32C.Compute(bytes.AsSpan(0, 12)) != System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(12)))
        {
            // Only a disk that lost synced data gets here; the caller falls back to what the logs show.
            log.Warn("{Path} is damaged; producer ids continue past the largest one found in the logs", path);
            return null;
        }
        long next = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(4));
        Check.That(next >= 0, "producer ids are not negative");
        return next;
    }

    private byte[] ReadAll(string path)
    {
        using var f = disk.Open(path, create: false);
        Check.That(f.Length <= 64L * 1024 * 1024, "metadata file bounded");
        var bytes = new byte[f.Length];
        int n = f.Read(0, bytes);
        Check.That(n == bytes.Length, "metadata file read whole");
        return bytes;
    }

    private void ReplaceAtomically(string path, ReadOnlySpan<byte> content)
    {
        string tmp = path + ".tmp";
        if (disk.FileExists(tmp)) disk.DeleteFile(tmp);
        using (var f = disk.Open(tmp, create: true))
        {
            var status = f.Write(0, content);
            if (status == DiskStatus.Ok) status = f.SyncNow();
            if (status != DiskStatus.Ok) throw new StorageException($"writing {tmp}: {status}", status);
        }
        disk.Rename(tmp, path);
        // The rename is the commit; it is durable only once the directory is synced.
        var synced = disk.SyncDirectory(dataDirectory);
        if (synced != DiskStatus.Ok) throw new StorageException($"syncing the directory of {path}: {synced}", synced);
    }
}

/// <summary>A disk operation failed (no space, I/O error) where the caller cannot answer with an error code.</summary>
public sealed class StorageException(string message, DiskStatus status) : Exception(message)
{
    public DiskStatus Status { get; } = status;
}
