using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Metadata;
using DetKafka.Core.Storage;

namespace DetKafka.Sim.World;

/// <summary>
/// The derived-file-damage fault (issue 14, recovery paths; SIMULATION.md): while a node is down, files its recovery
/// must rebuild or may ignore are damaged at rest before it restarts: offset and time indexes, producer-state
/// snapshots, the leader-epoch checkpoint, and <c>.tmp</c> leftovers of a checkpoint that was never renamed into
/// place (the metadata snapshot's, a partition checkpoint's). Each is bit-flipped, truncated, deleted or replaced by a
/// stale copy of a sibling of its kind, as the seed draws. None holds data the log does not, so every check (history,
/// reference model, invariants) must stay green: recovery must notice and rebuild, never trust.
/// </summary>
public sealed partial class SimWorld
{
    private IRandom? _damageRandom;

    /// <summary>The kinds of damage, counted per kind ("disk.derived-damage.&lt;kind&gt;").</summary>
    private static readonly string[] DamageKinds = ["flip", "truncate", "delete", "stale"];

    private static bool IsDerivedFile(string name)
        => name.EndsWith(LogSegment.IndexSuffix, StringComparison.Ordinal)
           || name.EndsWith(LogSegment.TimeIndexSuffix, StringComparison.Ordinal)
           || name.EndsWith(ProducerStateManager.SnapshotSuffix, StringComparison.Ordinal)
           || name == UnifiedLog.LeaderEpochCheckpointFile;

    /// <summary>The file's kind: a stale copy comes from another file of the same kind.</summary>
    private static string KindOf(string name)
        => name == UnifiedLog.LeaderEpochCheckpointFile ? name : name[name.LastIndexOf('.')..];

    /// <summary>Called at a restart, before the new process opens the disk; a no-op unless the fault is on and the
    /// seed's draw says this restart finds damage.</summary>
    private void MaybeDamageDerivedFiles(SimNode node)
    {
        var spec = Options.Fault(FaultKind.DerivedFileDamage);
        if (!spec.Enabled) return;
        // Its own stream: enabling the fault changes no other draw of the run.
        var r = _damageRandom ??= new SeededRandom(SimulationOptions.SubSeed(Seed, 14));
        if (!r.NextBool(spec.Intensity)) return;
        Note(node.Name, "fault", "derived-file-damage: " + DamageDerivedFiles(node, r.NextInt(1, 4), r));
    }

