using System.Buffers.Binary;
using System.Globalization;

namespace DetKafka.Sim.Invariants;

/// <summary>
/// After a restart, every offset-index entry the recovered logs hold in memory names the start of a batch with that
/// base offset in its segment (what recovery promises before it trusts an index file; STORAGE.md, "Recovery"). A
/// damaged index that recovery kept would send reads into the middle of a batch; the derived-file-damage fault
/// damages index files while the node is down, so this is where trusting one shows first.
/// </summary>
public sealed class RecoveredIndexesNameBatches : IInvariantChecker
{
    public string Name => "recovered-indexes-name-batches";

    public string? Check(InvariantContext context)
    {
        var restarted = context.RestartedThisEvent;
        for (int r = 0; r < restarted.Count; r++)
            if (Problem(restarted[r]) is { } problem) return problem;
        return null;
    }

    /// <summary>The first index entry of a running node's logs that names no batch, or null.</summary>
    public static string? Problem(World.SimNode node)
    {
        Span<byte> header = stackalloc byte[17];
        {
            if (node.Broker is not { } broker) return null;
            foreach (var log in broker.Logs.Logs)
            {
                foreach (var segment in log.Segments)
                {
                    foreach (var entry in segment.OffsetIndex.ReadEntries())
                    {
                        bool whole = segment.LogFile.Read(entry.Position, header) == header.Length;
                        if (whole && BinaryPrimitives.ReadInt64BigEndian(header) == entry.Offset && header[16] == 2) continue;
                        return string.Create(CultureInfo.InvariantCulture,
                            $"{node.Name} {log.Directory} segment {segment.BaseOffset}: index entry (offset {entry.Offset}, position {entry.Position}) names no batch with that base offset");
                    }
                }
            }
        }
        return null;
    }
}
