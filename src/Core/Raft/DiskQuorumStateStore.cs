using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Raft;

/// <summary>
/// The durable quorum state of one replicated log (Kafka's <c>quorum-state</c> file), on <see cref="IDisk"/>. The
/// file holds two fixed-size slots written alternately, each <c>[int64 sequence][int32 epoch][int32 voted id][uuid
/// voted directory id][int32 leader id][uuid directory id][uint32 CRC-32C of the preceding bytes]</c>; the valid slot
/// with the highest sequence is the state. A write replaces the older slot in place and requests a sync, so a torn
/// write only damages a state nobody was told about (its sync never completed) and the previous one stays readable.
/// Nothing that depends on a written state leaves the node before <see cref="TryCompleteSync"/> reports it durable
/// (the core holds its outbox until <c>OnQuorumStateSynced</c>).
/// </summary>
public sealed class DiskQuorumStateStore : IQuorumStateStore
{
    private const int SlotBytes = 8 + 4 + 4 + 16 + 4 + 16 + 4;
    private const int InFlightMax = 1024;

    private readonly IDiskFile _file;
    private readonly Func<long> _nextToken;
    private readonly IBrokerLog _log;
    private readonly QuorumStateData? _initial;
    private readonly HashSet<long> _inFlight = new();
    private long _sequence;

    /// <param name="freshDirectoryId">The directory id of a log that has no quorum state yet (see
    /// <see cref="StaticVoterDirectoryId"/>).</param>
    public DiskQuorumStateStore(IDisk disk, string path, Func<long> nextToken, IBrokerLog log, Guid? freshDirectoryId)
    {
        _nextToken = nextToken;
        _log = log;
        bool existed = disk.FileExists(path);
        _file = disk.Open(path, create: true);
        QuorumStateData? best = null;
        if (existed)
        {
            var bytes = new byte[Math.Min(_file.Length, 2 * SlotBytes)];
            _file.Read(0, bytes);
            for (int slot = 0; slot < 2; slot++)
            {
                if (bytes.Length < (slot + 1) * SlotBytes) continue;
                var s = bytes.AsSpan(slot * SlotBytes, SlotBytes);
                if (Crc32C.Compute(s[..(SlotBytes - 4)]) != BinaryPrimitives.ReadUInt32BigEndian(s[(SlotBytes - 4)..])) continue;
                long seq = BinaryPrimitives.ReadInt64BigEndian(s);
                if (seq <= 0 || seq < _sequence) continue;
                _sequence = seq;
                best = new QuorumStateData(BinaryPrimitives.ReadInt32BigEndian(s[8..]), BinaryPrimitives.ReadInt32BigEndian(s[12..]),
                    new Guid(s.Slice(16, 16), bigEndian: true), BinaryPrimitives.ReadInt32BigEndian(s[32..]), new Guid(s.Slice(36, 16), bigEndian: true));
            }
            if (best is null && _file.Length > 0)
                log.Warn("Quorum state {Path} has no valid slot: starting as a new replica (a new directory id)", path);
        }
        if (best is null && freshDirectoryId is { } dir) best = new QuorumStateData(0, QuorumStateData.NoId, Guid.Empty, QuorumStateData.NoId, dir);
        _initial = best;
        LastWritten = best;
    }

    /// <summary>The state last handed to <see cref="Write"/> (or read at start): what the file holds once the syncs in
    /// flight complete. The simulator compares it with the replica's state (quorum-state-durable).</summary>
    public QuorumStateData? LastWritten { get; private set; }

    /// <summary>Test-only planted bug (the simulator's cluster check one-leader-per-epoch must catch it): the bug this store
    /// had, a write refused with ENOSPC forgotten and the next sync reported durable. Per thread, set for one run.</summary>
    [ThreadStatic] public static bool ForgetRefusedWritesForTests;

    /// <summary>The newest state's slot when its write failed (ENOSPC): written again at the next sync completion.</summary>
    private (long Position, byte[] Slot)? _unwritten;