    /// <summary>Damages up to <paramref name="files"/> derived files of a down node; what it did, for the trace.</summary>
    public string DamageDerivedFiles(SimNode node, int files, IRandom r)
    {
        Core.Util.Check.That(!node.IsUp, "damage at rest happens while the node is down");
        var disk = node.Disk;
        Count("fault.derived-file-damage");
        var candidates = new List<string>();
        var partitionDirs = new List<string>();
        if (disk.DirectoryExists(DataDirectory))
        {
            foreach (var dir in disk.List(DataDirectory))
            {
                string path = DataDirectory + "/" + dir;
                if (!disk.DirectoryExists(path)) continue;
                var names = disk.List(path);
                // Only a partition's directory (it holds a segment) is recovered by UnifiedLog.Open.
                if (!names.Any(n => n.EndsWith(LogSegment.LogSuffix, StringComparison.Ordinal))) continue;
                partitionDirs.Add(path);
                // Files with bytes at rest: most of the many internal partitions' files are empty, and damaging
                // those would leave the interesting ones (a multi-segment log's indexes) rarely touched.
                foreach (var name in names)
                    if (IsDerivedFile(name) && disk.ReadDurable(path + "/" + name).Length > 0) candidates.Add(path + "/" + name);
            }
        }
        var done = new List<string>();
        for (int i = 0; i < files; i++)
        {
            // One draw in five plants a .tmp leftover; the rest damage a derived file.
            if (r.NextBool(0.2) || candidates.Count == 0)
            {
                done.Add(PlantTmpLeftover(disk, partitionDirs, r));
                continue;
            }
            // The kind first, then a file of it: each rebuild path gets its share, however many files each kind has
            // (every partition has a leader-epoch checkpoint; only rolled segments have indexes with bytes at rest).
            var kinds = candidates.Select(c => KindOf(c[(c.LastIndexOf('/') + 1)..])).Distinct().Order(StringComparer.Ordinal).ToList();
            string drawnKind = kinds[r.NextInt(0, kinds.Count)];
            var ofKind = candidates.Where(c => KindOf(c[(c.LastIndexOf('/') + 1)..]) == drawnKind).ToList();
            string victim = ofKind[r.NextInt(0, ofKind.Count)];
            string kind = DamageKinds[r.NextInt(0, DamageKinds.Length)];
            byte[] bytes = disk.ReadDurable(victim);
            switch (kind)
            {
                case "flip" when bytes.Length > 0:
                    // Half the time a plausible flip: a low bit of one aligned big-endian int32 (an index entry's offset
                    // or position moves a little and may stay in order), which only the content checks can catch.
                    if (bytes.Length >= 4 && r.NextBool(0.5))
                    {
                        disk.FlipBit(victim, 4L * r.NextInt(0, bytes.Length / 4) + 3, r.NextInt(0, 3));
                        break;
                    }
                    int bits = r.NextInt(1, 9);
                    for (int b = 0; b < bits; b++) disk.FlipBit(victim, (long)r.NextBelow((ulong)bytes.Length), r.NextInt(0, 8));
                    break;
                case "truncate" when bytes.Length > 0:
                    disk.Replace(victim, bytes.AsSpan(0, r.NextInt(0, bytes.Length)));
                    break;
                case "stale":
                    string k = KindOf(victim[(victim.LastIndexOf('/') + 1)..]);
                    // An older file of the same partition (another segment's index, an older snapshot); for the one
                    // leader-epoch checkpoint a partition has, another partition's stands in for an old version. Not a
                    // snapshot from another partition: it names no partition (nor does Kafka's), so one taken at the
                    // same offset would pass every check; whole files moving between directories is no disk fault.
                    string dir = victim[..victim.LastIndexOf('/')];
                    var siblings = candidates.Where(c => c != victim && KindOf(c[(c.LastIndexOf('/') + 1)..]) == k
                        && (k == UnifiedLog.LeaderEpochCheckpointFile || c[..c.LastIndexOf('/')] == dir)).ToList();
                    if (siblings.Count == 0) goto default;
                    disk.Replace(victim, disk.ReadDurable(siblings[r.NextInt(0, siblings.Count)]));
                    break;
                default:
                    kind = "delete";
                    disk.DeleteAtRest(victim);
                    candidates.Remove(victim);
                    break;
            }
            Count("disk.derived-damage." + kind);
            done.Add(kind + " " + victim);
        }
        return string.Join(", ", done);
    }

    /// <summary>A checkpoint written as .tmp whose rename never happened: garbage or a damaged copy of the real file.
    /// Recovery deletes every .tmp it finds before reading anything.</summary>
    private string PlantTmpLeftover(SimDisk disk, List<string> partitionDirs, IRandom r)
    {
        string target = partitionDirs.Count == 0 || r.NextBool(0.5)
            ? DataDirectory + "/" + MetadataLog.SnapshotFileName
            : partitionDirs[r.NextInt(0, partitionDirs.Count)] + "/"
              + (r.NextBool(0.5) ? UnifiedLog.LeaderEpochCheckpointFile : UnifiedLog.LogStartOffsetCheckpointFile);
        if (!disk.DirectoryExists(DataDirectory)) return "no data";
        byte[] content = disk.FileExists(target) ? disk.ReadDurable(target) : [];
        if (content.Length == 0 || r.NextBool(0.3))
        {
            content = new byte[r.NextInt(1, 64)];
            for (int i = 0; i < content.Length; i++) content[i] = (byte)r.NextInt(0, 256);
        }
        else
        {
            content = content[..r.NextInt(1, content.Length + 1)];
            content[r.NextInt(0, content.Length)] ^= (byte)(1 << r.NextInt(0, 8));
        }
        string tmp = target + ".tmp";
        using (var f = disk.Open(tmp, create: true)) { }
        disk.Replace(tmp, content);
        Count("disk.derived-damage.tmp");
        return string.Create(CultureInfo.InvariantCulture, $"tmp leftover {tmp} ({content.Length} bytes)");
    }
}
