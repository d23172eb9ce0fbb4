using DetKafka.Core.Abstractions;
using DetKafka.Sim;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Storage;

public class SimDiskTests
{
    private static SimDisk WithFile(out IDiskFile file, string path = "d/f")
    {
        var disk = new SimDisk();
        disk.CreateDirectory("d");
        file = disk.Open(path, create: true);
        return disk;
    }

    [Fact]
    public void Writes_are_volatile_until_a_sync_covers_them()
    {
        var disk = WithFile(out var f);
        Assert.Equal(DiskStatus.Ok, f.Write(0, [1, 2, 3]));
        f.RequestSync(7);
        f.Write(3, [4, 5]);
        Assert.Equal(5, f.Length);
        Assert.Empty(disk.ReadDurable("d/f"));
        var done = disk.CompletePendingSyncs();
        Assert.Equal([(7L, DiskStatus.Ok)], done);
        Assert.Equal([1, 2, 3], disk.ReadDurable("d/f"));
        Assert.Equal(DiskStatus.Ok, f.SyncNow());
        Assert.Equal([1, 2, 3, 4, 5], disk.ReadDurable("d/f"));
        Assert.Empty(disk.CompletePendingSyncs());
    }

    [Fact]
    public void A_crash_loses_unsynced_writes_and_truncations_and_invalidates_handles()
    {
        var disk = WithFile(out var f);
        f.Write(0, [1, 2, 3, 4]);
        f.SyncNow();
        f.Truncate(2);
        f.Write(2, [9]);
        f.RequestSync(1);
        disk.Crash();
        Assert.Throws<InvalidOperationException>(() => f.Length);
        Assert.Empty(disk.CompletePendingSyncs());
        using var g = disk.Open("d/f", create: false);
        var buffer = new byte[10];
        Assert.Equal(4, g.Read(0, buffer));
        Assert.Equal([1, 2, 3, 4], buffer[..4]);
        Assert.Equal(0, g.Read(4, buffer));
    }

