using System.Collections.Concurrent;
using DetKafka.Core.Abstractions;
using DetKafka.Host.Runtime;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Host;

public sealed class FileDiskTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "detkafka-disk-" + Path.GetRandomFileName());
    private readonly ConcurrentQueue<(long Token, DiskStatus Status)> _completed = new();
    private readonly FileDisk _disk;

    public FileDiskTests()
    {
        _disk = new FileDisk(_root, (token, status) => _completed.Enqueue((token, status)));
    }

    public void Dispose()
    {
        _disk.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Creates_its_root()
    {
        Assert.True(Directory.Exists(_root));
        Assert.True(_disk.DirectoryExists(""));
        Assert.Empty(_disk.List(""));
    }

    /// <summary>A read-ahead (cold read, STORAGE.md) runs on a read thread and reports through the sync callback, with
    /// its token; the file may be closed (a segment deleted) before it runs.</summary>
    [Fact]
    public void A_requested_read_completes_through_the_callback_even_when_the_file_is_closed_first()
    {
        var f = _disk.Open("cold.log", create: true);
        Assert.Equal(DiskStatus.Ok, f.Write(0, new byte[600_000]));
        long token = (1L << 62) + 7;
        f.RequestRead(0, 600_000, token);
        f.RequestRead(500_000, 200_000, token + 1); // past the end: reads what there is
        f.Dispose();
        for (int i = 0; i < 1_000 && _completed.Count < 2; i++) Thread.Sleep(10);
        var done = _completed.ToArray();
        Assert.Equal(2, done.Length);
        Assert.Contains((token, DiskStatus.Ok), done);
        Assert.Contains((token + 1, DiskStatus.Ok), done);
    }

    [Fact]
    public void Write_read_truncate()
    {
        _disk.CreateDirectory("t-0");
        using (var f = _disk.Open("t-0/00000000000000000000.log", create: true))
        {
            Assert.Equal(0, f.Length);
            Assert.Equal(DiskStatus.Ok, f.Write(0, "hello"u8));
            Assert.Equal(DiskStatus.Ok, f.Write(5, " world"u8));
            Assert.Equal(11, f.Length);
            var buffer = new byte[32];
            Assert.Equal(11, f.Read(0, buffer));
            Assert.Equal("hello world"u8.ToArray(), buffer[..11]);
            Assert.Equal(3, f.Read(8, buffer)); // fewer at end of file
            Assert.Equal(0, f.Read(100, buffer));
            f.Truncate(5);
            Assert.Equal(5, f.Length);
            Assert.Equal(DiskStatus.Ok, f.SyncNow());
        }
        Assert.True(_disk.FileExists("t-0/00000000000000000000.log"));
        Assert.Equal(5, new FileInfo(Path.Combine(_root, "t-0", "00000000000000000000.log")).Length);
        using var again = _disk.Open("t-0/00000000000000000000.log", create: false);
        Assert.Equal(5, again.Length);
    }

    [Fact]
    public void Writes_at_any_positions_read_back_as_a_model_byte_array()
    {
        var write = Gen.Zip(Gen.Choose(0, 5000), Gen.Choose(0, 300)).Select(t => (Position: t.Item1, Length: t.Item2));
        int run = 0;
        Prop.ForAll(Gen.ListOf(write).ToArbitrary(), writes =>
        {
            var model = new List<byte>();
            using var f = _disk.Open("model-" + run++, create: true);
            byte next = 1;
            foreach (var (position, length) in writes)
            {
                var data = new byte[length];
                for (int i = 0; i < length; i++) data[i] = next++;
                Assert.Equal(DiskStatus.Ok, f.Write(position, data));
                if (length == 0) continue; // an empty write does not extend the file
                while (model.Count < position + length) model.Add(0);
                for (int i = 0; i < length; i++) model[position + i] = data[i];
            }
            var actual = new byte[model.Count + 10];
            int read = f.Read(0, actual);
            return f.Length == model.Count && read == model.Count && actual[..read].SequenceEqual(model);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void List_is_sorted_ordinally_and_an_absent_directory_is_empty()
    {
        _disk.CreateDirectory("d");
        foreach (var name in new[] { "b", "a10", "B", "a9", "_x", "a" })
            _disk.Open("d/" + name, create: true).Dispose();
        _disk.CreateDirectory("d/sub");
        Assert.Equal(["B", "_x", "a", "a10", "a9", "b", "sub"], _disk.List("d"));
        Assert.Empty(_disk.List("nope"));
    }

    [Fact]
    public void Create_directory_makes_every_level()
    {
        _disk.CreateDirectory("a/b/c");
        Assert.True(_disk.DirectoryExists("a/b/c"));
        _disk.CreateDirectory("a/b/c"); // idempotent
        Assert.Equal(["b"], _disk.List("a"));
    }

    [Fact]
    public void Rename_replaces_the_target_and_removes_the_source()
    {
        using (var f = _disk.Open("meta.tmp", create: true)) f.Write(0, "new"u8);
        using (var f = _disk.Open("meta", create: true)) f.Write(0, "old-and-longer"u8);
        _disk.Rename("meta.tmp", "meta");
        Assert.False(_disk.FileExists("meta.tmp"));
        Assert.Equal("new", File.ReadAllText(Path.Combine(_root, "meta")));

        _disk.CreateDirectory("topic-0");
        _disk.Open("topic-0/x", create: true).Dispose();
        _disk.Rename("topic-0", "topic-0.deleted");
        Assert.Equal(["x"], _disk.List("topic-0.deleted"));
        Assert.False(_disk.DirectoryExists("topic-0"));
    }

    [Fact]
    public void Delete_file_and_directory_tree()
    {
        _disk.CreateDirectory("t/p");
        _disk.Open("t/p/f", create: true).Dispose();
        _disk.Open("g", create: true).Dispose();
        _disk.DeleteFile("g");
        Assert.False(_disk.FileExists("g"));
        _disk.DeleteDirectory("t");
        Assert.False(_disk.DirectoryExists("t"));
        Assert.Empty(_disk.List(""));
    }

    [Fact]
    public void Opening_a_missing_file_without_create_fails()
    {
        Assert.Throws<FileNotFoundException>(() => _disk.Open("missing", create: false));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a/./b")]
    [InlineData("a/")]
    public void Paths_cannot_leave_the_data_directory(string path)
    {
        Assert.Throws<ArgumentException>(() => _disk.FileExists(path));
    }

    [Fact]
    public void Each_requested_sync_completes_once_with_its_token()
    {
        var files = Enumerable.Range(0, 4).Select(i => _disk.Open("s" + i, create: true)).ToList();
        var tokens = new List<long>();
        var byFile = files.Select(_ => new List<long>()).ToList();
        for (int i = 0; i < 200; i++)
        {
            var f = files[i % files.Count];
            f.Write(f.Length, new byte[100]);
            long token = 1_000 + i * 7;
            tokens.Add(token);
            byFile[i % files.Count].Add(token);
            f.RequestSync(token);
        }
        // Closing a file right after asking for its sync must not lose the sync.
        foreach (var f in files) f.Dispose();
        Assert.True(SpinWait.SpinUntil(() => _completed.Count == tokens.Count, TimeSpan.FromSeconds(10)));
        var completed = _completed.Select(c => c.Token).ToList();
        Assert.Equal(tokens.Order(), completed.Order());
        // Files sync in parallel, but each file's syncs complete in the order they were asked for.
        foreach (var mine in byFile) Assert.Equal(mine, completed.Where(mine.Contains));
        Assert.All(_completed, c => Assert.Equal(DiskStatus.Ok, c.Status));
        Assert.True(SpinWait.SpinUntil(() => _disk.PendingSyncs == 0, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Dispose_finishes_the_syncs_already_requested()
    {
        var root = Path.Combine(Path.GetTempPath(), "detkafka-disk-" + Path.GetRandomFileName());
        var done = new ConcurrentQueue<long>();
        var disk = new FileDisk(root, (token, _) => done.Enqueue(token));
        try
        {
            using (var f = disk.Open("x", create: true))
            {
                for (int i = 0; i < 20; i++) f.RequestSync(i);
            }
            disk.Dispose();
            Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), done);
            Assert.Equal(0, disk.PendingSyncs);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void No_space_is_reported_as_NoSpace()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/dev/full")) return;
        // /dev/full fails every write with ENOSPC: reach it through a link inside the data directory.
        File.CreateSymbolicLink(Path.Combine(_root, "full"), "/dev/full");
        using var f = _disk.Open("full", create: false);
        Assert.Equal(DiskStatus.NoSpace, f.Write(0, new byte[10]));
    }

    [Fact]
    public void Io_errors_other_than_no_space_are_IoError()
    {
        Assert.Equal(DiskStatus.IoError, FileDisk.StatusOf(new IOException("EIO", 5)));
        Assert.Equal(DiskStatus.IoError, FileDisk.StatusOf(new UnauthorizedAccessException()));
        if (!OperatingSystem.IsWindows()) Assert.Equal(DiskStatus.NoSpace, FileDisk.StatusOf(new IOException("ENOSPC", 28)));
    }
}
