using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Raft;
using DetKafka.Core.Records;

namespace DetKafka.Core.Partitions;

/// <summary>
/// A replicated partition's durable Raft state (Kafka's <c>quorum-state</c> file), beside its log: epoch, vote, leader
/// and this replica's directory id. Written like the log-start checkpoint: a <c>.tmp</c> file written and synced,
/// renamed over the old one, the directory synced, before <see cref="Write"/> returns, so the completion the core waits
/// for (<see cref="RaftReplica{TRecords}.OnQuorumStateSynced"/>) is reported by the owner right after the step
/// (<see cref="TakeCompletedWrites"/>). Layout (big-endian): version int16 (0), epoch int32, voted id int32, voted
/// directory id (16 bytes), leader id int32, directory id (16 bytes), CRC-32C of everything before it. A missing file
/// is an empty disk; a damaged one is treated the same (the replica comes back as a new one and never votes as the old).
/// </summary>
public sealed class QuorumStateFile(IDisk disk, string directory) : IQuorumStateStore
{
    public const string FileName = "quorum-state";
    private const int Size = 2 + 4 + 4 + 16 + 4 + 16 + 4;

    private QuorumStateData? _current;
    private bool _loaded;
    private int _completed;

    public string Path => directory.Length == 0 ? FileName : directory + "/" + FileName;

    /// <summary>False once a write failed: the replica must stop (its state on disk is not what it acts on).</summary>
    public bool Healthy { get; private set; } = true;

    public QuorumStateData? Read()
    {
        if (_loaded) return _current;
        _loaded = true;
        if (!disk.FileExists(Path)) return null;
        using var file = disk.Open(Path, create: false);
        if (file.Length != Size) return null;
        var bytes = new byte[Size];
        if (file.Read(0, bytes) != Size) return null;
        _current = Parse(bytes);
        return _current;
    }

    public static QuorumStateData? Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length != Size || BinaryPrimitives.ReadInt16BigEndian(b) != 0) return null;
        if (Crc32C.Compute(b[..(Size - 4)]) != BinaryPrimitives.ReadUInt32BigEndian(b[(Size - 4)..])) return null;
        return new QuorumStateData(
            BinaryPrimitives.ReadInt32BigEndian(b[2..]),
            BinaryPrimitives.ReadInt32BigEndian(b[6..]),
            new Guid(b.Slice(10, 16), bigEndian: true),
            BinaryPrimitives.ReadInt32BigEndian(b[26..]),
            new Guid(b.Slice(30, 16), bigEndian: true));
    }

    public static byte[] Serialize(QuorumStateData s)
    {
        var b = new byte[Size];
        BinaryPrimitives.WriteInt16BigEndian(b, 0);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(2), s.Epoch);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(6), s.VotedId);
        s.VotedDirectoryId.TryWriteBytes(b.AsSpan(10, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(26), s.LeaderId);
        s.DirectoryId.TryWriteBytes(b.AsSpan(30, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(Size - 4), Crc32C.Compute(b.AsSpan(0, Size - 4)));
        return b;
    }

    public void Write(QuorumStateData state)
    {
        _loaded = true;
        _current = state;
        string tmp = Path + ".tmp";
        DiskStatus status;
        using (var file = disk.Open(tmp, create: true))
        {
            file.Truncate(0);
            status = file.Write(0, Serialize(state));
            if (status == DiskStatus.Ok) status = file.SyncNow();
        }
        if (status == DiskStatus.Ok)
        {
            disk.Rename(tmp, Path);
            status = disk.SyncDirectory(directory);
        }
        if (status != DiskStatus.Ok) Healthy = false;
        else _completed++;
    }

    /// <summary>How many writes became durable since the last call (each is one OnQuorumStateSynced input).</summary>
    public int TakeCompletedWrites()
    {
        int n = _completed;
        _completed = 0;
        return n;
    }

    /// <summary>Formats a new replica's state (kafka-storage format, or a partition created by the controller): the
    /// directory id its voter key names, durable at once.</summary>
    public void Format(Guid directoryId)
    {
        Write(new QuorumStateData(0, QuorumStateData.NoId, Guid.Empty, QuorumStateData.NoId, directoryId));
        _completed = 0;
    }
}