    /// <summary>
    /// Static voters (<c>controller.quorum.voters</c>) name nodes, not directories; the core's voter set names replica
    /// keys. A formatted node (no quorum state yet) takes this id, derived from its node id, so every node can name
    /// every voter's key from the configuration alone. Like Kafka before KIP-853's dynamic quorums, a voter that
    /// comes back with an empty disk is then its old self again: replacing a lost voter is later work.
    /// </summary>
    public static Guid StaticVoterDirectoryId(int nodeId)
    {
        Span<byte> b = stackalloc byte[16];
        "DKvoter:"u8.CopyTo(b);
        BinaryPrimitives.WriteInt64BigEndian(b[8..], nodeId);
        return new Guid(b, bigEndian: true);
    }

    public QuorumStateData? Read() => _initial;

    /// <summary>False once a sync failed twice: nothing written since is known to be on disk (a data partition's
    /// replica then goes offline; the metadata log's stays silent).</summary>
    public bool Healthy { get; private set; } = true;

    /// <summary>A replica created here (a partition the controller just created, kafka-storage format): its fresh state
    /// with the directory id its voter key names is made durable at once, blocking, before the replica runs, so a
    /// crash before its first vote still finds the key it was created with. No completion follows.</summary>
    public void FormatNow()
    {
        Check.That(_inFlight.Count == 0 && _initial is not null, "a fresh store is formatted before it is used");
        Write(_initial!.Value);
        // Its requested sync's completion is nobody's (ignored where it arrives): the blocking sync below covers it.
        _inFlight.Clear();
        if (_file.SyncNow() != DiskStatus.Ok)
        {
            Healthy = false;
            _log.Error("Quorum state format failed: the replica stays offline");
        }
    }

    public void Write(QuorumStateData state)
    {
        Check.That(_inFlight.Count < InFlightMax, "quorum state writes in flight bounded");
        _sequence++;
        LastWritten = state;
        var s = new byte[SlotBytes];
        BinaryPrimitives.WriteInt64BigEndian(s, _sequence);
        BinaryPrimitives.WriteInt32BigEndian(s.AsSpan(8), state.Epoch);
        BinaryPrimitives.WriteInt32BigEndian(s.AsSpan(12), state.VotedId);
        state.VotedDirectoryId.TryWriteBytes(s.AsSpan(16, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteInt32BigEndian(s.AsSpan(32), state.LeaderId);
        state.DirectoryId.TryWriteBytes(s.AsSpan(36, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt32BigEndian(s.AsSpan(SlotBytes - 4), Crc32C.Compute(s.AsSpan(0, SlotBytes - 4)));
        long position = (_sequence % 2) * SlotBytes;
        var status = _file.Write(position, s);
        // The newest state is the one that must reach the disk: a failed write is written again at the next sync
        // completion, and until then no sync reports it durable (the simulator's cluster swarm found syncs reporting a
        // state durable whose write had failed with ENOSPC: a restarted voter then voted twice in one epoch).
        _unwritten = status == DiskStatus.Ok || ForgetRefusedWritesForTests ? null : (position, s);
        if (status != DiskStatus.Ok) _log.Error("Quorum state write failed ({Status}); retried at the sync", status);
        long token = _nextToken();
        _inFlight.Add(token);
        _file.RequestSync(token);
    }

    /// <summary>A sync completion: false when the token is not this store's; otherwise <paramref name="durable"/> says
    /// whether one more write is on disk (a sync of the file covers every write before it, so the order of completions does not matter: the core only counts them). A failed sync is retried at once, blocking; if that fails
    /// too the state is never reported durable, so the replica stays silent rather than act on a vote it may forget.</summary>
    public bool TryCompleteSync(long token, DiskStatus status, out bool durable)
    {
        durable = false;
        if (!_inFlight.Remove(token)) return false;
        if (_unwritten is { } retry)
        {
            status = _file.Write(retry.Position, retry.Slot);
            if (status == DiskStatus.NoSpace)
            {
                // Still full: not durable yet; look again at the next sync (a full disk is not a failed one).
                _inFlight.Add(token);
                _file.RequestSync(token);
                return true;
            }
            if (status == DiskStatus.Ok)
            {
                _unwritten = null;
                status = _file.SyncNow();
            }
        }
        else if (status != DiskStatus.Ok) status = _file.SyncNow();
        if (status != DiskStatus.Ok)
        {
            _log.Error("Quorum state sync failed ({Status}): this replica sends nothing more until it restarts", status);
            Healthy = false;
            return true;
        }
        durable = true;
        return true;
    }

    public void Dispose() => _file.Dispose();
}