    [Fact]
    public void A_crash_may_keep_any_prefix_of_an_appended_tail()
    {
        for (int keep = 3; keep <= 8; keep++)
        {
            var disk = WithFile(out var f);
            f.Write(0, [1, 2, 3]);
            f.SyncNow();
            f.Write(3, [4, 5, 6, 7, 8]);
            int k = keep;
            disk.Crash((_, durable, volatileLength) =>
            {
                Assert.Equal((3L, 8L), (durable, volatileLength));
                return k;
            });
            Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }[..keep], disk.ReadDurable("d/f"));
            Assert.Equal(disk.ReadDurable("d/f"), disk.ReadVolatile("d/f"));
        }
    }

    [Fact]
    public void Random_crashes_keep_sectors_of_the_tail_possibly_torn()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from durable in Gen.Choose(0, 3000)
                  from tail in Gen.Choose(1, 4000)
                  select (seed, durable, tail);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var (seed, durableLength, tailLength) = t;
            var disk = WithFile(out var f);
            var content = Enumerable.Range(0, durableLength + tailLength).Select(i => (byte)(i % 251 + 1)).ToArray();
            f.Write(0, content.AsSpan(0, durableLength));
            f.SyncNow();
            f.Write(durableLength, content.AsSpan(durableLength));
            disk.Crash(new SeededRandom((ulong)seed));
            var after = disk.ReadDurable("d/f");
            Assert.InRange(after.Length, durableLength, content.Length);
            Assert.Equal(content[..durableLength], after[..durableLength]);
            // Past the durable part: a prefix of the tail, then perhaps zeros to the end of one sector.
            int firstZero = Array.FindIndex(after, durableLength, b => b == 0);
            int intact = firstZero < 0 ? after.Length : firstZero;
            Assert.Equal(content[..intact], after[..intact]);
            Assert.All(after[intact..], b => Assert.Equal(0, b));
            if (intact < after.Length) Assert.True((after.Length - 1) / SimDisk.SectorSize == intact / SimDisk.SectorSize);
            bool sectorEnd = after.Length % SimDisk.SectorSize == 0 || after.Length == content.Length || after.Length == durableLength;
            Assert.True(sectorEnd || intact == after.Length, "a cut inside a sector is a tear");
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Lying_fsync_reports_success_and_persists_nothing()
    {
        var disk = WithFile(out var f);
        disk.LyingFsync = true;
        f.Write(0, [1]);
        Assert.Equal(DiskStatus.Ok, f.SyncNow());
        f.RequestSync(3);
        Assert.Equal([(3L, DiskStatus.Ok)], disk.CompletePendingSyncs());
        disk.Crash();
        Assert.Empty(disk.ReadDurable("d/f"));
    }

    [Fact]
    public void Capacity_and_fault_hook_fail_operations()
    {
        var disk = WithFile(out var f);
        disk.CapacityBytes = 10;
        Assert.Equal(DiskStatus.Ok, f.Write(0, new byte[8]));
        Assert.Equal(DiskStatus.NoSpace, f.Write(8, new byte[3]));
        Assert.Equal(8, f.Length);
        Assert.Equal(DiskStatus.Ok, f.Write(0, new byte[10]));
        f.Truncate(4);
        Assert.Equal(4, disk.UsedBytes);
        disk.FaultHook = (op, path) => op == SimDiskOperation.SyncNow && path == "d/f" ? DiskStatus.IoError : DiskStatus.Ok;
        Assert.Equal(DiskStatus.IoError, f.SyncNow());
        Assert.Empty(disk.ReadDurable("d/f"));
        disk.FaultHook = (op, _) => op == SimDiskOperation.SyncCompletion ? DiskStatus.IoError : DiskStatus.Ok;
        f.RequestSync(9);
        Assert.Equal([(9L, DiskStatus.IoError)], disk.CompletePendingSyncs());
        Assert.Empty(disk.ReadDurable("d/f"));
    }

    [Fact]
    public void Directory_operations_list_sorted_and_creations_are_durable_at_once()
    {
        var disk = new SimDisk();
        disk.CreateDirectory("root/b-1");
        disk.CreateDirectory("root/a-0");
        using (var f = disk.Open("root/a-0/x.tmp", create: true)) f.Write(0, [1]);
        using (var f = disk.Open("root/Z", create: true)) { }
        Assert.Equal(["Z", "a-0", "b-1"], disk.List("root"));
        disk.Rename("root/a-0/x.tmp", "root/a-0/x");
        Assert.Equal(["x"], disk.List("root/a-0"));
        Assert.Equal(1, disk.PendingDirectoryChanges > 0 ? 1 : 0);
        // A rename is durable only once its directory is synced: a crash before undoes it.
        disk.Crash();
        Assert.Equal(["x.tmp"], disk.List("root/a-0"));
        disk.Rename("root/a-0/x.tmp", "root/a-0/x");
        Assert.Equal(DiskStatus.Ok, disk.SyncDirectory("root/a-0"));
        Assert.Equal(0, disk.PendingDirectoryChanges);
        disk.Crash();
        Assert.True(disk.FileExists("root/a-0/x"));
        Assert.Equal(0, disk.Open("root/a-0/x", create: false).Length);
        disk.DeleteDirectory("root/a-0");
        Assert.False(disk.DirectoryExists("root/a-0"));
        Assert.False(disk.FileExists("root/a-0/x"));
        Assert.Equal(["Z", "b-1"], disk.List("root"));
        Assert.Empty(disk.List("missing"));
        Assert.Throws<InvalidOperationException>(() => disk.Open("missing/f", create: true));
        Assert.Throws<InvalidOperationException>(() => disk.Open("root/nothing", create: false));
    }

    [Fact]
    public void A_file_delete_is_undone_by_a_crash_before_the_directory_sync()
    {
        var disk = new SimDisk();
        disk.CreateDirectory("d");
        using (var f = disk.Open("d/seg", create: true))
        {
            f.Write(0, [1, 2, 3]);
            Assert.Equal(DiskStatus.Ok, f.SyncNow());
        }
        disk.DeleteFile("d/seg");
        Assert.False(disk.FileExists("d/seg"));
        disk.Crash();
        // Back, with its durable bytes.
        Assert.True(disk.FileExists("d/seg"));
        Assert.Equal(new byte[] { 1, 2, 3 }, disk.ReadDurable("d/seg"));
        disk.DeleteFile("d/seg");
        Assert.Equal(DiskStatus.Ok, disk.SyncDirectory("d"));
        disk.Crash();
        Assert.False(disk.FileExists("d/seg"));
    }
}
