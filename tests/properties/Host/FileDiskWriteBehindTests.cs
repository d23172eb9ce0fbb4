using System.Collections.Concurrent;
using DetKafka.Core.Abstractions;
using DetKafka.Host.Runtime;
using Xunit;

namespace DetKafka.Properties.Host;

/// <summary><see cref="FileDisk"/> with write-behind (io.model=loop-write-behind): writes return before the pwrite,
/// but the file reads as written and a sync covers every write asked before it.</summary>
public sealed class FileDiskWriteBehindTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "detkafka-wb-" + Path.GetRandomFileName());
    private readonly ConcurrentQueue<(long Token, DiskStatus Status)> _completed = new();
    private readonly FileDisk _disk;

    public FileDiskWriteBehindTests()
    {
        _disk = new FileDisk(_root, (token, status) => _completed.Enqueue((token, status)), syncThreads: 2, writeBehind: true);
    }

    public void Dispose()
    {
        _disk.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Reads_length_and_truncate_see_every_write_before_them()
    {
        using var f = _disk.Open("a.log", create: true);
        var expected = new List<byte>();
        var buffer = new byte[4096];
        for (int i = 0; i < 2000; i++)
        {
            var chunk = Enumerable.Range(0, 1 + i % 37).Select(j => (byte)(i + j)).ToArray();
            Assert.Equal(DiskStatus.Ok, f.Write(expected.Count, chunk));
            expected.AddRange(chunk);
            if (i % 97 == 0)
            {
                Assert.Equal(expected.Count, f.Length);
                int at = Math.Max(0, expected.Count - buffer.Length);
                int n = f.Read(at, buffer);
                Assert.Equal(expected.Count - at, n);
                Assert.Equal(expected.Skip(at).ToArray(), buffer[..n]);
            }
        }
        f.Truncate(100);
        Assert.Equal(100, f.Length);
        Assert.Equal(DiskStatus.Ok, f.SyncNow());
        Assert.Equal(expected.Take(100).ToArray(), File.ReadAllBytes(Path.Combine(_root, "a.log")));
    }

    [Fact]
    public void A_sync_completes_after_the_writes_asked_before_it_reached_the_file()
    {
        var files = Enumerable.Range(0, 4).Select(i => _disk.Open($"f{i}.log", create: true)).ToArray();
        var written = new long[files.Length];
        var seenAtCompletion = new ConcurrentDictionary<long, long>();
        // The callback runs on the file's sync thread once the fsync is done: everything written before the request
        // must be in the file by then (read past the FileDisk, straight from the file system).
        using var disk = new FileDisk(Path.Combine(_root, "second"), (token, status) =>
        {
            Assert.Equal(DiskStatus.Ok, status);
            seenAtCompletion[token] = new FileInfo(Path.Combine(_root, "second", $"g{token % 4}.log")).Length;
        }, syncThreads: 2, writeBehind: true);
        var gs = Enumerable.Range(0, 4).Select(i => disk.Open($"g{i}.log", create: true)).ToArray();
        var expectedAt = new Dictionary<long, long>();
        long token = 0;
        for (int round = 0; round < 200; round++)
        {
            for (int i = 0; i < gs.Length; i++)
            {
                var data = new byte[100 + round];
                Assert.Equal(DiskStatus.Ok, gs[i].Write(written[i], data));
                written[i] += data.Length;
                long t = token++ * 4 + i;
                expectedAt[t] = written[i];
                gs[i].RequestSync(t);
            }
        }
        disk.Dispose(); // waits for every queued write and sync
        Assert.Equal(expectedAt.Count, seenAtCompletion.Count);
        foreach (var (t, length) in expectedAt) Assert.True(seenAtCompletion[t] >= length, $"sync {t}: {seenAtCompletion[t]} < {length}");
        foreach (var g in gs) g.Dispose();
        foreach (var f in files) f.Dispose();
    }
}
